"""``engine="ray"``: the same batch as one Ray Data ``map_batches`` step.

The driver expands INPUTS into rows ``{seq, input, kind, message, done}``
(paths only — no pixels travel; unlike the local engine, this list of paths
is built in full on the driver), ``ray.data.from_items`` makes a dataset of
them, and :class:`Predictor` — a callable class, so each Ray actor loads the
model once — runs the shared per-item work of :mod:`edgekit._batch.work` on
each batch. A video is one row whose actor decodes it and returns one result
per kept frame. Order is preserved (``preserve_order``), and each result
travels back pickled, so the driver yields the same objects, in the same
order, as the local engine. Ray is imported here only (``edgekit-tflite[ray]``).
The paths must be readable by the workers (a shared file system on a cluster).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from ..errors import ExtraMissing
from .inputs import Entry, expand
from .work import Key, Result, run_sequential

__all__ = ["Predictor", "model_recipe", "run_ray"]

BATCH_ROWS = 16


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of ray
    except ImportError as exc:
        raise ExtraMissing('engine="ray"', "ray", "ray[data]") from exc
    return ray


def model_recipe(model: Any) -> tuple[bytes, dict[str, Any]]:
    """The model bytes and the :func:`edgekit.load` arguments that rebuild ``model`` in an actor."""
    if not hasattr(model, "invoke"):
        with open(model, "rb") as handle:
            return handle.read(), {}
    data = model.data
    info = model.info
    options = {k: v for k, v in asdict(model.options).items() if v is not None}
    kwargs = {"threads": info.threads, "backend": info.backend,
              "labels": list(model.labels) or None, **options}
    return data, kwargs


class Predictor:
    """The ``map_batches`` callable: loads the model once per actor, then maps batches.

    Args:
        data: The model bytes.
        load_kwargs: Arguments for :func:`edgekit.load`.
        every: Keep every N-th video frame.
        fast_decode: Decode JPEGs reduced when the model allows.
    """

    def __init__(self, data: bytes, load_kwargs: dict[str, Any], every: int,
                 fast_decode: bool = False) -> None:
        from ..model import load

        self._model = load(data, **load_kwargs)
        self._every = every
        self._fast = fast_decode

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seqs: list[int] = []
        blobs: list[bytes] = []
        for seq, path, kind, message, done in zip(batch["seq"], batch["input"], batch["kind"],
                                                  batch["message"], batch["done"]):
            entry = Entry(str(path), str(kind), str(message))
            skip_frames = {entry.path: frozenset(int(f) for f in done)} if len(done) else None
            for result in run_sequential(self._model, [entry], self._every, frozenset(),
                                         skip_frames, self._fast):
                seqs.append(int(seq))
                blobs.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        out_blobs = np.empty(len(blobs), dtype=object)
        out_blobs[:] = blobs
        return {"seq": np.asarray(seqs, dtype=np.int64), "result": out_blobs}


def _rows(entries: Iterable[Entry], skip: set[Key] | frozenset[Key],
          frames: dict[str, list[int]]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        if (entry.path, None) in skip:
            continue
        done = frames.get(entry.path, []) if entry.kind == "video" else []
        rows.append({"seq": len(rows), "input": entry.path, "kind": entry.kind,
                     "message": entry.message, "done": done})
    return rows


def run_ray(
    model: Any,
    inputs: Iterable[Any],
    *,
    every: int,
    list_file: str | None,
    workers: int | None,
    skip: set[Key] | frozenset[Key],
    address: str | None,
    fast_decode: bool = False,
) -> Iterator[Result]:
    """Run the batch as a Ray Data job; yield the results in input order.

    Raises:
        ExtraMissing: Ray (``ray[data]``) is not installed.
    """
    ray = _import_ray()
    data, load_kwargs = model_recipe(model)
    frames: dict[str, list[int]] = {}
    for path, frame in skip:
        if frame is not None:
            frames.setdefault(path, []).append(frame)
    rows = _rows(expand(inputs, list_file), skip, frames)
    return _iterate(ray, rows, data, load_kwargs, (every, fast_decode), workers or 2, address)


def _iterate(ray: Any, rows: list[dict[str, Any]], data: bytes, load_kwargs: dict[str, Any],
             settings: tuple[int, bool], actors: int, address: str | None) -> Iterator[Result]:
    if not rows:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True, logging_level=logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    dataset = ray.data.from_items(rows).map_batches(
        Predictor,
        batch_size=BATCH_ROWS,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_args=(data, load_kwargs, *settings),
        num_cpus=1,
    )
    for result_row in dataset.iter_rows():
        yield pickle.loads(result_row["result"])
