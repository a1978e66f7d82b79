"""Output files: refusal of an existing ``--out``, partial-line recovery, CSV flattening."""

from __future__ import annotations

import csv
import json

import pytest

from edgekit._batch.engine import FrameError
from edgekit._batch.writers import CSV_COLUMNS, csv_row, open_writer, recover, row
from edgekit.errors import ConfigError
from edgekit.results import BBox, Classification, Detection, FrameResult, ItemError, Latency, Prediction

PRED = Prediction("classify", (Classification(3, "three", 0.97), Classification(8, "eight", 0.02)),
                  latency=Latency(pre=1.0, invoke=2.0, post=0.5), input="a/b.jpg")
DET = Prediction("detect", detections=(Detection(0, "person", 0.88, BBox(1, 2, 30, 40)),),
                 input="c.jpg")
ERR = ItemError("bad.jpg", "ImageUnreadable", "bad.jpg: not a decodable image (5 bytes)")
FRAME = FrameResult(12, 1.2, "v.mp4", Prediction("classify", (Classification(1, "one", 0.5),),
                                                  input="v.mp4"))


def lines(path):
    return path.read_text(encoding="utf-8").split("\n")


def test_existing_out_is_refused_naming_resume_and_force(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"input":"x"}\n')

    with pytest.raises(ConfigError, match=r"r\.jsonl exists; pass --resume .* or --force"):
        open_writer(str(out))


@pytest.mark.parametrize(("out", "kwargs", "message"), [
    ("r.jsonl", {"resume": True, "force": True}, "--resume and --force exclude each other"),
    (None, {"resume": True}, "--resume needs --out"),
    ("r.txt", {}, r"the suffix must be \.jsonl \(JSON lines\) or \.csv"),
])
def test_open_writer_rejects_contradictory_options(tmp_path, out, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        open_writer(None if out is None else str(tmp_path / out), **kwargs)


def test_jsonl_writer_flushes_each_line_as_it_is_written(tmp_path):
    out = tmp_path / "r.jsonl"
    writer, done = open_writer(str(out))
    assert done == set()

    writer.write(PRED)
    writer.write(FRAME)
    visible = lines(out)  # before close: the lines must already be in the file
    writer.close()

    assert [json.loads(line) for line in visible[:-1]] == [row(PRED), row(FRAME)]
    assert row(FRAME) == {"input": "v.mp4", "frame": 12, "task": "classify",
                          "classes": [{"id": 1, "label": "one", "score": 0.5}],
                          "latency_ms": {"age": 0.0, "pre": 0.0, "invoke": 0.0, "post": 0.0,
                                         "total": 0.0}}


def test_recover_cuts_a_partial_last_line_and_returns_the_done_keys(tmp_path):
    out = tmp_path / "r.jsonl"
    full = "".join(json.dumps(row(r)) + "\n" for r in (PRED, ERR, FRAME))
    out.write_text(full + '{"input": "half-writ')

    done = recover(str(out), "jsonl")

    assert done == {("a/b.jpg", None), ("bad.jpg", None), ("v.mp4", 12)}
    assert out.read_text() == full


def test_resume_appends_after_the_recovered_rows(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(row(PRED)) + "\n" + '{"inp')

    writer, done = open_writer(str(out), resume=True)
    writer.write(ERR)
    writer.close()

    assert done == {("a/b.jpg", None)}
    assert [json.loads(line) for line in lines(out) if line] == [row(PRED), row(ERR)]


def test_recover_refuses_a_file_with_a_broken_line_before_the_end(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(row(PRED)) + "\nnot json\n" + json.dumps(row(ERR)) + "\n")

    with pytest.raises(ConfigError, match=r"r\.jsonl:2: not an edgekit batch row"):
        recover(str(out), "jsonl")


def test_csv_rows_are_flat_one_line_each(tmp_path):
    out = tmp_path / "r.csv"
    writer, _ = open_writer(str(out))
    multiline = ItemError("n.jpg", "ImageUnreadable", "first line\nsecond, \"quoted\"")
    for result in (PRED, DET, ERR, FRAME, multiline):
        writer.write(result)
    writer.close()

    text = lines(out)
    assert len([t for t in text if t]) == 6
    rows = list(csv.DictReader(text[:-1]))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert (rows[0]["input"], rows[0]["label"], rows[0]["id"], rows[0]["score"]) == \
        ("a/b.jpg", "three", "3", "0.97")
    assert rows[0]["latency_ms"] == "3.5" and rows[0]["frame"] == ""
    assert json.loads(rows[1]["detections"]) == [{"id": 0, "label": "person", "score": 0.88,
                                                  "box": [1.0, 2.0, 30.0, 40.0]}]
    assert (rows[2]["error_type"], rows[2]["task"]) == ("ImageUnreadable", "")
    assert (rows[3]["input"], rows[3]["frame"]) == ("v.mp4", "12")
    assert rows[4]["error_message"] == 'first line second, "quoted"'


def test_csv_resume_cuts_a_partial_row_and_keeps_the_header(tmp_path):
    out = tmp_path / "r.csv"
    writer, _ = open_writer(str(out))
    writer.write(PRED)
    writer.write(FRAME)
    writer.close()
    with open(out, "a") as handle:
        handle.write("half,a,row")

    writer, done = open_writer(str(out), resume=True)
    writer.write(ERR)
    writer.close()

    assert done == {("a/b.jpg", None), ("v.mp4", 12)}
    rows = list(csv.DictReader(lines(out)[:-1]))
    assert [r["input"] for r in rows] == ["a/b.jpg", "v.mp4", "bad.jpg"]


def test_csv_resume_refuses_a_foreign_csv(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("name,value\nx,1\n")

    with pytest.raises(ConfigError, match="not edgekit's batch CSV header"):
        open_writer(str(out), resume=True)


def test_frame_errors_keep_their_frame_in_csv(tmp_path):
    data = row(FrameError("v.mp4", "InputError", "v.mp4: frame 4 could not be decoded", 4))

    assert csv_row(data)[:2] == ["v.mp4", "4"]
