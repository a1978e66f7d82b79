"""Dataset reading: class folders, splits, and every kind of bad input (no TensorFlow needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from edgekit_trainer.data import ImageSpec, load_dataset, stratified_split
from edgekit_trainer.errors import DatasetError
from trainer_folders import write_digit_folder

SPEC = ImageSpec(32, 1, "stretch")


def test_load_dataset_reads_class_folders_and_splits_every_class(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=20, classes=(0, 1, 2))
    ds = load_dataset(tmp_path, SPEC, val_fraction=0.25, seed=0)
    assert ds.classes == ("0", "1", "2")
    assert ds.train.x.shape == (45, 32, 32, 1) and ds.val.x.shape == (15, 32, 32, 1)
    assert np.bincount(ds.val.y).tolist() == [5, 5, 5]
    assert not set(ds.train.samples) & set(ds.val.samples)
    assert ds.counts["val"] == {"0": 5, "1": 5, "2": 5}
    assert len(ds.fingerprint) == 64


def test_split_is_seeded_and_changes_with_the_seed(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=20, classes=(0, 1))
    a = load_dataset(tmp_path, SPEC, seed=1).val.samples
    assert load_dataset(tmp_path, SPEC, seed=1).val.samples == a
    assert load_dataset(tmp_path, SPEC, seed=2).val.samples != a


def test_stratified_split_keeps_single_example_classes_for_training() -> None:
    keep, held = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1, 2]), 0.5, seed=0)
    assert sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1, 2])[held].tolist()) == [0, 0, 1, 1]
    assert 8 in keep


def test_predefined_train_val_test_folders_are_used_as_given(tmp_path: Path) -> None:
    for split, n in (("train", 10), ("val", 4), ("test", 3)):
        write_digit_folder(tmp_path / split, per_class=n, classes=(3, 4))
    ds = load_dataset(tmp_path, SPEC)
    assert ds.predefined
    assert (len(ds.train), len(ds.val), len(ds.test)) == (20, 8, 6)
    assert all(s.path.startswith("val/") for s in ds.val.samples)


def test_missing_folder_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(tmp_path / "nope", SPEC)


def test_empty_folder_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="empty, no class folders"):
        load_dataset(tmp_path, SPEC)


def test_single_class_is_refused(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=10, classes=(7,))
    with pytest.raises(DatasetError, match=r"only one class \('7'\)"):
        load_dataset(tmp_path, SPEC)


def test_class_folder_without_images_is_named(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=10, classes=(1, 2))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="no usable training images: empty_class"):
        load_dataset(tmp_path, SPEC)


def test_unreadable_and_non_image_files_are_skipped_and_listed(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=10, classes=(1, 2))
    (tmp_path / "1" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "2" / "empty.jpg").write_bytes(b"")
    (tmp_path / "2" / "readme.md").write_text("hello")
    ds = load_dataset(tmp_path, SPEC)
    reasons = dict(ds.skipped)
    assert set(reasons) == {"1/broken.png", "2/empty.jpg", "2/readme.md"}
    assert "not an image file" in reasons["2/readme.md"]
    assert reasons["1/broken.png"].startswith("unreadable")
    assert len(ds.train) + len(ds.val) == 20


def test_mixed_sizes_and_modes_become_one_input_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cls, images in {
        "a": [rng.integers(0, 255, (50, 70), np.uint8), rng.integers(0, 255, (20, 20, 3), np.uint8)],
        "b": [rng.integers(0, 255, (64, 48, 4), np.uint8), (rng.random((30, 40)) * 65535).astype(np.uint16)],
    }.items():
        (tmp_path / cls).mkdir()
        for i, image in enumerate(images):
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), image)
    ds = load_dataset(tmp_path, ImageSpec(24, 3, "crop"), val_fraction=0.5)
    assert ds.train.x.shape == (2, 24, 24, 3) and ds.val.x.shape == (2, 24, 24, 3)
    assert ds.train.x.dtype == np.uint8 and not ds.skipped


def test_the_trainer_commands_load_without_importing_trainer_or_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import cli\n"
            "for name in ('train', 'export', 'evaluate'):\n"
            "    assert CliRunner().invoke(cli, [name, '--help']).exit_code == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('edgekit_trainer', 'tensorflow', 'keras')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unusable_folder_is_refused_before_tensorflow_is_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    write_digit_folder(tmp_path / "one", per_class=3, classes=(7,))
    (tmp_path / "empty").mkdir()
    code = ("import json, sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import cli\n"
            "lines = [CliRunner().invoke(cli, ['train', d, '--out', d + '_run']).output.strip() for d in sys.argv[1:]]\n"
            "print(json.dumps({'lines': lines, 'tf': 'tensorflow' in sys.modules}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "one"), str(tmp_path / "empty")],
                         capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["tf"] is False
    assert found["lines"][0].startswith("DatasetError: ") and "only one class ('7')" in found["lines"][0]
    assert found["lines"][1].startswith("DatasetError: ") and "empty, no class folders" in found["lines"][1]
    assert not (tmp_path / "one_run").exists() and not (tmp_path / "empty_run").exists()


def test_a_class_left_with_one_readable_image_is_refused_so_every_class_is_validated(tmp_path: Path) -> None:
    write_digit_folder(tmp_path, per_class=6, classes=(1, 2))
    for path in sorted((tmp_path / "2").glob("*.png"))[1:]:
        path.write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match=r"a single usable image, so none left to validate on: 2 \(5 files"):
        load_dataset(tmp_path, SPEC)


def test_a_given_val_folder_without_some_class_is_a_warning_naming_it(tmp_path: Path) -> None:
    write_digit_folder(tmp_path / "train", per_class=6, classes=(1, 2))
    write_digit_folder(tmp_path / "val", per_class=2, classes=(1,))
    ds = load_dataset(tmp_path, SPEC)
    assert ds.warnings == (f"{tmp_path.resolve()}/val: no images of 2; their accuracy cannot be measured",)
