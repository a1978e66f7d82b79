"""Pure pre-processing: frame → model input tensor, keeping the inverse mapping.

Nothing here touches an interpreter. Frames follow OpenCV's convention (BGR,
``uint8``, ``H×W×3``); :func:`as_bgr8` converts what can be converted
meaningfully (grayscale, BGRA, 16-bit, float in [0, 1]) and rejects the rest
with :class:`~edgekit.errors.FrameInvalid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError, FrameInvalid

__all__ = [
    "NORMALIZATIONS",
    "RESIZE_MODES",
    "InputFormat",
    "Transform",
    "as_bgr8",
    "normalize",
    "preprocess",
    "resize",
]

RESIZE_MODES = ("stretch", "letterbox", "crop")
COLOR_ORDERS = ("rgb", "bgr", "gray")
# Named input ranges: real value = (pixel - mean) / std, pixel in 0..255.
NORMALIZATIONS: dict[str, tuple[float, float]] = {
    "unit": (0.0, 255.0),  # [0, 1]
    "signed": (127.5, 127.5),  # [-1, 1]
    "raw": (0.0, 1.0),  # [0, 255]
}
MAX_FRAME_PIXELS = 100_000_000  # refuse absurd frames before allocating copies of them


@dataclass(frozen=True, slots=True)
class Transform:
    """How source pixels map to model-input pixels: ``dst = src * scale + offset``.

    The inverse (:meth:`to_source`) maps boxes found in the model input back
    into the source image, whatever the resize mode was.
    """

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``N×4`` corner boxes in input pixels to source pixels, clipped to the image."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = np.empty_like(boxes)
        out[:, 0::2] = (boxes[:, 0::2] - self.offset_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.offset_y) / self.scale_y
        np.clip(out[:, 0::2], 0.0, float(self.src_w), out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, float(self.src_h), out=out[:, 1::2])
        return out


@dataclass(frozen=True, slots=True)
class InputFormat:
    """Everything needed to turn a frame into the model's input tensor.

    Attributes:
        width, height, channels: The input image size the model takes.
        dtype: The input tensor's dtype.
        color: ``"rgb"``, ``"bgr"`` or ``"gray"``.
        resize: ``"stretch"``, ``"letterbox"`` or ``"crop"`` (centre crop).
        mean, std: Per-channel normalization, ``real = (pixel - mean) / std``.
        scale, zero_point: Input quantization (``scale == 0`` when not quantized).
        nchw: The tensor is ``N×C×H×W`` rather than ``N×H×W×C``.
        pad_value: Grey level of letterbox borders.
    """

    width: int
    height: int
    channels: int = 3
    dtype: Any = np.float32
    color: str = "rgb"
    resize: str = "stretch"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (255.0,)
    scale: float = 0.0
    zero_point: int = 0
    nchw: bool = False
    pad_value: int = 114

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"resize mode {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        if self.color not in COLOR_ORDERS:
            raise ConfigError(f"colour order {self.color!r} is not one of {', '.join(COLOR_ORDERS)}")
        if self.width < 1 or self.height < 1 or self.channels not in (1, 3, 4):
            raise ConfigError(
                f"input size {self.width}x{self.height}x{self.channels} is not an image input"
            )
        if any(s == 0 for s in self.std):
            raise ConfigError(f"normalization std {self.std} contains 0")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.channels):
                raise ConfigError(
                    f"normalization {name} has {len(values)} values; the input has "
                    f"{self.channels} channel(s), so give 1 or {self.channels}"
                )

    @property
    def grey(self) -> bool:
        """The model sees one brightness value per pixel (even if it takes it three times)."""
        return self.channels == 1 or self.color == "gray"


def as_bgr8(frame: Any) -> np.ndarray:
    """Return ``frame`` as a contiguous BGR ``uint8`` ``H×W×3`` array.

    Accepts grayscale (``H×W`` or ``H×W×1``), BGRA, ``uint16`` (scaled down),
    ``bool`` and float frames in [0, 1].

    Raises:
        FrameInvalid: ``None``, empty, not 2-D/3-D, an odd channel count, a
            dtype that is not an image, or an absurd size.
    """
    image = _to_uint8(_checked(frame))
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def _checked(frame: Any) -> np.ndarray:
    """``frame`` if it is an ``H×W`` or ``H×W×{1,3,4}`` array of a sane size, else FrameInvalid."""
    if frame is None:
        raise FrameInvalid("frame is None (the source returned no image)")
    if not isinstance(frame, np.ndarray):
        raise FrameInvalid(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim not in (2, 3) or frame.size == 0 or min(frame.shape[:2]) == 0:
        raise FrameInvalid(f"frame shape {frame.shape} is not an H×W or H×W×C image")
    if frame.size > MAX_FRAME_PIXELS * 4:
        raise FrameInvalid(f"frame shape {frame.shape} is too large")
    if frame.ndim == 3 and frame.shape[2] not in (1, 3, 4):
        raise FrameInvalid(f"frame has {frame.shape[2]} channels; 1, 3 or 4 are supported")
    return frame


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    kind = frame.dtype.kind
    if frame.dtype == np.uint8:
        return frame
    if kind == "b":
        return frame.astype(np.uint8) * 255
    if frame.dtype == np.uint16:
        return (frame >> 8).astype(np.uint8)
    if kind == "f":
        if not np.isfinite(frame).all():
            raise FrameInvalid("frame contains NaN or infinite values")
        top = float(frame.max()) if frame.size else 0.0
        factor = 255.0 if top <= 1.0 else 1.0
        return np.clip(frame * factor + 0.5, 0, 255).astype(np.uint8)
    if kind in "iu":
        return np.clip(frame, 0, 255).astype(np.uint8)
    raise FrameInvalid(f"frame dtype {frame.dtype} is not an image dtype")


def resize(
    image: np.ndarray, width: int, height: int, mode: str = "stretch", pad_value: int = 114
) -> tuple[np.ndarray, Transform]:
    """Resize ``image`` to ``width×height`` and return it with its :class:`Transform`.

    ``stretch`` scales each axis independently; ``letterbox`` keeps the aspect
    ratio and pads with ``pad_value``; ``crop`` keeps the aspect ratio and cuts
    the centre.
    """
    import cv2

    src_h, src_w = image.shape[:2]
    if mode == "stretch":
        sx, sy = width / src_w, height / src_h
        out = _cv_resize(cv2, image, width, height)
        return out, Transform(src_w, src_h, width, height, sx, sy)
    if mode == "letterbox":
        s = min(width / src_w, height / src_h)
        new_w, new_h = max(1, round(src_w * s)), max(1, round(src_h * s))
        left, top = (width - new_w) // 2, (height - new_h) // 2
        scaled = _cv_resize(cv2, image, new_w, new_h)
        out = np.full((height, width) + image.shape[2:], pad_value, dtype=image.dtype)
        out[top : top + new_h, left : left + new_w] = scaled
        return out, Transform(
            src_w, src_h, width, height, new_w / src_w, new_h / src_h, float(left), float(top)
        )
    if mode == "crop":
        s = max(width / src_w, height / src_h)
        crop_w = max(1, min(src_w, round(width / s)))
        crop_h = max(1, min(src_h, round(height / s)))
        x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
        out = _cv_resize(cv2, image[y0 : y0 + crop_h, x0 : x0 + crop_w], width, height)
        sx, sy = width / crop_w, height / crop_h
        return out, Transform(src_w, src_h, width, height, sx, sy, -x0 * sx, -y0 * sy)
    raise ConfigError(f"resize mode {mode!r} is not one of {', '.join(RESIZE_MODES)}")


def _cv_resize(cv2: Any, image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    # Bilinear, as Keras' image loading (and so most training pipelines) resizes; INTER_AREA
    # would cost ~10× more per frame on a Pi for a difference the models were not trained on.
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def normalize(image: np.ndarray, fmt: InputFormat) -> np.ndarray:
    """Turn a resized ``H×W×C`` ``uint8`` image into the input tensor (with batch axis).

    ``real = (pixel - mean) / std``, then quantized with the input's own scale and
    zero point for integer inputs — folded into one multiply-add per pixel. Float
    inputs get the subtraction and division themselves, in float32: ``x * (1/255)``
    differs from ``x / 255`` in the last bit for half the pixel values, enough to
    reorder near-tied detection scores against a framework that divides (Ultralytics).
    """
    dtype = np.dtype(fmt.dtype)
    identity = fmt.mean == (0.0,) * len(fmt.mean) and fmt.std == (1.0,) * len(fmt.std)
    if dtype == np.uint8 and (fmt.scale == 0.0 or (identity and _is_unit_quant(fmt))):
        tensor = image
    elif dtype.kind == "f":
        real = np.empty(image.shape, np.float32)
        mean, std = np.asarray(fmt.mean, np.float32), np.asarray(fmt.std, np.float32)
        if mean.any():
            np.subtract(image, mean, out=real, dtype=np.float32)
            np.divide(real, std, out=real)
        else:
            np.divide(image, std, out=real, dtype=np.float32)  # one pass, no temporaries
        tensor = real if dtype == np.float32 else real.astype(dtype)
    else:  # integer input: quantize, rounding to the nearest step
        gain = np.float32(1.0) / np.asarray(fmt.std, np.float32)
        offset = -np.asarray(fmt.mean, np.float32) * gain
        if fmt.scale:
            gain = gain / np.float32(fmt.scale)
            offset = offset / np.float32(fmt.scale) + np.float32(fmt.zero_point)
        real = np.empty(image.shape, np.float32)
        np.multiply(image, gain, out=real, dtype=np.float32)  # one pass, no temporaries
        if offset.any():
            np.add(real, offset, out=real)
        info = np.iinfo(dtype)
        np.rint(real, out=real)
        np.clip(real, info.min, info.max, out=real)
        tensor = real.astype(dtype)
    if fmt.nchw:
        tensor = np.transpose(tensor, (2, 0, 1))
    return np.ascontiguousarray(tensor[None, ...])


def _is_unit_quant(fmt: InputFormat) -> bool:
    return abs(fmt.scale - 1.0) < 1e-6 and fmt.zero_point == 0


def _convert_color(image: np.ndarray, fmt: InputFormat) -> np.ndarray:
    import cv2

    if fmt.grey:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None]
        return np.repeat(gray, fmt.channels, axis=2) if fmt.channels > 1 else gray
    rgb = fmt.color == "rgb"
    if fmt.channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGBA if rgb else cv2.COLOR_BGR2BGRA)
    # cvtColor is a SIMD copy; a reversed-stride view would make every later pass slow
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image


def preprocess(frame: Any, fmt: InputFormat) -> tuple[np.ndarray, Transform]:
    """Frame (BGR ``uint8`` or convertible) → ``(input tensor, Transform)``.

    Raises:
        FrameInvalid: the frame cannot be made into an image (see :func:`as_bgr8`).
    """
    if fmt.channels == 1 and _is_grey8(frame):
        # a grey frame for a one-channel model (a file decoded straight to luma): resize the
        # one plane; the BGR route (copy to 3 planes, resize, back to grey) gives the same pixels
        plane = np.ascontiguousarray(_checked(frame).reshape(frame.shape[:2]))
        resized, transform = resize(plane, fmt.width, fmt.height, fmt.resize, fmt.pad_value)
        return normalize(resized.reshape(fmt.height, fmt.width, 1), fmt), transform
    image = as_bgr8(frame)
    resized, transform = resize(image, fmt.width, fmt.height, fmt.resize, fmt.pad_value)
    return normalize(_convert_color(resized, fmt), fmt), transform


def _is_grey8(frame: Any) -> bool:
    return (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
            and (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1)))
