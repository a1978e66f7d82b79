"""The routes of ``edgekit serve`` (Starlette): ``POST /predict``, ``GET /healthz /model /metrics``.

``POST /predict`` takes one image as the raw body (JPEG or PNG; any content type
but multipart) and answers its row, or a ``multipart/form-data`` body with one
image per part and answers a list of rows in part order (a part that fails is an
error row there, ``{"input": name, "error": {...}}``, as in ``batch``). A single
image that fails is a ``400`` with the error. Options are query parameters
(``?top_k=3&score_threshold=0.5&classes=person,car``). Every answer carries
``X-Model-Sha256``: the model that produced it.

The body is read within the request's time (``408`` after it) and size (``413``),
the images are admitted into the pool all or none (``503`` with ``Retry-After``
when full), and the whole request answers within its time (``504`` after it;
images not started by then are dropped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import EdgekitError, InputError
from ..model import Model
from ..options import PredictOptions
from .answers import HttpProblem, error_body, json_response, problem_response
from .jobs import parse_options, run_image
from .limits import ServeLimits
from .metrics import ServeMetrics
from .pool import InferencePool
from .uploads import Upload, split_multipart

__all__ = ["ServeApp"]

log = logging.getLogger("edgekit.serve")

RETRY_AFTER_S = "1"


class ServeApp:
    """The routes over one pool. :attr:`asgi` is the application (with the access guard).

    Args:
        pool: The interpreters.
        limits: The bounds.
        options: The model's options (the query's override them per request).
        metrics: Where answers are counted.
        lifespan: Starlette lifespan (the server's housekeeping).
    """

    def __init__(self, pool: InferencePool, limits: ServeLimits, options: PredictOptions,
                 metrics: ServeMetrics, *, token: str | None, host: str,
                 lifespan: Callable[[Any], Any] | None = None) -> None:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.middleware import Middleware
        from starlette.routing import Route

        from .guard import Guard

        self.pool, self.limits, self.options, self.metrics = pool, limits, options, metrics
        routes = [Route("/predict", self.predict, methods=["POST"]),
                  Route("/healthz", self.healthz, methods=["GET"]),
                  Route("/model", self.model, methods=["GET"]),
                  Route("/metrics", self.scrape, methods=["GET"])]
        self.asgi = Starlette(routes=routes, lifespan=lifespan,
                              middleware=[Middleware(Guard, token=token, host=host, metrics=metrics)],
                              exception_handlers={HTTPException: self._http_error})

    @property
    def current(self) -> Model:
        return self.pool.current.model

    # -- POST /predict -------------------------------------------------------------------
    async def predict(self, request: Any) -> Any:
        deadline = time.monotonic() + self.limits.timeout
        try:
            options = parse_options(request.query_params.multi_items(), self.options)
            body = await self._body(request, deadline)
            content_type = request.headers.get("content-type", "")
            multipart = content_type.lower().startswith("multipart/")
            uploads = split_multipart(body, content_type, self.limits.max_images) if multipart \
                else [Upload(body)]
            outcomes = await self._run(uploads, options, deadline)
        except HttpProblem as problem:
            return self._problem(request, problem)
        except EdgekitError as exc:  # a bad query: ConfigError
            return self._problem(request, HttpProblem(400, type(exc).__name__, str(exc)))
        sha = next((o[1] for o in outcomes if isinstance(o, tuple)), self.pool.current.sha256)
        headers = {"X-Model-Sha256": sha}
        if multipart:
            return json_response([self._row(u, o, request) for u, o in zip(uploads, outcomes)], 200, headers)
        outcome = outcomes[0]
        if isinstance(outcome, tuple):
            return json_response(outcome[0], 200, headers)
        return self._problem(request, self._as_problem(outcome), headers)

    async def _body(self, request: Any, deadline: float) -> bytes:
        from starlette.requests import ClientDisconnect

        limit = self.limits.max_body
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise HttpProblem(400, "BadRequest", f"Content-Length {declared!r} is not a number")
            if int(declared) > limit:
                raise HttpProblem(413, "BodyTooLarge",
                                  f"the body is {declared} bytes, more than the {limit} allowed")

        async def read() -> bytes:
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise HttpProblem(413, "BodyTooLarge", f"the body is more than the {limit} bytes allowed")
            return bytes(body)

        try:
            return await asyncio.wait_for(read(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise HttpProblem(408, "RequestTimeout",
                              f"the body did not arrive within {self.limits.timeout:g} s") from None
        except ClientDisconnect:
            raise HttpProblem(499, "ClientDisconnected", "the client went away during the body") from None

    async def _run(self, uploads: list[Upload], options: PredictOptions, deadline: float) -> list[Any]:
        if not self.pool.admit(len(uploads)):
            raise HttpProblem(503, "Overloaded",
                              f"{self.pool.waiting} images are waiting already; try again shortly",
                              {"Retry-After": RETRY_AFTER_S})
        admitted, limits = time.perf_counter(), self.limits
        futures = [asyncio.wrap_future(self.pool.submit(
            lambda model, u=u: run_image(model, u, options, limits, admitted))) for u in uploads]
        try:
            outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True),
                                              max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:  # the images not started yet are cancelled with the gather
            raise HttpProblem(504, "Timeout",
                              f"no answer within {self.limits.timeout:g} s (the server is busy)") from None
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                spent = outcome[0]["latency_ms"]
                self.metrics.images.inc()
                self.metrics.image_time.observe((spent["pre"] + spent["invoke"] + spent["post"]) / 1e3)
        return outcomes

    def _as_problem(self, error: BaseException) -> HttpProblem:
        if isinstance(error, HttpProblem):
            return error
        if isinstance(error, InputError):
            return HttpProblem(400, type(error).__name__, str(error))
        if isinstance(error, EdgekitError):  # the model failed on a good image
            return HttpProblem(500, type(error).__name__, str(error))
        log.error("serve: %s: %s", type(error).__name__, error, exc_info=error)
        return HttpProblem(500, "InternalError", f"{type(error).__name__}: {error}")

    def _row(self, upload: Upload, outcome: Any, request: Any) -> dict[str, Any]:
        if isinstance(outcome, tuple):
            return outcome[0]
        problem = self._as_problem(outcome)
        request.state.error = problem.kind  # counted once per request, by its last failed part
        return {"input": upload.name, **error_body(problem.kind, problem.message)}

    def _problem(self, request: Any, problem: HttpProblem, headers: dict[str, str] | None = None) -> Any:
        request.state.error = problem.kind
        if headers:
            problem.headers = {**headers, **problem.headers}
        return problem_response(problem)

    async def _http_error(self, request: Any, exc: Any) -> Any:
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        message = f"no route {request.url.path}; the routes are POST /predict, GET /healthz /model /metrics" \
            if exc.status_code == 404 else f"{request.method} {request.url.path}: {exc.detail}"
        return self._problem(request, HttpProblem(exc.status_code, kind, message,
                                                  dict(exc.headers or {})))

    # -- GET routes ---------------------------------------------------------------------
    async def healthz(self, request: Any) -> Any:
        return json_response({"status": "ok", "model": self.pool.current.sha256,
                              "replicas": self.pool.current.count, "running": self.pool.running,
                              "waiting": self.pool.waiting})

    async def model(self, request: Any) -> Any:
        """What ``edgekit inspect`` says about the model being served (``?format=text``: its summary)."""
        from starlette.responses import PlainTextResponse

        from .._tools.inspection import render_info

        info = self.current.info
        if request.query_params.get("format") == "text":
            serving = [{"backend": info.backend, "version": info.backend_version, "ok": True, "error": None}]
            return PlainTextResponse(render_info(info, serving) + "\n")
        return json_response(info.to_dict(), 200, {"X-Model-Sha256": info.sha256})

    async def scrape(self, request: Any) -> Any:
        from starlette.responses import Response

        body, content_type = self.metrics.render()
        return Response(body, 200, media_type=content_type)
