"""The RUN folder a training writes and an export reads.

::

    RUN/model.keras       best checkpoint (lowest validation loss), written atomically
    RUN/labels.txt        one class name per line, in output order
    RUN/history.json      per-epoch metrics of every stage
    RUN/provenance.json   dataset fingerprint, class counts, seed, versions, command line, config
    RUN/split.json        the exact files of each split (export re-reads val and calibration images)
    RUN/training.png      loss and accuracy curves, train vs validation
    RUN/backup/           last-epoch checkpoints of an unfinished run (see checkpoints.py), removed when it completes
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import ModelNotFound

from .data import Dataset, ImageSpec
from .errors import RunExists

__all__ = ["ARTEFACTS", "RunFolder", "open_run", "prepare_out", "remove_artefacts", "versions", "write_json"]

ARTEFACTS = ("model.keras", "labels.txt", "history.json", "provenance.json", "split.json",
             "training.png")


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def versions() -> dict[str, str]:
    """Versions of what produced a model (TensorFlow only if already imported)."""
    import numpy

    import edgekit

    out = {"python": platform.python_version(), "numpy": numpy.__version__,
           "edgekit": edgekit.__version__}
    if "tensorflow" in sys.modules:
        out["tensorflow"] = sys.modules["tensorflow"].__version__
    if "keras" in sys.modules:
        out["keras"] = sys.modules["keras"].__version__
    return out


def remove_artefacts(run: Path, created: bool) -> None:
    """Leave nothing half-written: our artefacts go, and the folder too if this training made it."""
    for name in ARTEFACTS + ("model.tmp.keras",):
        (run / name).unlink(missing_ok=True)
    if created and run.exists() and not any(run.iterdir()):
        run.rmdir()


def prepare_out(out: str | Path, force: bool, clear: bool = False) -> Path:
    """Check that ``out`` may be written; with ``clear`` (and ``force``) remove our old artefacts.

    Raises:
        RunExists: ``out`` exists and ``force`` is false, or it is a file.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RunExists(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise RunExists(f"{path}: already exists; pass --force to overwrite it")
    if path.exists() and force and clear:
        for name in ARTEFACTS + ("model.tmp.keras",):
            (path / name).unlink(missing_ok=True)
        for old in path.glob("model_*.tflite"):
            old.unlink()
    return path


def dataset_record(ds: Dataset) -> dict[str, Any]:
    """The split.json content: root, classes and the files of each split."""
    return {
        "root": ds.root,
        "classes": list(ds.classes),
        "predefined": ds.predefined,
        **{name: [[s.path, s.label] for s in getattr(ds, name).samples]
           for name in ("train", "val", "test")},
    }


@dataclass(frozen=True, slots=True)
class RunFolder:
    """A finished (or interrupted) training run, as read back by export."""

    path: Path
    labels: tuple[str, ...]
    spec: ImageSpec
    provenance: dict[str, Any]
    split: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"


def open_run(path: str | Path) -> RunFolder:
    """Read a RUN folder written by :func:`trainer.train`.

    Raises:
        ModelNotFound: the folder, its checkpoint or one of its records is missing.
    """
    run = Path(path)
    if not run.is_dir():
        raise ModelNotFound(f"{run}: no such run folder (train one with: edgekit train DATA --out {run})")
    for name in ("model.keras", "labels.txt", "provenance.json", "split.json"):
        if not (run / name).is_file():
            raise ModelNotFound(f"{run}: {name} is missing; not a complete run folder")
    labels = tuple(x for x in (run / "labels.txt").read_text().splitlines() if x)
    prov = json.loads((run / "provenance.json").read_text())
    cfg = prov["config"]
    spec = ImageSpec(int(cfg["size"]), int(cfg["channels"]), str(cfg["resize"]))
    return RunFolder(run, labels, spec, prov, json.loads((run / "split.json").read_text()))


def copy_into(src: Path, dst: Path) -> None:
    """Atomically copy ``src`` to ``dst``."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
