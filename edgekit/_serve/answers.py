"""How the server answers: strict JSON bodies, and every answer other than 200 in one shape.

An error answer is ``{"error": {"type": ..., "message": ...}}``, the shape ``batch``
writes for an item that failed: ``type`` is the edgekit error's name when one
caused it (``ImageUnreadable``, ``ConfigError``), else the server's own
(``BodyTooLarge``, ``ImageTooLarge``, ``TooManyImages``, ``Overloaded``,
``RequestTimeout``, ``Timeout``, ``TokenRequired``, ``WrongToken``, ``UnknownHost``,
``NotFound``, ``MethodNotAllowed``, ``BadRequest``, ``InternalError``).
"""

from __future__ import annotations

from typing import Any

from .._jsonout import dumps

__all__ = ["HttpProblem", "error_body", "json_response", "problem_response"]


class HttpProblem(Exception):  # noqa: N818 - an answer, not an error of edgekit's tree
    """An answer other than 200, raised inside the server and turned into a response in one
    place (never seen by a caller of edgekit)."""

    def __init__(self, status: int, kind: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.headers = headers or {}


def error_body(kind: str, message: str) -> dict[str, Any]:
    """``{"error": {"type": kind, "message": message}}``."""
    return {"error": {"type": kind, "message": message}}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A Starlette response holding ``body`` as strict JSON (non-finite numbers as ``null``)."""
    from starlette.responses import Response

    return Response(dumps(body).encode("utf-8"), status, headers, media_type="application/json")


def problem_response(problem: HttpProblem) -> Any:
    """The response of ``problem``."""
    return json_response(error_body(problem.kind, problem.message), problem.status, problem.headers)
