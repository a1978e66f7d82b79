"""``edgekit batch`` on the command line (in-process through click's runner)."""

from __future__ import annotations

import csv
import json
import os

import pytest
from batch_data import CORRUPT
from click.testing import CliRunner

import edgekit
import edgekit.model
from edgekit.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def read_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_writes_one_row_per_input_in_order_and_a_summary(model_path, image_folder, tmp_path):
    out = tmp_path / "results.jsonl"

    code, stdout, stderr = run(str(model_path), str(image_folder.root), "--out", str(out))

    assert code == 0, stderr
    rows = read_rows(out)
    names = [os.path.relpath(r["input"], image_folder.root) for r in rows]
    assert names == list(image_folder.files)
    errors = {os.path.relpath(r["input"], image_folder.root): r["error"]["type"]
              for r in rows if "error" in r}
    assert errors == CORRUPT
    assert stdout == ""
    failed = len(CORRUPT)
    assert f"{len(rows)} processed, {failed} failed" in stderr
    assert "items/s" in stderr and "labels: " in stderr


def test_cli_without_out_prints_json_lines_on_stdout(model_path, image_folder):
    paths = image_folder.paths()[:7]

    code, stdout, _ = run(str(model_path), *paths, "--workers", "1")

    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [r["input"] for r in rows] == paths
    assert all(set(r) >= {"input", "task", "latency_ms"} for r in rows)


def test_cli_csv_output_has_flat_columns(model_path, image_folder, tmp_path):
    out = tmp_path / "results.csv"

    code, _, stderr = run(str(model_path), str(image_folder.root / "digits"), "-o", str(out))

    assert code == 0, stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    digits = {os.path.relpath(r["input"], image_folder.root): r for r in rows}
    truncated = digits["digits/d0100_truncated.jpg"]
    assert truncated["error_type"] == "ImageUnreadable" and truncated["label"] == ""
    scored = [r for r in rows if r["task"] == "classify"]
    assert len(scored) == len(image_folder.digit_labels)
    hits = sum(int(digits[name]["id"]) == label
               for name, label in image_folder.digit_labels.items())
    assert hits >= 0.9 * len(scored)
    assert all(float(r["latency_ms"]) > 0 for r in scored)


def test_cli_refuses_an_existing_out_without_resume_or_force(model_path, image_folder, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"input": "x"}\n')

    code, _, stderr = run(str(model_path), image_folder.paths()[0], "--out", str(out))

    assert code == 2
    assert "ConfigError: --out" in stderr and "--resume" in stderr and "--force" in stderr
    assert out.read_text() == '{"input": "x"}\n'


def test_cli_force_overwrites_and_resume_of_a_finished_run_adds_nothing(model_path, image_folder,
                                                                         tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"input": "old"}\n')
    paths = image_folder.paths()[:12]

    assert run(str(model_path), *paths, "--out", str(out), "--force")[0] == 0
    first = out.read_text()
    code, _, stderr = run(str(model_path), *paths, "--out", str(out), "--resume")

    assert code == 0
    assert out.read_text() == first
    assert [r["input"] for r in read_rows(out)] == paths
    assert "0 processed" in stderr and "12 already done (--resume)" in stderr


def test_cli_resume_processes_only_what_is_missing(model_path, image_folder, tmp_path):
    out = tmp_path / "results.jsonl"
    paths = image_folder.paths()[:20]
    assert run(str(model_path), *paths[:8], "--out", str(out))[0] == 0

    code, _, stderr = run(str(model_path), *paths, "--out", str(out), "--resume")

    assert code == 0
    assert [r["input"] for r in read_rows(out)] == paths
    assert "12 processed" in stderr


def test_cli_reads_inputs_from_a_list_file_and_videos_with_every(model_path, image_folder,
                                                                 tmp_path):
    from batch_data import write_video

    video = tmp_path / "clip.mp4"
    write_video(video, 9)
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{image_folder.paths()[0]}\n{video}\n")

    code, stdout, _ = run(str(model_path), "--list", str(listing), "--every", "4")

    assert code == 0
    keys = [(r["input"], r.get("frame")) for r in map(json.loads, stdout.splitlines())]
    assert keys == [(image_folder.paths()[0], None), (str(video), 0), (str(video), 4),
                    (str(video), 8)]


def test_cli_progress_bar_can_be_forced_without_a_terminal(model_path, image_folder, tmp_path):
    out = tmp_path / "results.jsonl"

    code, _, stderr = run(str(model_path), str(image_folder.root / "photos"), "--out", str(out),
                          "--progress")

    assert code == 0
    assert len(read_rows(out)) == len([f for f in image_folder.files if f.startswith("photos/")])
    assert "batch" in stderr and "processed" in stderr


def test_cli_needs_inputs(model_path):
    code, _, stderr = run(str(model_path))

    assert code == 2
    assert "give INPUTS or --list FILE" in stderr


def test_cli_default_model_is_the_bundled_one(image_folder):
    if not os.path.exists(edgekit.default_model_path()):
        pytest.skip("edgekit/data/digits_int8.tflite is not built yet (trainer helper)")

    code, stdout, _ = run("default", image_folder.paths()[0])

    assert code == 0
    assert json.loads(stdout)["input"] == image_folder.paths()[0]


def test_cli_names_the_missing_default_model(image_folder, monkeypatch, tmp_path):
    missing = str(tmp_path / "digits_int8.tflite")
    monkeypatch.setattr(edgekit.model, "default_model_path", lambda: missing)

    code, _, stderr = run("default", image_folder.paths()[0])

    assert code == 3
    assert f"ModelNotFound: {missing}: no such file" in stderr


def test_cli_fast_decode_gives_the_same_rows_in_the_same_order(model_path, image_folder, tmp_path):
    exact, fast = tmp_path / "exact.jsonl", tmp_path / "fast.jsonl"

    assert run(str(model_path), str(image_folder.root), "--out", str(exact))[0] == 0
    assert run(str(model_path), str(image_folder.root), "--out", str(fast), "--fast-decode")[0] == 0

    exact_rows, fast_rows = read_rows(exact), read_rows(fast)
    assert [r["input"] for r in fast_rows] == [r["input"] for r in exact_rows]
    assert [r.get("error") for r in fast_rows] == [r.get("error") for r in exact_rows]


@pytest.mark.parametrize(("inputs", "reason"), [
    (["nothere/"], "nothere/: no such file"),
    (["nothere/*.png"], "nothere/*.png: pattern matches no file"),
    ([], "the inputs hold no file"),  # an empty folder, added below
])
def test_cli_with_nothing_to_do_is_an_input_error(model_path, tmp_path, monkeypatch, inputs, reason):
    monkeypatch.chdir(tmp_path)
    if not inputs:
        (tmp_path / "empty").mkdir()
        inputs = ["empty"]

    code, _, stderr = run(str(model_path), *inputs)

    assert code == 7
    assert stderr.strip().splitlines()[-1] == f"InputError: nothing to do: {reason}"


def test_cli_with_one_real_input_among_missing_ones_finishes_with_0(model_path, image_folder, tmp_path):
    code, stdout, _ = run(str(model_path), image_folder.paths()[0], str(tmp_path / "nothere.png"))

    assert code == 0
    assert len(stdout.splitlines()) == 2, "the missing one is an error row"


def test_cli_refuses_a_list_file_that_does_not_exist_before_loading(tmp_path):
    code, _, stderr = run(str(tmp_path / "no-model.tflite"), "--list", str(tmp_path / "no.txt"))

    assert code == 2 and f"ConfigError: --list {tmp_path / 'no.txt'}: no such file" in stderr
