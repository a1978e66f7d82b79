"""Descriptions of a loaded model: tensor specs, the input format its images take, :class:`ModelInfo`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelIncompatible
from ..options import PredictOptions, parse_normalize
from ..preprocess import InputFormat
from .metadata import ModelMetadata
from .reader import OperatorInfo

__all__ = ["ModelInfo", "TensorSpec", "check_scores_output", "guess_task", "input_format"]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """An input or output tensor of the model.

    Attributes:
        name: Tensor name in the graph.
        index: Interpreter tensor index.
        shape: Shape (batch first).
        dtype: NumPy dtype name (``"float32"``, ``"uint8"``, ``"int8"`` …).
        scale, zero_point: Quantization, ``real = scale * (q - zero_point)``;
            ``scale == 0`` means not quantized.
    """

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> TensorSpec:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        return cls(
            name=str(detail.get("name", "")),
            index=int(detail["index"]),
            shape=tuple(int(x) for x in detail["shape"]),
            dtype=np.dtype(detail["dtype"]).name,
            scale=float(scale),
            zero_point=int(zero_point),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.quantized:
            out["quantization"] = {"scale": self.scale, "zero_point": self.zero_point}
        return out


def guess_task(outputs: tuple[TensorSpec, ...]) -> str:
    """Task implied by the output signature when the model does not declare one.

    One tensor holding a single row of N > 1 scores → ``"classify"``; a
    detection signature → ``"detect"``; anything else → ``"raw"``.
    """
    if len(outputs) == 1:
        shape = outputs[0].shape
        squeezed = [d for d in shape if d != 1]
        if len(squeezed) == 1 and squeezed[0] > 1 and len(shape) <= 2:
            return "classify"
    from .._detect.layouts import recognize  # only now: a classifier never needs the detection code

    if recognize(outputs) is not None:
        return "detect"
    return "raw"


def check_scores_output(outputs: tuple[TensorSpec, ...], where: str) -> None:
    """Refuse a classification of outputs that cannot be one row of class scores.

    Classification reads one output of ``N`` scores, ``[N]`` or ``[1, N]`` (more
    axes of 1 allowed). Several outputs (landmarks with a presence flag, a
    detector's boxes and scores) or a multi-axis tensor are something else.

    Raises:
        ModelIncompatible: naming the output shapes.
    """
    shapes = ", ".join(str(list(o.shape)) for o in outputs)
    if len(outputs) != 1:
        raise ModelIncompatible(
            f"{where}: task classify needs one output of class scores ([1, N]); the model has "
            f"{len(outputs)} outputs ({shapes})"
        )
    if sum(1 for d in outputs[0].shape if d != 1) > 1:
        raise ModelIncompatible(
            f"{where}: task classify needs one output of class scores ([1, N]); the output is {shapes}"
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Everything known about a loaded model (``edgekit inspect`` prints this)."""

    source: str
    size: int
    sha256: str
    backend: str
    backend_version: str | None
    threads: int | None
    task: str
    labels: tuple[str, ...]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    operators: tuple[OperatorInfo, ...]
    input_format: InputFormat | None
    metadata: ModelMetadata | None = None
    description: str = ""
    layout: str | None = None
    label_source: str = "none"
    delegate: str = "xnnpack"
    detection: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        fmt = self.input_format
        return {
            "source": self.source,
            "size_bytes": self.size,
            "sha256": self.sha256,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "threads": self.threads,
            "delegate": self.delegate,
            "task": self.task,
            "layout": self.layout,
            "detection": self.detection,
            "labels": {"count": len(self.labels), "source": self.label_source,
                       "first": list(self.labels[:10])},
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "operators": [{"name": o.name, "version": o.version, "custom": o.custom}
                          for o in self.operators],
            "preprocess": None if fmt is None else {
                "width": fmt.width, "height": fmt.height, "channels": fmt.channels,
                "color": fmt.color, "resize": fmt.resize, "mean": list(fmt.mean),
                "std": list(fmt.std), "nchw": fmt.nchw,
            },
            "metadata": self.metadata.to_dict() if self.metadata else None,
            "description": self.description,
        }


def _image_dims(spec: TensorSpec, where: str) -> tuple[int, int, int, bool]:
    shape = spec.shape
    if len(shape) == 4 and shape[3] in (1, 3, 4):
        return shape[1], shape[2], shape[3], False
    if len(shape) == 4 and shape[1] in (1, 3, 4):
        return shape[2], shape[3], shape[1], True
    if len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] > 4:
        return shape[0], shape[1], shape[2], False
    if len(shape) == 3:
        return shape[1], shape[2], 1, False
    raise ModelIncompatible(
        f"{where}: input {spec.name!r} has shape {list(shape)}, which is not an image "
        "(expected [1,H,W,C], [1,C,H,W] or [1,H,W]); use Model.run() with raw arrays"
    )


def input_format(
    inputs: tuple[TensorSpec, ...],
    meta: ModelMetadata | None,
    options: PredictOptions,
    where: str,
    fallback_resize: str = "stretch",
) -> InputFormat:
    """The :class:`InputFormat` for a model: options, then metadata, then defaults by dtype.

    Defaults without metadata: float inputs take [0, 1]; ``uint8`` inputs take
    raw pixels; ``int8`` inputs take ``pixel - 128``; colour order RGB;
    ``fallback_resize`` (stretch; a YOLO detection layout passes letterbox).
    """
    if len(inputs) != 1:
        raise ModelIncompatible(
            f"{where}: the model has {len(inputs)} inputs; predict() needs one image input, "
            "use Model.run() with raw arrays"
        )
    spec = inputs[0]
    height, width, channels, nchw = _image_dims(spec, where)
    dtype = np.dtype(spec.dtype)
    scale, zero_point = spec.scale, spec.zero_point
    if options.normalize is not None:
        mean, std = parse_normalize(options.normalize)
    elif meta is not None:
        mean, std = meta.mean, meta.std
    elif dtype.kind == "f":
        mean, std = (0.0,), (255.0,)
    else:
        # No metadata: integer inputs take pixels as they are (shifted for int8).
        mean, std = ((128.0,) if dtype == np.int8 else (0.0,)), (1.0,)
        scale, zero_point = 0.0, 0
    if dtype.kind not in "fiu":
        raise ModelIncompatible(f"{where}: input dtype {dtype} is not an image dtype")
    default_resize = meta.resize if meta is not None else fallback_resize
    default_color = meta.color if meta is not None else ("gray" if channels == 1 else "rgb")
    return InputFormat(
        width=width, height=height, channels=channels, dtype=dtype,
        color=options.color or default_color, resize=options.resize or default_resize,
        mean=tuple(mean), std=tuple(std), scale=scale, zero_point=zero_point, nchw=nchw,
    )
