"""``engine="ray"``: a Ray Data ``map_batches`` step giving the same rows as the local engine."""

from __future__ import annotations

import sys

import pytest
from batch_data import CORRUPT, write_video

import edgekit
from edgekit._batch.writers import row
from edgekit.errors import ExtraMissing


def without_latency(result) -> dict:
    data = row(result)
    data.pop("latency_ms", None)
    return data


def test_engine_ray_without_ray_names_the_extra(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError

    with pytest.raises(ExtraMissing, match=r"^engine=\"ray\" needs ray\[data\]: install the 'ray' extra "
                                           r"\(pip install 'edgekit-tflite\[ray\]'"):
        edgekit.batch(model, ["x.jpg"], engine="ray")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own DataContext warnings
@pytest.mark.slow  # starts a local Ray cluster
def test_engine_ray_rows_equal_the_local_engine_rows(model, image_folder, tmp_path):
    ray = pytest.importorskip("ray")
    video = tmp_path / "clip.mp4"
    write_video(video, 7)
    corrupt = [str(image_folder.root / name) for name in CORRUPT]
    inputs = [*image_folder.paths()[:: len(image_folder.files) // 12], *corrupt, str(video),
              str(tmp_path / "missing.png")]
    local = [without_latency(r) for r in edgekit.batch(model, inputs, every=3)]
    done = {(inputs[0], None), (inputs[3], None), (str(video), 3)}  # as --resume would pass
    local_rest = [without_latency(r) for r in edgekit.batch(model, inputs, every=3, skip=done)]

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = [without_latency(r) for r in edgekit.batch(model, inputs, every=3, engine="ray",
                                                             workers=1)]
        remote_rest = [without_latency(r) for r in edgekit.batch(
            model, inputs, every=3, engine="ray", workers=1, skip=done)]
    finally:
        ray.shutdown()

    assert remote == local
    assert remote_rest == local_rest
    assert len(remote_rest) == len(remote) - len(done)
    assert sum("error" in r for r in remote) == len(corrupt) + 1
    assert [r.get("frame") for r in remote if r["input"] == str(video)] == [0, 3, 6]
