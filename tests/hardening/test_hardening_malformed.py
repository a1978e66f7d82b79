"""Hostile model files: every malformed file ends as ModelInvalid, and pytest never dies.

The corpus (see ``hardening_corpus``) is generated from two real models: the
digits classifier (with edgekit metadata) and an int8 MobileNetV2. Structural
mutants are loaded in-process — the structural check must refuse them before
the native interpreter sees them. Bit-flip mutants that pass the check reach
the interpreter, so they are loaded in a worker process; a native crash there
is then loaded again with ``isolate=True`` and must become ModelInvalid.
Run with ``-s`` to see the per-class table.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

import hardening_corpus as hc
import pytest
import zoo
from hardening_native import native_outcomes

import edgekit
from edgekit._modelfile.validate import check_model
from edgekit.errors import ModelInvalid

EDGEKIT = str(Path(sys.executable).with_name("edgekit"))
PER_FILE_LIMIT = 5.0  # the bound for one malformed file; a hang guard, not a speed test


@pytest.fixture(scope="module")
def originals() -> dict[str, bytes]:
    return {
        "digits": zoo.digits_classifier("uint8").read_bytes(),
        "mobilenet": zoo.mobilenet_v2("int8").read_bytes(),
    }


@pytest.fixture(scope="module")
def structural_files(originals: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("structural")
    files = []
    for origin, data in originals.items():
        for cls, name, blob in hc.structural_corpus(data):
            path = root / f"{origin}-{cls}-{name}.tflite".replace("'", "").replace(" ", "_")
            path.write_bytes(blob)
            files.append((cls, path))
    return files


@pytest.fixture(scope="module")
def bitflip_files(originals: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("bitflip")
    plan = {"digits": (70, 70), "mobilenet": (30, 40)}  # (anywhere, structure-only) per origin
    files = []
    for origin, (anywhere, structure) in plan.items():
        data = originals[origin]
        mutants = list(hc.bitflip_mutants(data, anywhere, seed=11, structure_only=False))
        mutants += hc.bitflip_mutants(data, structure, seed=13, structure_only=True)
        for _, name, blob in mutants:
            path = root / f"{origin}-{name}.tflite"
            path.write_bytes(blob)
            files.append(path)
    return files


def test_corpus_holds_at_least_200_malformed_files(structural_files, bitflip_files) -> None:
    classes = collections.Counter(cls for cls, _ in structural_files)
    print(f"\nstructural corpus: {len(structural_files)} files {dict(classes)}; "
          f"bit-flip mutants: {len(bitflip_files)}")
    assert len(structural_files) >= 200
    assert set(classes) == set(hc.STRUCTURAL)


def test_every_structurally_malformed_file_is_refused_with_path_and_reason(structural_files) -> None:
    failures, slowest = [], 0.0
    for cls, path in structural_files:
        t0 = time.perf_counter()
        try:
            edgekit.load(path)
        except ModelInvalid as exc:
            message = str(exc)
            if not message.startswith(f"{path}: ") or len(message) <= len(str(path)) + 8:
                failures.append(f"{cls} {path.name}: message lacks path or reason: {message!r}")
        except Exception as exc:  # noqa: BLE001 - any other outcome is the failure reported
            failures.append(f"{cls} {path.name}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{cls} {path.name}: loaded")
        slowest = max(slowest, time.perf_counter() - t0)
    print(f"\nslowest refusal: {slowest * 1e3:.1f} ms")
    assert not failures, "\n".join(failures)
    assert slowest < PER_FILE_LIMIT


def test_structural_refusals_happen_before_the_native_interpreter(structural_files) -> None:
    """check_model alone refuses each one, so the interpreter never parses them."""
    accepted = []
    for cls, path in structural_files:
        try:
            check_model(path.read_bytes(), str(path))
        except ModelInvalid:
            continue
        accepted.append(f"{cls} {path.name}")
    assert not accepted


@pytest.fixture(scope="module")
def bitflip_results(bitflip_files: list[Path]) -> dict[Path, str]:
    """Each bit-flip mutant → how it ended (``structural`` or a native outcome)."""
    ended: dict[Path, str] = {}
    survivors = []
    for path in bitflip_files:
        try:
            check_model(path.read_bytes(), str(path))
        except ModelInvalid:
            ended[path] = "structural: ModelInvalid"
            continue
        survivors.append(path)
    for path, outcome in zip(survivors, native_outcomes(survivors)):
        ended[path] = f"{outcome.kind}: {outcome.detail}"
        if outcome.seconds > PER_FILE_LIMIT:
            ended[path] = f"slow: {outcome.seconds:.1f} s ({outcome.kind})"
    table = collections.Counter(_label(v) for v in ended.values())
    print(f"\nbit-flip mutants ({len(bitflip_files)}): {dict(sorted(table.items()))}")
    return ended


def _label(outcome: str) -> str:
    kind, _, detail = outcome.partition(": ")
    if kind == "error":
        return f"error {detail.split(':')[0]}"
    if kind == "unexpected":
        return f"unexpected {' '.join(detail.split(':')[0].split()[:2])}"
    return kind


def test_bitflip_mutants_end_as_model_invalid_incompatible_or_load(bitflip_results) -> None:
    bad = {p.name: v for p, v in bitflip_results.items()
           if v.startswith(("hang", "slow", "unexpected: load"))}
    assert not bad, bad


def test_native_crashes_among_bitflip_mutants_become_model_invalid_with_isolate(bitflip_results) -> None:
    crashed = [p for p, v in bitflip_results.items() if v.startswith("crash")]
    for path in crashed:
        with pytest.raises(ModelInvalid, match=r"crashed \(SIG\w+\)") as info:
            edgekit.load(path, isolate=True, threads=1)
        assert str(path) in str(info.value)
    print(f"\nnative crashes found and isolated: {len(crashed)}")


def test_predict_on_bitflipped_models_raises_only_edgekit_errors(bitflip_results) -> None:
    bad = {p.name: v for p, v in bitflip_results.items() if v.startswith("unexpected")}
    assert not bad, bad


def test_inspect_exits_4_naming_the_file_for_malformed_models(structural_files) -> None:
    by_class: dict[str, Path] = {}
    for cls, path in structural_files:
        by_class.setdefault(cls, path)
    for cls, path in by_class.items():
        proc = subprocess.run([EDGEKIT, "inspect", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 4, (cls, proc.returncode, proc.stderr)
        assert proc.stderr.startswith(f"ModelInvalid: {path}: "), proc.stderr
        assert "Traceback" not in proc.stderr
