"""``edgekit evaluate`` on the device: the runtime alone, the chance guard, and no file unasked.

Real data: scikit-learn's handwritten digits as a labelled folder, the bundled int8 digits model.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgekit
from edgekit._evaluate.folder import check_trainable, folder_warnings
from edgekit._evaluate.metrics import chance_check
from edgekit.cli import cli
from edgekit.errors import ConfigError, DatasetError


def _digit_folder(root: Path, per_class: int = 12, classes: tuple[int, ...] = tuple(range(10)),
                  mislabel: dict[int, int] | None = None) -> Path:
    """``root/<digit>/<n>.png`` from real digits; ``mislabel={a: b}`` fills folder ``a`` with ``b``s."""
    import cv2
    import zoo

    x, y = zoo.digits()
    for cls in classes:
        folder = root / str(cls)
        folder.mkdir(parents=True, exist_ok=True)
        source = (mislabel or {}).get(cls, cls)
        for i in np.flatnonzero(y == source)[-per_class:]:
            cv2.imwrite(str(folder / f"{i:04d}.png"), x[i])
    return root


def test_evaluate_runs_without_tensorflow_the_trainer_or_matplotlib(tmp_path: Path) -> None:
    data = _digit_folder(tmp_path / "digits", per_class=5)
    code = (
        "import json, sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['evaluate', 'default', {str(data)!r}, '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'edgekit_trainer', 'matplotlib'))\n"
        "print(json.dumps({'code': r.exit_code, 'heavy': heavy, 'out': r.output.splitlines()[-1]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["code"] == 0 and found["heavy"] == []
    report = json.loads(found["out"])
    assert report["samples"] == 50 and report["accuracy"] >= 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]  # nothing written into the cwd


def test_evaluate_reports_the_majority_class_rate_next_to_accuracy(tmp_path: Path) -> None:
    from edgekit._evaluate import render_report

    data = _digit_folder(tmp_path / "d", per_class=10, classes=(0, 1, 2))
    report = edgekit.evaluate(edgekit.default_model_path(), data)
    assert report.samples == 30 and report.majority_rate == pytest.approx(1 / 3)
    assert report.chance.passed and report.to_dict()["above_chance"] is True
    assert re.search(r"accuracy \d+\.\d\d% \(majority-class rate 33.33%\)", render_report(report))


def test_a_model_that_answers_one_class_is_flagged_by_evaluate(tmp_path: Path) -> None:
    data = _digit_folder(tmp_path / "d", per_class=15, classes=(0, 1), mislabel={1: 0})  # folder 1 holds zeros
    result = CliRunner().invoke(cli, ["evaluate", "default", str(data)])
    assert result.exit_code == 0, result.output
    assert "accuracy 50.00% (majority-class rate 50.00%)" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("WARNING: accuracy 50.0% on 30 images is not clearly above the majority-class rate")
    assert "answers one class for every image" in last


def test_evaluate_writes_the_figure_and_report_only_into_out_and_never_over_them(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = _digit_folder(tmp_path / "d", per_class=4)
    out = tmp_path / "eval"
    first = CliRunner().invoke(cli, ["evaluate", "default", str(data), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "report.json"]
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report.json").read_text())["samples"] == 40
    before = (out / "report.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, ["evaluate", "default", str(data), "--out", str(out)])
    assert again.exit_code == 2
    assert again.output.strip().splitlines()[-1] == (
        f"ConfigError: --out {out}: confusion.png, report.json already there; pass --force to overwrite")
    assert (out / "report.json").stat().st_mtime_ns == before
    forced = CliRunner().invoke(cli, ["evaluate", "default", str(data), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output


def test_evaluate_of_an_empty_folder_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "default", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"DatasetError: {tmp_path.resolve()}: empty, no class folders " \
                                    f"(expected {tmp_path.resolve()}/<class>/<image>)"


def test_chance_check_needs_two_standard_errors_above_the_majority_rate() -> None:
    y = np.array([0] * 19 + [1] * 19)  # 38 validation images, 50 %: the line is 50 + 16.2 = 66.2 %
    at_chance = chance_check(y, np.zeros_like(y))
    assert not at_chance.passed and at_chance.predicted == 1
    assert at_chance.threshold == pytest.approx(0.5 + 2 * np.sqrt(0.25 / 38))
    assert "answers one class for every image" in at_chance.describe()
    right_25, right_26 = y.copy(), y.copy()
    right_25[:13] = 1  # 25/38 = 65.8 %
    right_26[:12] = 1  # 26/38 = 68.4 %
    assert not chance_check(y, right_25).passed
    assert chance_check(y, right_26).passed
    assert chance_check(y, y).passed


def test_chance_check_on_unbalanced_classes_demands_more_than_the_big_class() -> None:
    y = np.array([0] * 95 + [1] * 5)
    assert not chance_check(y, np.zeros_like(y)).passed  # 95 % accuracy, all "0"
    assert chance_check(y, y).passed  # perfect is always above chance
    assert chance_check(np.zeros(10, np.int64), np.zeros(10, np.int64)).passed  # one class: nothing to judge


def test_check_trainable_refuses_one_class_and_single_image_classes(tmp_path: Path) -> None:
    one = _digit_folder(tmp_path / "one", per_class=3, classes=(4,))
    with pytest.raises(DatasetError, match=r"only one class \('4'\)"):
        check_trainable(one)
    single = _digit_folder(tmp_path / "single", per_class=3, classes=(1, 2))
    for extra in list((single / "2").iterdir())[1:]:
        extra.unlink()
    with pytest.raises(DatasetError, match=r"with a single image: 2 \(each class needs at least 2"):
        check_trainable(single)
    (single / "3").mkdir()
    (single / "3" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match="with no image files: 3"):
        check_trainable(single)


def test_folder_warnings_name_tiny_and_outnumbered_classes(tmp_path: Path) -> None:
    data = _digit_folder(tmp_path / "d", per_class=150, classes=(0,))
    _digit_folder(data, per_class=5, classes=(1,))
    classes, sizes = check_trainable(data)
    assert classes == ("0", "1") and sizes == {"0": 150, "1": 5}
    few, unbalanced = folder_warnings(data, sizes)
    assert few == f"{data.resolve()}: few images in 1 (5); aim for 10+ per class, ideally 50+"
    assert unbalanced.startswith(f"{data.resolve()}: unbalanced classes, 0 has 150 images and 1 only 5 (30:1)")


def test_output_paths_refuse_a_file_as_out_folder_and_an_existing_figure(tmp_path: Path) -> None:
    from edgekit.cli.evaluate import output_paths

    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        output_paths(str(target), None, force=True)
    assert output_paths(None, None, force=False) == (None, None)
    with pytest.raises(ConfigError, match=f"--confusion {target}: already there; pass --force"):
        output_paths(None, str(target), force=False)
    assert output_paths(None, str(target), force=True) == (None, target)


def test_a_figure_without_matplotlib_names_the_plot_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgekit.errors import ExtraMissing

    data = _digit_folder(tmp_path / "d", per_class=2, classes=(0, 1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a device without the plot extra
    assert edgekit.evaluate(edgekit.default_model_path(), data).samples == 4  # no figure: no matplotlib needed
    with pytest.raises(ExtraMissing, match=r"the confusion-matrix figure needs matplotlib: install the 'plot' extra"):
        edgekit.evaluate(edgekit.default_model_path(), data, confusion_png=tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()
