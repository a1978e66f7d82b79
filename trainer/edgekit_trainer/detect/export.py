"""Detector RUN folder → self-describing ``.tflite``, behind a parity gate in mAP points.

The exported graph ends in :class:`~.model.DecodeHead`: one output ``[1, 4+C, N]``
(YOLOv8 layout; boxes ``xywh`` normalized to the input, class probabilities).
The edgekit metadata declares all of it — task, labels, RGB input, letterbox
resize, and ``detection: {layout, boxes, coords}`` — so ``edgekit predict`` and
``run`` need no options and nothing is guessed from the values. Every variant
is run through the edgekit runtime on the validation images and scored with
pycocotools against the Keras model; with ``max_drop``, a variant losing more
mAP@0.5 points fails the export and nothing is written.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._evaluate.metrics import percentile
from edgekit._modelfile.metadata import ModelMetadata, embed
from edgekit.errors import ConfigError, ModelIncompatible

from .. import quantize as q
from ..errors import ParityFailed
from ..exporter import ExportConfig, _write, compatibility, portable_command
from ..rundir import RunFolder, open_run
from .data import DetectionSplit, decode_split, read_dataset
from .model import with_decoder
from .scoring import keras_scores, runtime_scores
from .targets import STRIDES

__all__ = ["DETECTION_HINTS", "DetectExportConfig", "DetectParity", "ExportedDetector", "check_parity", "export"]

DETECTION_HINTS = {"layout": "yolov8:xywh:normalized", "boxes": "xywh", "coords": "normalized",
                   "scores": "probabilities", "strides": list(STRIDES)}


@dataclass(frozen=True, slots=True)
class DetectExportConfig(ExportConfig):
    """What ``edgekit export`` accepts for a detector RUN: :class:`edgekit_trainer.ExportConfig`'s
    fields and checks, with ``max_drop`` in mAP@0.5 points (0..100); ``force`` (the classifier's
    chance guard) does not apply.
    """


@dataclass(frozen=True, slots=True)
class DetectParity:
    """Keras (float) vs the exported file run by the edgekit runtime, on the validation images."""

    samples: int
    float_map50: float
    float_map: float
    quant_map50: float
    quant_map: float
    per_class_delta: dict[str, float] = field(default_factory=dict)
    latency_ms_p50: float = 0.0

    @property
    def drop_points(self) -> float:
        """mAP@0.5 points the export lost (negative: it gained)."""
        return (self.float_map50 - self.quant_map50) * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"split": "val", "samples": self.samples, "metric": "map50",
                "float_map50": round(self.float_map50, 5), "quantized_map50": round(self.quant_map50, 5),
                "float_map": round(self.float_map, 5), "quantized_map": round(self.quant_map, 5),
                "drop_points": round(self.drop_points, 3),
                "per_class_delta_points": {k: round(v, 3) for k, v in self.per_class_delta.items()},
                "latency_ms_p50": round(self.latency_ms_p50, 4)}


@dataclass(frozen=True, slots=True)
class ExportedDetector:
    """One written ``.tflite`` and what the gate measured on it."""

    quantize: str
    io: str
    path: Path
    size: int
    parity: DetectParity
    backends: dict[str, dict[str, Any]]
    note: str = ""


def metadata_for(run: RunFolder, quantize: str, io: str, parity: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> ModelMetadata:
    """The edgekit metadata of a detector exported from ``run``."""
    prov, cfg = run.provenance, run.provenance.get("config", {})
    extra = dict(extra or {})
    return ModelMetadata(
        task="detect", labels=run.labels, color="rgb", resize="letterbox", mean=(0.0,) * 3, std=(1.0,) * 3,
        activation="none", detection=dict(DETECTION_HINTS),
        quantization={"mode": quantize, "io": io, **extra.pop("quantization", {})},
        provenance={
            "trainer": "edgekit", "task": "detect", "backbone": cfg.get("backbone"), "input_size": run.spec.size,
            "alpha": cfg.get("alpha"), "weights": cfg.get("weights"), "seed": prov.get("seed"),
            "dataset_fingerprint": prov.get("dataset", {}).get("fingerprint"),
            "objects": prov.get("dataset", {}).get("objects"), "versions": prov.get("versions"),
            "command": portable_command(prov.get("command")), "val_map50_keras": prov.get("val_map50"),
            "trained": prov.get("created"),
        },
        parity=parity or {}, extra=extra,
    )


def _splits(run: RunFolder, config: DetectExportConfig) -> tuple[DetectionSplit, DetectionSplit]:
    """The validation split and the calibration images, re-read from the dataset."""
    root = Path(config.data or run.split["root"])
    ds = read_dataset(root)
    by_path = {Path(s.image).resolve(): s for samples in ds.splits.values() for s in samples}

    def pick(rel: list[str]) -> list[Any]:
        found = [by_path.get((root / r).resolve()) for r in rel]
        missing = [r for r, s in zip(rel, found) if s is None]
        if missing:
            raise ConfigError(f"{root}: {len(missing)} images of the run's split are no longer in the dataset "
                              f"(first: {missing[0]}); pass the dataset with --data")
        return found

    val = decode_split(pick(run.split["val"]), run.spec.size)
    train = pick(run.split["train"])
    chosen = np.random.default_rng(int(run.provenance.get("seed", 0))).permutation(len(train))[:config.calib]
    return val, decode_split([train[i] for i in sorted(chosen)], run.spec.size)


def _one(traced: str, run: RunFolder, variant: str, config: DetectExportConfig, val: DetectionSplit,
         calib: DetectionSplit, reference: Any) -> tuple[bytes, DetectParity, dict[str, Any]]:
    io = config.io if variant == "int8" else "float32"
    rep = q.representative(calib.images) if variant == "int8" else None
    raw = q.convert(traced, variant, io, rep)
    scores, latencies = runtime_scores(embed(raw, metadata_for(run, variant, io)), val, run.labels,
                                       threads=config.threads)
    deltas = {c.label: (c.ap50 - f.ap50) * 100 for c, f in zip(scores.per_class, reference.per_class)
              if c.ap50 is not None and f.ap50 is not None}
    parity = DetectParity(len(val), reference.map50, reference.map, scores.map50, scores.map, deltas,
                          percentile(latencies, 50))
    with warnings.catch_warnings():  # tf.lite.Interpreter announces its deprecation on every load
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
        backends = compatibility(raw, val.images[0])
    if not backends.get("litert", {}).get("ok", True):
        raise ModelIncompatible(f"ai-edge-litert cannot run the {variant} export: {backends['litert']['error']}")
    return embed(raw, metadata_for(run, variant, io, parity.to_dict(), {"compatibility": backends})), parity, backends


def check_parity(parities: dict[str, DetectParity], max_drop: float | None) -> None:
    """The gate: every variant keeps its mAP@0.5 within ``max_drop`` points of the float model.

    Raises:
        ParityFailed: naming each variant that lost more, with both mAPs.
    """
    failed = [(v, p) for v, p in parities.items() if max_drop is not None and p.drop_points > max_drop]
    if failed:
        detail = ", ".join(f"{v} mAP@0.5 {p.quant_map50:.3f} vs float {p.float_map50:.3f} "
                           f"(-{p.drop_points:.2f} points)" for v, p in failed)
        raise ParityFailed(f"mAP dropped more than --max-drop {max_drop:g} points: {detail}; no file written")


def export(config: DetectExportConfig, log: Any = None) -> tuple[ExportedDetector, ...]:
    """Export a detector RUN folder as ``.tflite`` file(s), gated on mAP parity with Keras.

    Raises:
        ModelNotFound: the RUN folder is incomplete.
        ConfigError: the RUN folder is not a detector's, or its images moved.
        ParityFailed: a variant lost more than ``config.max_drop`` mAP@0.5 points (nothing is written).
        ModelIncompatible: ai-edge-litert cannot run the result (nothing is written).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    run = open_run(config.run)
    if run.provenance.get("task") != "detect":
        raise ConfigError(f"{config.run}: not a detector run (its task is "
                          f"{run.provenance.get('task', 'classify')})")
    say = log or (lambda _msg: None)
    decoded = with_decoder(keras.models.load_model(run.model_path, compile=False), run.spec.size)
    val, calib = _splits(run, config)
    reference = keras_scores(decoded, val, run.labels)
    done = []
    with q.saved_model(decoded) as traced:
        for variant in config.variants:
            say(f"converting {variant} and scoring it through the edgekit runtime on {len(val)} images")
            done.append((variant, *_one(traced, run, variant, config, val, calib, reference)))
    check_parity({v: p for v, _, p, _ in done}, config.max_drop)
    folder = Path(config.out) if config.out and config.quantize == "all" else run.path
    out = []
    for variant, data, parity, backends in done:
        path = Path(config.out) if config.out and config.quantize != "all" else folder / f"model_{variant}.tflite"
        _write(path, data)
        io = config.io if variant == "int8" else "float32"
        out.append(ExportedDetector(variant, io, path, len(data), parity, backends, q.NOTES.get(variant, "")))
    return tuple(out)


def render_table(models: tuple[ExportedDetector, ...]) -> str:
    """The comparison table ``export`` prints for detectors."""
    head = f"{'variant':<9} {'size KB':>8} {'mAP50':>7} {'d pts':>6} {'mAP':>7} {'p50 ms':>7}  backends"
    lines = [head, "-" * len(head)]
    for m in models:
        ok = ",".join(f"{k}{'' if v['ok'] else ' NO'}" for k, v in m.backends.items())
        p = m.parity
        lines.append(f"{m.quantize:<9} {m.size / 1024:>8.1f} {p.quant_map50:>7.4f} {-p.drop_points:>+6.2f} "
                     f"{p.quant_map:>7.4f} {p.latency_ms_p50:>7.2f}  {ok}")
    ref = models[0].parity
    lines.append(f"float (Keras) on {ref.samples} validation images: mAP@0.5 {ref.float_map50:.4f}, "
                 f"mAP@0.5:0.95 {ref.float_map:.4f}; d pts = exported minus float (mAP@0.5 points), "
                 "through the edgekit runtime on this machine")
    lines += [f"note: {m.quantize}: {m.note}" for m in models if m.note]
    return "\n".join(lines)
