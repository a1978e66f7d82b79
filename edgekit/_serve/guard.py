"""The outer layer of every request: who may ask (:mod:`edgekit.sinks.access`), and what it cost.

A pure ASGI middleware in front of the routes:

- without a token, a ``Host`` that does not name this machine gets ``403 UnknownHost``
  (DNS rebinding); with one, a request without it gets ``401 TokenRequired`` and one
  with another ``403 WrongToken`` (compared in constant time);
- every answer is counted in the metrics: route, status, time, and the error type
  the handler put in the request's state.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from ..sinks.access import bearer_token, host_allowed, token_matches, trusted_hosts
from .answers import HttpProblem, problem_response
from .metrics import ServeMetrics

__all__ = ["ROUTES", "Guard"]

ROUTES = ("/predict", "/healthz", "/model", "/metrics")
Scope = dict[str, Any]


class Guard:
    """ASGI middleware: access check, then the app; every answer observed in ``metrics``."""

    def __init__(self, app: Any, *, token: str | None, host: str, metrics: ServeMetrics) -> None:
        self.app = app
        self.token = token
        self.trusted = trusted_hosts(host)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]
        state = scope.setdefault("state", {})

        async def observed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            problem = self._refusal(scope)
            if problem is not None:
                state["error"] = problem.kind
                await problem_response(problem)(scope, receive, observed_send)
                return
            await self.app(scope, receive, observed_send)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"
            self.metrics.observe(route, status[0] or 499, time.perf_counter() - started,
                                 state.get("error"))

    def _refusal(self, scope: Scope) -> HttpProblem | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is None:
            if not host_allowed(headers.get("host"), self.trusted):
                return HttpProblem(403, "UnknownHost", "unknown Host: use this machine's address")
            return None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = bearer_token(query.get("token"), headers.get("authorization"))
        if given is None:
            return HttpProblem(401, "TokenRequired", "this server needs its token: "
                               "Authorization: Bearer TOKEN, or ?token=TOKEN",
                               {"WWW-Authenticate": 'Bearer realm="edgekit"'})
        if not token_matches(given, self.token):
            return HttpProblem(403, "WrongToken", "wrong token")
        return None

