"""What ``edgekit inspect`` prints, and which installed backends and delegates can run a model.

Each backend (and each delegate, on the default backend) is tried in its own child
process (``python -m edgekit._tools.inspection MODEL BACKEND DELEGATE``): a native crash
there cannot take the caller down, and TensorFlow never enters the caller's process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._modelfile.specs import ModelInfo

__all__ = ["DELEGATES", "backend_support", "delegate_support", "metadata_lines", "render_info"]

# The delegates inspect and doctor try; an external PATH.so is tried when asked for.
DELEGATES = ("xnnpack", "none", "edgetpu")


def _try_backend(model: str, backend: str, timeout: float, delegate: str = "xnnpack") -> dict[str, Any]:
    cmd = [sys.executable, "-m", "edgekit._tools.inspection", model, backend, delegate]
    base = {"backend": backend, "delegate": delegate, "ok": False}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    crash = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
    return {**base, "error": f"the interpreter crashed ({crash})"}


def backend_support(model: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """For each installed backend: ``{"backend", "version", "ok", "error"}``."""
    from ..backend import available

    backends = available()
    with ThreadPoolExecutor(max_workers=max(1, len(backends))) as pool:
        results = list(pool.map(lambda b: _try_backend(model, b.name, timeout), backends))
    for backend, result in zip(backends, results):
        result["version"] = backend.version()
    return results


def delegate_support(model: str, delegates: tuple[str, ...] = DELEGATES, backend: str | None = None,
                     timeout: float = 120.0) -> list[dict[str, Any]]:
    """For each delegate on ``backend`` (default: the first usable one):
    ``{"delegate", "backend", "ok", "error", "note"}`` — each tried in a child process."""
    from ..backend import resolve

    name = resolve(backend).name
    with ThreadPoolExecutor(max_workers=max(1, len(delegates))) as pool:
        return list(pool.map(lambda d: _try_backend(model, name, timeout, d), delegates))


def _probe(model: str, backend: str, delegate: str) -> dict[str, Any]:
    import logging

    import numpy as np

    from ..errors import EdgekitError
    from ..model import load

    notes: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    logging.getLogger("edgekit").addHandler(_Keep())
    base = {"backend": backend, "delegate": delegate}
    try:
        with load(model, backend=backend, task="raw", delegate=delegate) as loaded:
            loaded.run([np.zeros(s.shape, s.dtype) for s in loaded.inputs])
    except EdgekitError as exc:
        return {**base, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {**base, "ok": True, "error": None, "note": notes[0] if notes else None}


# How ``ModelInfo.label_source`` reads in the report.
LABEL_SOURCES = {
    "argument": "the labels given", "metadata": "edgekit metadata", "ultralytics": "Ultralytics metadata.json",
    "tflite-support": "a TFLite-Support label file", "coco": "COCO's names (80 classes, none in the file)",
}


def _layout_line(detection: dict[str, Any]) -> str:
    scores = ", logit scores" if detection["scores"] == "logits" else ""
    by = f"; {detection['decided_by']}" if detection["decided_by"] else ""
    return f"  layout {detection['layout']} (boxes {detection['boxes']}, {detection['coords']}{scores}{by})"


def render_info(info: ModelInfo, support: list[dict[str, Any]],
                delegates: list[dict[str, Any]] | None = None) -> str:
    """A readable multi-line report of a model (``inspect --json`` has every field)."""
    lines = [f"model      {info.source}  ({info.size / 1024:.1f} KiB, sha256 {info.sha256[:12]}…)"]
    layout = _layout_line(info.detection) if info.detection else f"  layout {info.layout}" if info.layout else ""
    lines.append(f"task       {info.task}{layout}")
    labels = ", ".join(info.labels[:8]) + (" …" if len(info.labels) > 8 else "")
    source = LABEL_SOURCES.get(info.label_source, info.label_source)
    lines.append(f"labels     {len(info.labels)} from {source}" + (f": {labels}" if labels else ""))
    for kind, specs in (("input", info.inputs), ("output", info.outputs)):
        for s in specs:
            q = f"  scale={s.scale:.6g} zero_point={s.zero_point}" if s.quantized else ""
            lines.append(f"{kind:<10} {s.name or '?'}: {s.dtype}{list(s.shape)}{q}")
    fmt = info.input_format
    if fmt is not None:
        lines.append(f"preprocess {fmt.width}x{fmt.height}x{fmt.channels} {fmt.color} {fmt.resize}"
                     f" mean={list(fmt.mean)} std={list(fmt.std)}")
    ops = ", ".join(f"{o.name}/v{o.version}" for o in info.operators)
    lines.append(f"operators  {len(info.operators)}: {ops}")
    if info.metadata is not None:
        lines.extend(metadata_lines(info.metadata.to_dict()))
    for s in support:
        state = "runs" if s["ok"] else f"cannot run it: {s['error']}"
        lines.append(f"backend    {s['backend']} {s.get('version') or ''}: {state}")
    for d in delegates or ():
        state = "runs" + (f" ({d['note']})" if d.get("note") else "") if d["ok"] else _short(d["error"])
        lines.append(f"delegate   {d['delegate']} on {d['backend']}: {state}")
    return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metadata_lines(meta: dict[str, Any]) -> list[str]:
    """The edgekit metadata in a few labelled lines (what it says, not every field).

    The values come from the file: anything of an unexpected type is shown as text.
    """
    lines = [f"metadata   {_text(meta.get('schema'))}, written by {_text(_get(meta, 'provenance', 'trainer'))}"
             if _get(meta, "provenance", "trainer") else f"metadata   {_text(meta.get('schema'))}"]
    quant = _dict(meta.get("quantization"))
    if quant:
        lines.append(f"  quantized  {_text(quant.get('mode'))} (inputs/outputs {_text(quant.get('io'))})")
    if meta.get("detection"):
        lines.append(f"  detection  {_pairs(_dict(meta.get('detection')))}")
    prov = _dict(meta.get("provenance"))
    if prov:
        lines.append(f"  trained    {_text(prov.get('trained'))}: backbone {_text(prov.get('backbone'))}, "
                     f"input {_text(prov.get('input_size'))}, weights {_text(prov.get('weights'))}, "
                     f"seed {_text(prov.get('seed'))}, validation accuracy {_pct(prov.get('val_accuracy_keras'))}")
        counts = _dict(prov.get("class_counts"))
        sizes = ", ".join(f"{_total(v)} {k}" for k, v in counts.items())
        lines.append(f"  dataset    {_text(prov.get('dataset_fingerprint'))[:12]}…" + (f" ({sizes} images)" if sizes else ""))
        if prov.get("versions"):
            lines.append(f"  versions   {_pairs(_dict(prov.get('versions')))}")
        if isinstance(prov.get("command"), list):
            lines.append("  command    " + " ".join(_text(arg) for arg in prov["command"]))
    parity = _dict(meta.get("parity"))
    if parity:
        lines.append(f"  parity     {_text(parity.get('samples'))} {_text(parity.get('split'))} images: "
                     f"float {_pct(parity.get('float_accuracy'))}, quantized "
                     f"{_pct(parity.get('quantized_accuracy'))} (drop {_text(parity.get('drop_points'))} points), "
                     f"top-1 agreement {_pct(parity.get('top1_agreement'))}")
    checked = _dict(meta.get("compatibility"))
    if checked:
        lines.append("  checked    " + ", ".join(
            f"{name} {_text(_dict(r).get('version'))} {'ok' if _dict(r).get('ok') else 'failed'}"
            for name, r in checked.items()))
    known = {"schema", "task", "labels", "input", "output", "quantization", "detection", "provenance",
             "parity", "compatibility"}
    more = sorted(str(k) for k in meta if k not in known)
    if more:
        lines.append(f"  more       {', '.join(more)} (--json shows them)")
    return lines


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _get(meta: dict[str, Any], key: str, inner: str) -> Any:
    return _dict(meta.get(key)).get(inner)


def _text(value: Any) -> str:
    return "?" if value is None else str(value)[:200]


def _pct(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_text(v)}" for k, v in values.items())


def _total(value: Any) -> str:
    counts = _dict(value).values()
    return str(sum(v for v in counts if isinstance(v, int))) if counts else _text(value)


if __name__ == "__main__":  # pragma: no cover - exercised through backend_support
    print(json.dumps(_probe(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "xnnpack")))
