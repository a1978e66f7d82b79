"""What ``edgekit inspect`` prints, and which installed backends can run a model.

Each backend is tried in its own child process (``python -m edgekit._tools.inspection
MODEL BACKEND``): a native crash there cannot take the caller down, and
TensorFlow never enters the caller's process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._modelfile.specs import ModelInfo

__all__ = ["backend_support", "render_info"]


def _try_backend(model: str, backend: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "edgekit._tools.inspection", model, backend]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"backend": backend, "ok": False, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    return {"backend": backend, "ok": False,
            "error": f"the interpreter crashed (exit {proc.returncode})"}


def backend_support(model: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """For each installed backend: ``{"backend", "version", "ok", "error"}``."""
    from ..backend import available

    backends = available()
    with ThreadPoolExecutor(max_workers=max(1, len(backends))) as pool:
        results = list(pool.map(lambda b: _try_backend(model, b.name, timeout), backends))
    for backend, result in zip(backends, results):
        result["version"] = backend.version()
    return results


def _probe(model: str, backend: str) -> dict[str, Any]:
    import numpy as np

    from ..errors import EdgekitError
    from ..model import load

    try:
        with load(model, backend=backend, task="raw") as loaded:
            loaded.run([np.zeros(s.shape, s.dtype) for s in loaded.inputs])
    except EdgekitError as exc:
        return {"backend": backend, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"backend": backend, "ok": True, "error": None}


# How ``ModelInfo.label_source`` reads in the report.
LABEL_SOURCES = {
    "argument": "the labels given", "metadata": "edgekit metadata", "ultralytics": "Ultralytics metadata.json",
    "tflite-support": "a TFLite-Support label file", "coco": "COCO's names (80 classes, none in the file)",
}


def _layout_line(detection: dict[str, Any]) -> str:
    scores = ", logit scores" if detection["scores"] == "logits" else ""
    by = f"; {detection['decided_by']}" if detection["decided_by"] else ""
    return f"  layout {detection['layout']} (boxes {detection['boxes']}, {detection['coords']}{scores}{by})"


def render_info(info: ModelInfo, support: list[dict[str, Any]]) -> str:
    """A readable multi-line report of a model."""
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
        meta = info.metadata.to_dict()
        meta.pop("labels", None)
        lines.append("metadata   " + json.dumps(meta, sort_keys=True)[:2000])
    for s in support:
        state = "runs" if s["ok"] else f"cannot run it: {s['error']}"
        lines.append(f"backend    {s['backend']} {s.get('version') or ''}: {state}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - exercised through backend_support
    print(json.dumps(_probe(sys.argv[1], sys.argv[2])))
