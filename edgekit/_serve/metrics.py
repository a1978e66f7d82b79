"""``GET /metrics``: the server's counters in the Prometheus text format (``prometheus_client``).

A registry of its own (not the library's global one), so that two servers in one
process, or a test, never mix their counts:

- ``edgekit_requests_total{route,status}`` and ``edgekit_request_duration_seconds{route}``;
- ``edgekit_errors_total{type}``: error answers by type (``ImageUnreadable``, ``Overloaded`` …);
- ``edgekit_images_total`` and ``edgekit_image_seconds``: images run, and the time of each
  (decode, pre-process, invoke, post-process);
- ``edgekit_queue_waiting`` / ``edgekit_images_running`` / ``edgekit_replicas``: the pool now;
- ``edgekit_model_info{sha256,source,task,backend}``: the model being served;
- ``edgekit_model_updates_total{result}``: live updates, ``changed`` or ``rejected``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._modelfile.specs import ModelInfo

__all__ = ["ServeMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServeMetrics:
    """The counters of one server.

    Args:
        waiting, running: Read at each scrape (the pool's gauges).
        replicas: Interpreters per model.
    """

    def __init__(self, waiting: Callable[[], float], running: Callable[[], float], replicas: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("edgekit_requests", "HTTP requests answered.", ["route", "status"],
                                registry=reg)
        self.latency = Histogram("edgekit_request_duration_seconds", "Time to answer a request.",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=reg)
        self.errors = Counter("edgekit_errors", "Error answers, by type.", ["type"], registry=reg)
        self.images = Counter("edgekit_images", "Images run through the model.", registry=reg)
        self.image_time = Histogram("edgekit_image_seconds",
                                    "Decode, pre-process, invoke and post-process of one image.",
                                    buckets=LATENCY_BUCKETS, registry=reg)
        Gauge("edgekit_queue_waiting", "Images waiting for an interpreter.",
              registry=reg).set_function(waiting)
        Gauge("edgekit_images_running", "Images being run now.", registry=reg).set_function(running)
        Gauge("edgekit_replicas", "Interpreters per model.", registry=reg).set(replicas)
        self.model = Info("edgekit_model", "The model being served.", registry=reg)
        self.updates = Counter("edgekit_model_updates", "Live model updates, by result.", ["result"],
                               registry=reg)

    def observe(self, route: str, status: int, seconds: float, error: str | None = None) -> None:
        """Count one answered request (and its error type)."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if error is not None:
            self.errors.labels(error).inc()

    def set_model(self, info: ModelInfo) -> None:
        """Show ``info`` as the model being served."""
        self.model.info({"sha256": info.sha256, "source": info.source, "task": info.task,
                         "backend": info.backend})

    def render(self) -> tuple[bytes, str]:
        """The text of a scrape and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def sample(self, name: str, labels: dict[str, str] | None = None) -> Any:
        """One sample's value (``None`` when absent): for the summary line and tests."""
        return self.registry.get_sample_value(name, labels or {})
