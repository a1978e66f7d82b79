"""Which devices a training uses, and in what precision.

Mixed precision (float16 compute, float32 weights) pays only on GPUs with tensor cores,
compute capability 7.0 and newer: elsewhere it is slower than float32 (CPUs emulate
float16), so it is switched on only when every visible GPU has them. The model a run
saves is always float32 (:func:`float32_model`), so export and the edge runtime never see
a float16 layer; the classifier's last layer computes in float32 in any case (see
:mod:`edgekit_trainer.backbones`), as Keras advises for a softmax.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["describe", "float32_model", "gpu_capabilities", "mixed_precision_pays", "precision"]

TENSOR_CORES = (7, 0)


def gpu_capabilities() -> list[tuple[int, int] | None]:
    """Compute capability of each GPU TensorFlow sees (``None`` when it does not say)."""
    import tensorflow as tf

    found: list[tuple[int, int] | None] = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        found.append(tuple(capability) if capability else None)  # type: ignore[arg-type]
    return found


def mixed_precision_pays(capabilities: Sequence[tuple[int, int] | None]) -> bool:
    """Whether to train in ``mixed_float16``: some GPUs, all with compute capability ≥ 7.0."""
    return bool(capabilities) and all(c is not None and tuple(c) >= TENSOR_CORES for c in capabilities)


@contextlib.contextmanager
def precision(capabilities: Sequence[tuple[int, int] | None] | None = None) -> Iterator[str]:
    """Set Keras's global dtype policy for a training, and restore it afterwards.

    Yields:
        ``"mixed_float16"`` or ``"float32"``.
    """
    import keras

    if capabilities is None:
        capabilities = gpu_capabilities()
    before = keras.mixed_precision.global_policy()
    policy = "mixed_float16" if mixed_precision_pays(capabilities) else "float32"
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(before)


def describe(strategy: Any, policy: str, capabilities: Sequence[tuple[int, int] | None] = ()) -> str:
    """One line: the devices the model trains on, and the precision."""
    import tensorflow as tf

    try:
        names = list(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy places on the first GPU, else the CPU
        gpus = tf.config.list_logical_devices("GPU")
        names = [(gpus or tf.config.list_logical_devices("CPU"))[0].name]
    short = [name.split("device:")[-1] for name in names]
    kinds = {s.split(":")[0] for s in short}
    gpu_note = ""
    if "GPU" in kinds and capabilities:
        gpu_note = " (compute capability " + ", ".join(
            "?" if c is None else f"{c[0]}.{c[1]}" for c in capabilities) + ")"
    elif "GPU" not in kinds:
        gpu_note = " (no GPU visible to TensorFlow)"
    return f"devices: {', '.join(short)}{gpu_note}; {policy}"


def _float32_config(config: Any) -> Any:
    """``config`` with every dtype policy replaced by float32 (nested models included)."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_config(value) for value in config]
    return config


def float32_model(model: Any) -> Any:
    """``model`` itself when every layer computes in float32, else a float32 twin with its
    weights (mixed-precision weights are float32 already, so they copy over exactly)."""
    import keras

    config = model.get_config()
    as_float32 = _float32_config(config)
    if as_float32 == config:
        return model
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = model.__class__.from_config(as_float32)
    finally:
        keras.mixed_precision.set_global_policy(before)
    twin.set_weights(model.get_weights())
    return twin
