"""RUN folder → self-describing ``.tflite`` (one or all four precisions), behind a parity gate.

For every variant: convert, embed the edgekit metadata, run the file through the
edgekit runtime over the validation split, compare with the Keras model, record
which installed interpreter backends can run it, then embed the final metadata
(with the parity report). Files are written only once every variant has passed
the gate, each atomically.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._evaluate.metrics import ChanceCheck, chance_check
from edgekit._modelfile.metadata import ModelMetadata, embed
from edgekit.errors import ConfigError, EdgekitError, ModelIncompatible

from . import quantize as q
from .data import Split, read_split
from .errors import ChanceLevel, ParityFailed
from .parity import ParityReport, as_bgr, compare, runtime_probs
from .rundir import RunFolder, open_run

__all__ = ["ExportConfig", "ExportedModel", "export", "metadata_for", "render_table"]


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """What ``edgekit export`` accepts.

    Attributes:
        run: The RUN folder written by ``edgekit train``.
        quantize: ``float32``, ``float16``, ``dynamic``, ``int8`` or ``all``.
        io: Input/output type of int8 models: ``uint8`` (default), ``int8`` or ``float32``.
        calib: Calibration images for int8 (stratified from the training split).
        out: Output file (a folder with ``all``); default ``RUN/model_<quantize>.tflite``.
        max_drop: Fail when exported accuracy is more than this many points below float.
        data: Dataset folder, when it moved since training (default: the recorded one).
        threads: Interpreter threads for the parity run.
        force: Write a model even when it is not clearly above the majority-class rate.
    """

    run: str
    quantize: str = "int8"
    io: str = "uint8"
    calib: int = 200
    out: str | None = None
    max_drop: float | None = None
    data: str | None = None
    threads: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.quantize not in (*q.QUANTIZATIONS, "all"):
            raise ConfigError(f"quantize {self.quantize!r} is not one of {', '.join(q.QUANTIZATIONS)}, all")
        if self.io not in q.IO_TYPES:
            raise ConfigError(f"io {self.io!r} is not one of {', '.join(q.IO_TYPES)}")
        if self.calib < 1:
            raise ConfigError(f"calib must be at least 1, got {self.calib}")

    @property
    def variants(self) -> tuple[str, ...]:
        return q.QUANTIZATIONS if self.quantize == "all" else (self.quantize,)


@dataclass(frozen=True, slots=True)
class ExportedModel:
    """One written ``.tflite`` and what the gate measured on it."""

    quantize: str
    io: str
    path: Path
    size: int
    parity: ParityReport
    backends: dict[str, dict[str, Any]]
    note: str = ""


def _paths(config: ExportConfig, run: RunFolder) -> dict[str, Path]:
    if config.quantize == "all":
        folder = Path(config.out) if config.out else run.path
        return {v: folder / f"model_{v}.tflite" for v in config.variants}
    default = run.path / f"model_{config.quantize}.tflite"
    return {config.quantize: Path(config.out) if config.out else default}


def portable_command(command: Any) -> list[str] | None:
    """The training command line without the build machine's folders (the file travels).

    An absolute path keeps its last component (``/home/ann/data/digits`` → ``digits``),
    also after ``--option=``.
    """
    if not isinstance(command, list | tuple):
        return None

    def strip(arg: str) -> str:
        option, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
        if os.path.isabs(value):
            value = os.path.basename(value.rstrip("/\\")) or value
        return f"{option}{eq}{value}"

    return [strip(str(arg)) for arg in command]


def metadata_for(run: RunFolder, quantize: str, io: str, parity: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> ModelMetadata:
    """The edgekit metadata of a model exported from ``run``."""
    prov = run.provenance
    cfg = prov.get("config", {})
    channels = run.spec.channels
    return ModelMetadata(
        task="classify", labels=run.labels, color=run.spec.color, resize=run.spec.resize,
        mean=(0.0,) * channels, std=(1.0,) * channels, activation="none",
        quantization={"mode": quantize, "io": io if quantize == "int8" else "float32",
                      **(extra or {}).get("quantization", {})},
        provenance={
            "trainer": "edgekit", "backbone": cfg.get("backbone"), "input_size": run.spec.size,
            "alpha": cfg.get("alpha"), "weights": cfg.get("weights"), "seed": prov.get("seed"),
            "dataset_fingerprint": prov.get("dataset", {}).get("fingerprint"),
            "class_counts": prov.get("dataset", {}).get("counts"),
            "versions": prov.get("versions"), "command": portable_command(prov.get("command")),
            "val_accuracy_keras": prov.get("val_accuracy"), "trained": prov.get("created"),
        },
        parity=parity or {},
        extra={k: v for k, v in (extra or {}).items() if k != "quantization"},
    )


def _probe_child(model: bytes, backend: str) -> dict[str, Any]:
    """Try a backend in a child process (a native crash must not end the export)."""
    with tempfile.NamedTemporaryFile(suffix=".tflite") as tmp:
        tmp.write(model)
        tmp.flush()
        cmd = [sys.executable, "-m", "edgekit._tools.inspection", tmp.name, backend]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": "timed out"}
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if not lines:
        return {"ok": False, "error": f"the interpreter crashed (exit {proc.returncode})"}
    found = json.loads(lines[-1])
    return {"ok": bool(found.get("ok")), "error": found.get("error")}


def compatibility(model: bytes, sample: np.ndarray) -> dict[str, dict[str, Any]]:
    """Which installed backends can load and run ``model`` (``{name: {ok, version, error}}``).

    ai-edge-litert and tf.lite are tried in this process, tflite-runtime in a child.
    """
    import edgekit
    from edgekit.backend import available

    out: dict[str, dict[str, Any]] = {}
    for backend in available():
        if backend.name == "tflite-runtime":
            result = _probe_child(model, backend.name)
        else:
            try:
                with edgekit.load(model, backend=backend.name) as loaded:
                    loaded.predict(as_bgr(sample))
                result = {"ok": True, "error": None}
            except EdgekitError as exc:
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out[backend.name] = {**result, "version": backend.version()}
    return out


def _input_quantization(model: bytes) -> dict[str, Any]:
    import edgekit

    with edgekit.load(model) as loaded:
        spec = loaded.inputs[0]
    return {"input_dtype": spec.dtype, "input_scale": spec.scale, "input_zero_point": spec.zero_point}


def _one(traced: str, run: RunFolder, quantize: str, config: ExportConfig, val: Split,
         calib: np.ndarray, float_probs: np.ndarray) -> tuple[bytes, ParityReport, dict[str, Any], ChanceCheck]:
    io = config.io if quantize == "int8" else "float32"
    rep = q.representative(calib) if quantize == "int8" else None
    raw = q.convert(traced, quantize, io, rep)
    quant_info = {"quantization": _input_quantization(raw)}
    probs, latencies = runtime_probs(embed(raw, metadata_for(run, quantize, io, extra=quant_info)),
                                     val.x, threads=config.threads)
    report = compare(float_probs, probs, val.y, run.labels, latencies)
    backends = compatibility(raw, val.x[0])
    if not backends.get("litert", {}).get("ok", True):
        raise ModelIncompatible(f"ai-edge-litert cannot run the {quantize} export: "
                                f"{backends['litert']['error']}")
    extra = {**quant_info, "compatibility": backends}
    chance = chance_check(val.y, probs.argmax(axis=1))
    return embed(raw, metadata_for(run, quantize, io, report.to_dict(), extra)), report, backends, chance


def _refuse_chance_level(run: RunFolder, checks: dict[str, ChanceCheck]) -> None:
    """The chance guard: no model that does no better than the majority class is written unasked."""
    failed = {variant: check for variant, check in checks.items() if not check.passed}
    if failed:
        detail = "; ".join(f"{variant}: {check.describe()}" for variant, check in failed.items())
        raise ChanceLevel(f"{run.path}: {detail}. No file written (export with force to write it anyway)")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def export(config: ExportConfig, log: Any = None) -> tuple[ExportedModel, ...]:
    """Export ``config.run`` as ``.tflite`` file(s), gated on parity with the Keras model.

    Args:
        config: What to export.
        log: Optional ``callable(str)`` for progress lines.

    Returns:
        One :class:`ExportedModel` per written file.

    Raises:
        ModelNotFound: the RUN folder is incomplete.
        ParityFailed: a variant lost more than ``config.max_drop`` points (nothing is written).
        ChanceLevel: a variant is not clearly above the validation split's majority-class rate
            and ``config.force`` is false (nothing is written).
        ModelIncompatible: ai-edge-litert cannot run the result (nothing is written).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    run = open_run(config.run)
    say = log or (lambda _msg: None)
    root = config.data or run.split["root"]
    keras_model = keras.models.load_model(run.model_path)
    val = read_split(root, run.labels, run.split["val"], run.spec)
    train_labels = np.array([label for _, label in run.split["train"]], dtype=np.int64)
    chosen = q.calibration_indices(train_labels, config.calib, seed=int(run.provenance.get("seed", 0)))
    calib = read_split(root, run.labels, [run.split["train"][i] for i in chosen], run.spec).x
    float_probs = keras_model.predict(val.x.astype(np.float32), batch_size=64, verbose=0)
    done: list[tuple[str, bytes, ParityReport, dict[str, Any]]] = []
    checks: dict[str, ChanceCheck] = {}
    with q.saved_model(keras_model) as traced:
        for variant in config.variants:
            say(f"converting {variant} and checking it through the edgekit runtime on {len(val)} images")
            data, report, backends, checks[variant] = _one(traced, run, variant, config, val, calib, float_probs)
            done.append((variant, data, report, backends))
    failed = [(v, r) for v, _, r, _ in done if config.max_drop is not None and r.drop_points > config.max_drop]
    if failed:
        detail = ", ".join(f"{v} {r.quant_accuracy:.2%} vs float {r.float_accuracy:.2%} "
                           f"(-{r.drop_points:.2f} points)" for v, r in failed)
        raise ParityFailed(f"accuracy dropped more than --max-drop {config.max_drop:g} points: {detail}; "
                           "no file written")
    if not config.force:
        _refuse_chance_level(run, checks)
    paths = _paths(config, run)
    out = []
    for variant, data, report, backends in done:
        _write(paths[variant], data)
        io = config.io if variant == "int8" else "float32"
        out.append(ExportedModel(variant, io, paths[variant], len(data), report, backends,
                                 q.NOTES.get(variant, "")))
    return tuple(out)


def render_table(models: tuple[ExportedModel, ...]) -> str:
    """The comparison table ``export`` prints: size, accuracy, agreement, latency, backends."""
    base = next((m for m in models if m.quantize == "float32"), None)
    head = (f"{'variant':<9} {'size KB':>8} {'x f32':>6} {'acc %':>7} {'d pts':>6} {'agree %':>8} "
            f"{'|dp|':>7} {'p50 ms':>7} {'x f32':>6}  backends")
    lines = [head, "-" * len(head)]
    for m in models:
        size_ratio = f"{m.size / base.size:.2f}" if base else "-"
        lat_ratio = (f"{m.parity.latency_ms_p50 / base.parity.latency_ms_p50:.2f}"
                     if base and base.parity.latency_ms_p50 else "-")
        ok = ",".join(f"{k}{'' if v['ok'] else ' NO'}" for k, v in m.backends.items())
        lines.append(
            f"{m.quantize:<9} {m.size / 1024:>8.1f} {size_ratio:>6} {m.parity.quant_accuracy * 100:>7.2f} "
            f"{-m.parity.drop_points:>+6.2f} {m.parity.agreement * 100:>8.2f} "
            f"{m.parity.mean_abs_dprob:>7.4f} {m.parity.latency_ms_p50:>7.3f} {lat_ratio:>6}  {ok}")
    ref = models[0].parity
    lines.append(f"float (Keras) accuracy on {ref.samples} validation images: {ref.float_accuracy:.2%}; "
                 "d pts = exported minus float, latency through the edgekit runtime on this machine")
    for m in models:
        if m.note:
            measured = (f" [this model: {m.parity.latency_ms_p50 / base.parity.latency_ms_p50:.2f}x float32]"
                        if base and base.parity.latency_ms_p50 else "")
            lines.append(f"note: {m.quantize}: {m.note}{measured}")
    failures: dict[tuple[str, str], list[str]] = {}
    for m in models:
        for name, result in m.backends.items():
            if not result["ok"]:
                failures.setdefault((name, str(result.get("error"))), []).append(m.quantize)
    lines += [f"note: {name} cannot run {', '.join(variants)}: {error}"
              for (name, error), variants in failures.items()]
    return "\n".join(lines)
