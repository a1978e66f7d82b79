"""A zip appended to a model is untrusted: labels and members are capped before anything is built.

Regression: a 50-byte Ultralytics ``metadata.json`` naming class ``20000000`` made
``edgekit.load`` build twenty million labels (11.7 s, 1.4 GB) before the model ran.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tinymodels

import edgekit
from edgekit._modelfile import labels as lb
from edgekit._modelfile import reader

MiB = 1024 * 1024
# Loading the plain tiny model costs ~20 MB of RSS; the unbounded table cost 1.4 GB.
LOAD_RSS_BOUND_MB = 150

_MEASURE = textwrap.dedent("""
    import json, resource, sys
    import edgekit
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = edgekit.load(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_mb": (after - before) / 1024, "labels": len(model.labels)}))
""")


def _load_in_child(path: Path) -> dict[str, float]:
    """Load ``path`` in a fresh interpreter; its peak RSS growth (MB) and label count."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    return tinymodels.with_zip(b"", files, compression)


def test_a_huge_ultralytics_label_id_loads_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "crafted.tflite"
    path.write_bytes(tinymodels.with_zip(tinymodels.classifier(3),
                                         {"metadata.json": b'{"names": {"20000000": "x"}}'}))
    measured = _load_in_child(path)
    assert measured["rss_mb"] < LOAD_RSS_BOUND_MB, measured
    assert measured["labels"] == 0  # id 20000000 names no output of a 3-class model


def test_ultralytics_ids_the_outputs_can_address_are_kept() -> None:
    names = tinymodels.ultralytics_names({"0": "cat", "2": "dog", "9999999": "bogus"})
    model = edgekit.load(tinymodels.with_zip(tinymodels.classifier(3), {"metadata.json": names}))
    assert model.labels == ("cat", "1", "dog")
    with model:
        top = model.predict(np.zeros((16, 16, 3), np.uint8)).classes[0]
    assert (top.id, top.label) == (2, "dog")


def test_label_limit_follows_the_largest_output_dimension() -> None:
    assert lb.label_limit([(1, 3)]) == lb.MIN_LABEL_LIMIT  # post-processed outputs hide C
    assert lb.label_limit([(1, 21843)]) == 21843
    assert lb.label_limit([(1, 84, 8400)]) == 8400
    assert lb.label_limit([(1, 10**9)]) == lb.MAX_LABELS


def test_zipped_label_files_are_cut_at_the_limit() -> None:
    text = "\n".join(f"label{i}" for i in range(50)).encode()
    assert len(lb.labels_from_zip({"labels.txt": text}, limit=20)) == 20
    names = tinymodels.ultralytics_names([f"n{i}" for i in range(50)])
    assert lb.labels_from_zip({"metadata.json": names}, limit=20) == tuple(f"n{i}" for i in range(20))


def test_numbered_labels_with_an_id_past_the_limit_are_plain_lines() -> None:
    assert lb.parse_labels("0 cat\n5000 dog", limit=100) == ("0 cat", "5000 dog")
    assert lb.parse_labels("0 cat\n2 dog", limit=100) == ("cat", "1", "dog")


def test_a_label_id_too_long_for_int_is_a_plain_line() -> None:
    assert lb.parse_labels("0 cat\n" + "9" * 5000 + " dog")[0] == "0 cat"
    assert lb.labels_from_zip({"metadata.json": b'{"names": {"' + b"9" * 5000 + b'": "x"}}'}) == ()


def test_a_zip_with_too_many_members_is_ignored() -> None:
    many = _zip({f"f{i}.txt": b"x" for i in range(reader.ZIP_MAX_MEMBERS + 1)})
    assert reader.zip_files(many) == {}
    assert len(reader.zip_files(_zip({f"f{i}.txt": b"x" for i in range(8)}))) == 8


def test_members_over_the_size_cap_are_skipped_and_the_rest_read() -> None:
    big = np.random.default_rng(0).bytes(reader.ZIP_MAX_MEMBER_BYTES + 1)
    files = reader.zip_files(_zip({"big.bin": big, "labels.txt": b"a\nb"}, zipfile.ZIP_STORED))
    assert files == {"labels.txt": b"a\nb"}


def test_reading_stops_at_the_total_cap() -> None:
    rng = np.random.default_rng(1)
    chunk = reader.ZIP_MAX_MEMBER_BYTES - 1024
    count = reader.ZIP_MAX_TOTAL_BYTES // chunk + 2
    files = reader.zip_files(_zip({f"m{i}.bin": rng.bytes(chunk) for i in range(count)},
                                  zipfile.ZIP_STORED))
    assert len(files) == reader.ZIP_MAX_TOTAL_BYTES // chunk
    assert sum(map(len, files.values())) <= reader.ZIP_MAX_TOTAL_BYTES


def test_a_deflate_bomb_is_skipped_without_inflating_it() -> None:
    bomb = _zip({"labels.txt": b"\0" * (reader.ZIP_MAX_MEMBER_BYTES - 1), "ok.txt": b"cat"})
    assert len(bomb) < 16 * 1024  # ~1000x
    tracemalloc.start()
    try:
        files = reader.zip_files(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert files == {"ok.txt": b"cat"}
    assert peak < 1 * MiB


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Patch the local header and the central directory to announce ``size`` bytes for ``name``."""
    out = bytearray(data)
    at = out.find(b"PK\x03\x04")
    struct.pack_into("<I", out, at + 22, size)
    central = out.find(b"PK\x01\x02")
    assert out[central + 46 : central + 46 + len(name)] == name
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_a_member_inflating_past_its_announced_size_is_dropped_in_bounded_memory() -> None:
    bomb = _lie_about_size(_zip({"labels.txt": b"\0" * (64 * MiB)}), b"labels.txt", 1000)
    tracemalloc.start()
    try:
        files = reader.zip_files(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert files == {}
    assert peak < 2 * MiB


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_members_compressed_without_an_output_bound_are_skipped(compression: int) -> None:
    data = _zip({"labels.txt": b"cat\ndog"}, compression)
    assert zipfile.ZipFile(io.BytesIO(data)).read("labels.txt") == b"cat\ndog"  # readable here
    assert reader.zip_files(data) == {}


def test_a_model_without_a_zip_has_no_zip_files() -> None:
    assert reader.zip_files(tinymodels.classifier(3)) == {}
    assert reader.zip_files(b"PK\x05\x06" + bytes(10)) == {}  # a truncated end record
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("labels.txt", "cat")
    assert reader.zip_files(b"junk" + buf.getvalue()) == {"labels.txt": b"cat"}
