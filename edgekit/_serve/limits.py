"""What one ``edgekit serve`` accepts: sizes, counts and times, validated once.

Every request is bounded before it costs anything: the body by its length (the
``Content-Length`` header first, then the bytes as they arrive), each image by
the pixel count its header declares (read before a single pixel is decoded), the
images per request, the time per request, the connections, and the work waiting
for an interpreter (beyond it: ``503`` with ``Retry-After``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["ServeLimits"]


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """The server's bounds (``None``: the default for this machine).

    Attributes:
        replicas: Interpreters that run requests in parallel (default: enough
            ``threads``-thread interpreters to fill the cores, as ``batch`` does).
        queue: Images that may wait for an interpreter (default: 4 per replica).
        max_body: Bytes in a request body.
        max_pixels: Pixels in one image (width × height from its header).
        max_images: Images in one multipart request.
        timeout: Seconds for one request, from its first byte to its answer.
        max_connections: Open connections (more get ``503`` from the HTTP layer).
        fast_decode: Decode JPEGs reduced (1/2, 1/4, 1/8) when the model's input is
            that small: several times faster, scores within a little of ``predict``'s.
    """

    replicas: int | None = None
    queue: int | None = None
    max_body: int = 8_000_000
    max_pixels: int = 16_000_000
    max_images: int = 16
    timeout: float = 10.0
    max_connections: int = 64
    fast_decode: bool = False
    threads: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("replicas", "queue"):
            value = getattr(self, name)
            if value is not None and value < (1 if name == "replicas" else 0):
                raise ConfigError(f"{name} must be at least {1 if name == 'replicas' else 0}, got {value}")
        for name in ("max_body", "max_pixels", "max_images", "max_connections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 s, got {self.timeout}")
        if self.replicas is None:
            from .._batch.engine import default_interpreters

            object.__setattr__(self, "replicas", default_interpreters(self.threads))
        if self.queue is None:
            object.__setattr__(self, "queue", 4 * self.replicas)  # type: ignore[operator]
