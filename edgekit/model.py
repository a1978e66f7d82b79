"""``edgekit.load`` and :class:`Model`: one model, one interpreter, typed results.

Of all edgekit, only this module and :mod:`edgekit.backend` touch an
interpreter. Pre- and post-processing are the pure functions of
:mod:`edgekit.preprocess`, :mod:`edgekit.postprocess` and :mod:`edgekit._detect`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._modelfile import metadata as md
from ._modelfile.labels import label_limit, read_labels, zip_labels
from ._modelfile.reader import read_file_info, zip_files
from ._modelfile.specs import ModelInfo, TensorSpec, check_scores_output, guess_task, input_format
from ._modelfile.validate import check_model
from .backend import Backend, create_interpreter, map_error, resolve
from .delegates import DelegateSpec, check_model_ops, parse_delegate
from .errors import ConfigError, EdgekitError, FrameInvalid, ModelInvalid, ModelNotFound
from .imagefile import read_image
from .options import PredictOptions
from .postprocess import classify, dequantize
from .preprocess import Transform, preprocess
from .results import Latency, Prediction

__all__ = ["Model", "default_model_path", "load"]

log = logging.getLogger("edgekit")

ModelSource = str | os.PathLike[str] | bytes


def _read_source(source: ModelSource) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "<bytes>"
    path = Path(source)
    where = str(path)
    if not path.exists():
        raise ModelNotFound(f"{where}: no such file")
    if not path.is_file():
        raise ModelNotFound(f"{where}: not a file")
    try:
        return path.read_bytes(), where
    except OSError as exc:
        raise ModelNotFound(f"{where}: {exc.strerror or exc}") from exc


class Model:
    """A loaded ``.tflite`` model. Create it with :func:`edgekit.load` (which checks the
    file's structure before this class hands it to the native interpreter).

    Use it as a context manager, or call :meth:`close`. One model may be
    shared by threads: calls into the interpreter are serialised.
    """

    def __init__(
        self,
        data: bytes,
        where: str,
        backend: Backend,
        threads: int | None,
        options: PredictOptions,
        labels: Sequence[str] | str | os.PathLike[str] | None = None,
        delegate: DelegateSpec | None = None,
        layout: Any = None,
    ) -> None:
        self._data = data
        self._where = where
        self._backend = backend
        self._threads = threads
        self._delegate = delegate or DelegateSpec()
        self._lock = threading.Lock()
        file_info = read_file_info(data, where)
        files = zip_files(data)
        self._metadata = md.read(file_info.metadata, where)
        note = check_model_ops(self._delegate, (o.name for o in file_info.operators if o.custom), where)
        self._interpreter: Any = create_interpreter(data, backend, threads, where, self._delegate)
        if note:
            log.warning("%s", note)
        self.inputs = tuple(TensorSpec.from_detail(d) for d in self._interpreter.get_input_details())
        self.outputs = tuple(TensorSpec.from_detail(d) for d in self._interpreter.get_output_details())
        self._labels, label_source = self._find_labels(labels, files)
        meta_task = self._metadata.task if self._metadata else None
        forced_detect = "detect" if options.layout else None  # --layout implies --task detect
        self.task: str = options.task or forced_detect or meta_task or guess_task(self.outputs)
        if self.task == "classify":
            check_scores_output(self.outputs, where)
        # ``layout``: a replica's, already decided (no second check at load)
        self._layout = layout if layout is not None else self._detection_layout(options)
        if self.task == "detect" and not self._labels and self._layout is not None \
                and getattr(self._layout, "num_classes", 0) == 80:
            from ._modelfile.labels import COCO_NAMES

            self._labels, label_source = COCO_NAMES, "coco"
        self.options = options
        self._format = input_format(self.inputs, self._metadata, options, where,
                                    getattr(self._layout, "resize", "stretch")) \
            if self.task != "raw" or _is_image_input(self.inputs) else None
        if self._layout is not None and layout is None:
            self._layout = self._settle_units(self._layout, options, files)
        self._file_info = file_info
        self._label_source = label_source
        self._info: ModelInfo | None = None

    # -- construction helpers -------------------------------------------------
    def _find_labels(self, labels: Any, files: dict[str, bytes]) -> tuple[tuple[str, ...], str]:
        if labels is not None:
            return read_labels(labels), "argument"
        if self._metadata and self._metadata.labels:
            return self._metadata.labels, "metadata"
        return zip_labels(files, label_limit(s.shape for s in self.outputs))

    def _detection_layout(self, options: PredictOptions) -> Any:
        if self.task != "detect":
            return None
        from ._detect.choose import choose_layout

        hints = self._metadata.detection if self._metadata else {}
        return choose_layout(self.outputs, hints, options.layout, self._where)

    def _settle_units(self, layout: Any, options: PredictOptions, files: dict[str, bytes]) -> Any:
        from ._detect.choose import choose_units

        hints = self._metadata.detection if self._metadata else {}
        return choose_units(layout, options.layout, hints, files, self._format, self._probe, self._where)

    def _probe(self) -> list[np.ndarray] | None:
        """The float outputs for a grey frame (the letterbox padding colour), or ``None``."""
        fmt = self._format
        if fmt is None:
            return None
        try:
            tensor, _ = self.preprocess(np.full((fmt.height, fmt.width, 3), fmt.pad_value, np.uint8))
            raw = self.invoke(tensor)
        except EdgekitError:
            return None
        return [dequantize(o, s.scale, s.zero_point) for o, s in zip(raw, self.outputs)]

    # -- public API -------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        """What is known about the model: specs, operators, metadata, backend."""
        if self._info is None:  # built on first use: hashing a big model costs milliseconds
            self._info = ModelInfo(
                source=self._where, size=len(self._data),
                sha256=hashlib.sha256(self._data).hexdigest(), backend=self._backend.name,
                backend_version=self._backend.version(), threads=self._threads, task=self.task,
                labels=self._labels, inputs=self.inputs, outputs=self.outputs,
                operators=self._file_info.operators, input_format=self._format,
                metadata=self._metadata, description=self._file_info.description,
                label_source=self._label_source, layout=getattr(self._layout, "name", None),
                delegate=self._delegate.name,
                detection=self._layout.to_dict() if self._layout is not None else None,
            )
        return self._info

    @property
    def threads(self) -> int | None:
        """Interpreter threads asked for (``None``: the backend's default, one with LiteRT)."""
        return self._threads

    @property
    def delegate(self) -> str:
        """The delegate in use, as ``delegate=`` takes it (``"xnnpack"`` by default)."""
        return self._delegate.name

    @property
    def data(self) -> bytes:
        """The model file's bytes (e.g. to load the same model in another process)."""
        return self._data

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def metadata(self) -> md.ModelMetadata | None:
        return self._metadata

    @property
    def input_format(self) -> Any:
        return self._format

    @property
    def closed(self) -> bool:
        return self._interpreter is None

    def preprocess(self, frame: Any) -> tuple[np.ndarray, Transform]:
        """Frame (BGR ``uint8`` or convertible) → ``(input tensor, Transform)``."""
        if self._format is None:
            raise ConfigError(
                f"{self._where}: the input {list(self.inputs[0].shape)} is not an image; "
                "use Model.run() with raw arrays"
            )
        tensor, transform = preprocess(frame, self._format)
        return tensor.reshape(self.inputs[0].shape), transform

    def invoke(self, *tensors: np.ndarray) -> list[np.ndarray]:
        """Set the inputs, run the interpreter, return the raw (still quantized) outputs."""
        interpreter = self._require_open()
        if len(tensors) != len(self.inputs):
            raise ConfigError(f"the model takes {len(self.inputs)} inputs, got {len(tensors)}")
        with self._lock:
            try:
                for spec, tensor in zip(self.inputs, tensors):
                    interpreter.set_tensor(spec.index, tensor)
                interpreter.invoke()  # XNNPACK prepares lazily: a bad model can fail here first
                return [interpreter.get_tensor(spec.index) for spec in self.outputs]
            except (RuntimeError, ValueError) as exc:
                raise map_error(exc, self._backend, self._where) from exc

    def postprocess(
        self, outputs: Sequence[np.ndarray], transform: Transform | None = None,
        options: PredictOptions | None = None,
    ) -> Prediction:
        """Raw outputs → :class:`Prediction` (without latency).

        ``options`` replaces the model's own for this call (``top_k``,
        ``score_threshold``, ``iou_threshold``, ``max_detections``, ``classes``:
        the fields that act after ``invoke``).
        """
        tensors = tuple(dequantize(o, s.scale, s.zero_point) for o, s in zip(outputs, self.outputs))
        opts = self.options if options is None else options
        if self.task == "classify":
            activation = self._metadata.activation if self._metadata else "auto"
            classes = classify(tensors[0], self._labels, opts.top_k, opts.threshold_for("classify"),
                               opts.activation or activation)
            return Prediction(task="classify", classes=classes, tensors=tensors)
        if self.task == "detect":
            from ._detect.decode import decode

            if transform is None:
                fmt = self._format
                transform = Transform(fmt.width, fmt.height, fmt.width, fmt.height, 1.0, 1.0)
            detections = decode(tensors, self._layout, transform, self._labels, opts)
            return Prediction(task="detect", detections=detections, tensors=tensors)
        return Prediction(task="raw", tensors=tensors)

    def predict(self, image: Any) -> Prediction:
        """Pre-process, invoke and post-process one image.

        Args:
            image: A BGR ``uint8`` array (OpenCV's convention; grayscale, BGRA,
                16-bit and float in [0, 1] are converted) or an image path
                (for a grey model a JPEG decodes straight to grey, see
                :func:`edgekit.imagefile.read_image`).

        Returns:
            The :class:`Prediction`, with its latency breakdown.

        Raises:
            ImageUnreadable: ``image`` is a path that cannot be decoded.
            FrameInvalid: ``image`` is an array that is not an image.
        """
        source = None
        if isinstance(image, str | os.PathLike):
            source = str(image)
            image = read_image(image, grey=self._format is not None and self._format.grey)
        t0 = time.perf_counter()
        tensor, transform = self.preprocess(image)
        t1 = time.perf_counter()
        outputs = self.invoke(tensor)
        t2 = time.perf_counter()
        pred = self.postprocess(outputs, transform)
        t3 = time.perf_counter()
        latency = Latency(pre=(t1 - t0) * 1e3, invoke=(t2 - t1) * 1e3, post=(t3 - t2) * 1e3)
        return Prediction(pred.task, pred.classes, pred.detections, pred.tensors, latency, source)

    def run(self, arrays: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """Raw tensors in, raw tensors out (no pre- or post-processing).

        Raises:
            FrameInvalid: an array's shape or dtype does not match its input.
        """
        if isinstance(arrays, np.ndarray):
            arrays = [arrays]
        arrays = list(arrays)
        for spec, array in zip(self.inputs, arrays):
            if tuple(np.shape(array)) != spec.shape or np.asarray(array).dtype != np.dtype(spec.dtype):
                raise FrameInvalid(
                    f"input {spec.name!r} takes {spec.dtype}{list(spec.shape)}, "
                    f"got {np.asarray(array).dtype}{list(np.shape(array))}"
                )
        return self.invoke(*[np.ascontiguousarray(a) for a in arrays])

    def replica(self) -> Model:
        """Another interpreter on the same model, with the same threads, labels and options.

        Calls into one interpreter are serialised; two replicas run in parallel
        (``invoke`` releases the GIL). Each holds its own tensors and packed
        weights, so memory grows by about the model's working set per replica.
        Close it like any model.
        """
        self._require_open()
        labels = self._labels if self._label_source == "argument" else None
        return Model(self._data, self._where, self._backend, self._threads, self.options, labels,
                     self._delegate, self._layout)

    def close(self) -> None:
        """Release the interpreter. Further calls raise ``ConfigError``."""
        with self._lock:
            self._interpreter = None

    def _require_open(self) -> Any:
        if self._interpreter is None:
            raise ConfigError(f"{self._where}: the model is closed")
        return self._interpreter

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = list(self.inputs[0].shape) if self.inputs else []
        return (f"<edgekit.Model {self._where} task={self.task} input={shape} "
                f"backend={self._backend.name} delegate={self._delegate.name}{' closed' if self.closed else ''}>")


def _is_image_input(inputs: tuple[TensorSpec, ...]) -> bool:
    if len(inputs) != 1:
        return False
    shape = inputs[0].shape
    return len(shape) in (3, 4) and (shape[-1] in (1, 3, 4) or shape[1] in (1, 3, 4))


def default_model_path() -> str:
    """Path of the bundled default model (int8 handwritten-digit classifier)."""
    from importlib.resources import files

    return str(files("edgekit") / "data" / "digits_int8.tflite")


def load(
    source: ModelSource,
    *,
    threads: int | None = None,
    backend: str | None = None,
    labels: Sequence[str] | str | os.PathLike[str] | None = None,
    device: str | None = None,
    isolate: bool = False,
    sha256: str | None = None,
    delegate: str | DelegateSpec | None = None,
    **options: Any,
) -> Model:
    """Load a ``.tflite`` model from a path or bytes.

    Args:
        source: Path to a ``.tflite`` file, or its bytes.
        threads: Interpreter threads (``None``: the device profile's, else the backend's default).
        backend: ``"litert"``, ``"tflite-runtime"`` or ``"tensorflow"`` (default: first installed,
            or ``$EDGEKIT_BACKEND``).
        labels: A labels file or a list of names (overrides the model's own).
        device: A device profile name or ``"auto"``; supplies the default thread count.
        isolate: Load and allocate the model in a child process first, so that a
            native crash on a hostile file becomes :class:`ModelInvalid`.
        sha256: Refuse the model unless its SHA-256 (hex) is this.
        delegate: ``"xnnpack"`` (default), ``"none"`` (built-in kernels only), ``"edgetpu"``
            (a Coral Edge TPU through ``libedgetpu.so.1``) or ``"PATH.so[:key=value,...]"``
            (an external delegate library); see :mod:`edgekit.delegates`.
        **options: :class:`~edgekit.options.PredictOptions` fields — ``top_k``,
            ``score_threshold``, ``iou_threshold``, ``max_detections``, ``classes``,
            ``task``, ``layout``, ``normalize``, ``resize``, ``color``, ``activation``.

    Returns:
        The loaded :class:`Model`.

    Raises:
        ModelNotFound, ModelInvalid, ModelIncompatible, BackendMissing, ConfigError.
    """
    opts = PredictOptions(**options)
    spec = parse_delegate(delegate)
    data, where = _read_source(source)
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual.lower() != sha256.strip().lower():
            raise ModelInvalid(f"{where}: SHA-256 is {actual}, expected {sha256.strip()}")
    if device is not None and threads is None:
        from ._device.profiles import get_profile

        threads = get_profile(device).threads
    chosen = resolve(backend)
    check_model(data, where)
    if isolate:
        from ._modelfile.isolate import check_in_child

        custom = (o.name for o in read_file_info(data, where).operators if o.custom)
        check_model_ops(spec, custom, where)  # an Edge TPU model says so before a child tries it
        check_in_child(data, where, chosen, threads, delegate=spec.name)
    return Model(data, where, chosen, threads, opts, labels, spec)
