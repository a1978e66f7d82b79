"""The local engine's interpreter pool: replicas of the model shared by the workers."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

import edgekit
import edgekit._batch.engine as batching
from edgekit._batch.work import key_of
from edgekit.cli import cli
from edgekit.errors import ConfigError


@pytest.fixture()
def used(monkeypatch):
    """Every model ``complete`` ran an item on, and every replica the pipeline made."""
    seen: list[object] = []
    replicas: list[object] = []
    complete, replica = batching.complete, edgekit.Model.replica

    def recording_complete(model, ready):
        seen.append(model)
        return complete(model, ready)

    def recording_replica(self):
        made = replica(self)
        replicas.append(made)
        return made

    monkeypatch.setattr(batching, "complete", recording_complete)
    monkeypatch.setattr(edgekit.Model, "replica", recording_replica)
    return seen, replicas


@pytest.mark.parametrize(("workers", "interpreters"), [(1, 1), (2, 1), (2, 2), (3, 3), (4, 2)])
def test_every_pool_size_gives_the_same_rows_in_the_same_order(model, image_folder, used,
                                                               workers, interpreters):
    paths = image_folder.paths()[:60]
    reference = [r.to_dict() for r in edgekit.batch(model, paths, workers=0)]

    results = list(edgekit.batch(model, paths, workers=workers, interpreters=interpreters))

    rows = [r.to_dict() for r in results]
    for row in rows + reference:
        row.get("latency_ms", {}).clear()
    assert rows == reference
    seen, replicas = used
    assert len(replicas) == interpreters - 1
    assert {id(m) for m in seen} == {id(m) for m in [model, *replicas]}  # all of them worked
    assert all(r.closed for r in replicas) and not model.closed


def test_workers_never_outnumber_the_interpreters_they_are_given(model, image_folder, used):
    list(edgekit.batch(model, image_folder.paths()[:10], workers=1, interpreters=3))
    assert used[1] == []  # one worker: a replica would never be used


def test_leaving_the_loop_early_closes_the_replicas(model, image_folder, used):
    results = edgekit.batch(model, [image_folder.root], workers=2, interpreters=2)
    next(results)
    results.close()
    replicas = used[1]
    assert len(replicas) == 1 and replicas[0].closed and not model.closed


@pytest.mark.parametrize(("cores", "threads", "expected"), [
    (4, None, 4), (4, 1, 4), (4, 2, 2), (4, 4, 1), (4, 8, 1), (1, None, 1), (32, 1, 8),
])
def test_default_interpreters_fill_the_cores(monkeypatch, cores, threads, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert batching.default_interpreters(threads) == expected


def test_a_two_thread_model_gets_fewer_replicas_by_default(model_path, image_folder, used,
                                                           monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    with edgekit.load(model_path, threads=2) as model:
        results = list(edgekit.batch(model, image_folder.paths()[:8]))
    assert len(results) == 8 and len(used[1]) == 1  # 4 cores / 2 threads = 2 interpreters


def test_interpreters_below_one_is_refused(model):
    with pytest.raises(ConfigError, match="interpreters must be at least 1, got 0"):
        edgekit.batch(model, ["x.jpg"], interpreters=0)


def test_cli_interpreters_option_runs_and_is_refused_for_ray(model_path, image_folder, tmp_path):
    out = tmp_path / "rows.jsonl"
    paths = image_folder.paths()[:12]
    result = CliRunner().invoke(cli, ["batch", str(model_path), *paths, "--out", str(out),
                                      "--workers", "2", "--interpreters", "2"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 12

    result = CliRunner().invoke(cli, ["batch", str(model_path), *paths, "--engine", "ray",
                                      "--interpreters", "2"])
    assert result.exit_code == 2 and "--interpreters is for --engine local" in result.output


def test_keys_follow_input_order_with_more_interpreters_than_cores(model, image_folder):
    paths = image_folder.paths()[:40]
    keys = [key_of(r) for r in edgekit.batch(model, paths, workers=4, interpreters=4)]
    assert [k[0] for k in keys] == paths


@pytest.mark.parametrize(("extra", "replicas"), [((), 3), (("--threads", "2"), 1),
                                                 (("--threads", "4"), 0)])
def test_cli_runs_one_single_thread_interpreter_per_core_unless_told_threads(
        model_path, image_folder, used, monkeypatch, extra, replicas):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    result = CliRunner().invoke(cli, ["batch", str(model_path), *image_folder.paths()[:8],
                                      *extra])
    assert result.exit_code == 0, result.output
    assert len(used[1]) == replicas
    assert all(m.info.threads == int(dict(zip(extra[::2], extra[1::2])).get("--threads", 1))
               for m in used[0])


def test_cli_device_profile_picks_no_threads_for_batch(model_path, image_folder, used,
                                                      monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    result = CliRunner().invoke(cli, ["batch", str(model_path), *image_folder.paths()[:8],
                                      "--device", "rpi-4b"])
    assert result.exit_code == 0, result.output
    assert len(used[1]) == 3 and all(m.info.threads == 1 for m in used[0])


@pytest.mark.parametrize("in_main_thread", [True, False])
def test_ctrl_c_while_an_item_is_worked_on_ends_the_run_and_its_threads(
        model, image_folder, monkeypatch, in_main_thread):
    import threading

    prepare = batching.prepare
    paths = image_folder.paths()[:40]

    def interrupted(model, task, fast=False):
        on_main = threading.current_thread() is threading.main_thread()
        if task.input == paths[20] and on_main == in_main_thread:
            raise KeyboardInterrupt
        return prepare(model, task, fast)

    monkeypatch.setattr(batching, "prepare", interrupted)
    interrupted_runs = 0
    for _ in range(30):  # which thread takes item 20 varies from run to run
        got: list[object] = []
        try:
            for result in edgekit.batch(model, paths, workers=2, interpreters=2):
                got.append(result)
        except KeyboardInterrupt:
            interrupted_runs += 1
            assert len(got) <= 20 and [r.input for r in got] == paths[:len(got)]
        else:
            assert len(got) == len(paths)  # the other thread took item 20: a full, normal run
        assert not [t for t in threading.enumerate() if t.name.startswith("edgekit-batch")]
        if interrupted_runs == 3:
            break
    assert interrupted_runs == 3
