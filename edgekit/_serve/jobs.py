"""One image through one interpreter, and the per-request options of ``POST /predict``.

A job runs on a pool worker: decode (after the header check), pre-process, invoke,
post-process with the request's options. Its row is the one ``edgekit predict
--json`` prints for the same file (``input`` is the multipart part's name), with
``latency_ms.age`` the time the image waited for an interpreter and ``pre`` the
decode and pre-processing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from .._batch.decode import rescale_transform
from ..errors import ConfigError
from ..model import Model
from ..options import PredictOptions
from ..results import Latency, Prediction
from .limits import ServeLimits
from .uploads import Upload, decode_upload

__all__ = ["QUERY_OPTIONS", "parse_options", "run_image"]

# Query parameters of POST /predict: the options that act after invoke, and their types.
QUERY_OPTIONS: dict[str, type] = {"top_k": int, "score_threshold": float, "iou_threshold": float,
                                  "max_detections": int, "classes": str}
IGNORED = ("token",)  # read by the access check


def parse_options(query: Iterable[tuple[str, str]], base: PredictOptions) -> PredictOptions:
    """``base`` with the query's options (``?top_k=3&classes=person,car``).

    Raises:
        ConfigError: An unknown parameter, a value of the wrong type, or one out of range.
    """
    changes: dict[str, Any] = {}
    for key, value in query:
        if key in IGNORED:
            continue
        kind = QUERY_OPTIONS.get(key)
        if kind is None:
            raise ConfigError(f"unknown query parameter {key!r}; the options are {', '.join(QUERY_OPTIONS)}")
        if key in changes:
            raise ConfigError(f"query parameter {key!r} is given twice")
        try:
            changes[key] = kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{key} must be {what}, got {value!r}") from None
    return dataclasses.replace(base, **changes) if changes else base


def run_image(model: Model, upload: Upload, options: PredictOptions, limits: ServeLimits,
              admitted: float) -> tuple[dict[str, Any], str]:
    """Run ``upload`` through ``model``: its JSON row, and the SHA-256 of the model that ran it.

    Args:
        admitted: ``time.perf_counter()`` when the image was admitted (for ``age``).

    Raises:
        InputError: The image cannot be decoded or used.
        HttpProblem: 413, the image has more than ``limits.max_pixels`` pixels.
    """
    started = time.perf_counter()
    image, original = decode_upload(upload, model.input_format, limits.max_pixels, limits.fast_decode)
    tensor, transform = model.preprocess(image)
    if original is not None:  # decoded reduced: boxes in the upload's own pixels all the same
        transform = rescale_transform(transform, *original)
    t1 = time.perf_counter()
    outputs = model.invoke(tensor)
    t2 = time.perf_counter()
    pred = model.postprocess(outputs, transform, options)
    t3 = time.perf_counter()
    latency = Latency(pre=(t1 - started) * 1e3, invoke=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3,
                      age=(started - admitted) * 1e3)
    row = Prediction(pred.task, pred.classes, pred.detections, pred.tensors, latency, upload.name)
    return row.to_dict(), model.info.sha256
