"""Rebuild edgekit's bundled default model from scikit-learn's real handwritten digits.

    python examples/make_default_model.py [--out default-model] [--seed 0] [--work DIR]
    python examples/make_default_model.py --out edgekit/data --force   # replace the bundled one

Steps (the same ones a user runs on their own images):

1. hold out about 20 digits per class, never used for training: they become the
   ``demo`` source's digits (``demo_digits.npz``) and the Quickstart image
   (``digit_sample.png``);
2. write the other digits as an image folder (one sub-folder per class, PNGs
   upscaled from 8×8 and framed like a camera sees them: the digit fills 80 % of
   the picture height);
3. ``edgekit train`` with the ``tiny`` backbone (greyscale 32×32, centre crop,
   augmentation without flips);
4. ``edgekit export --quantize int8`` (uint8 input/output, parity-gated at 1 point).

Needs the ``train`` extra (TensorFlow) and scikit-learn. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HELD_OUT_PER_CLASS = 20
DIGIT_SIZE = 32  # the demo digits' size (the demo source upscales them further)
FRAME_FILL = 0.8  # digit height / picture height, as in the demo source's frames
SAMPLE_SIDE = 96  # side of digit_sample.png


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 real 8×8 digits as 32×32 grey uint8 images and their labels."""
    import cv2
    from sklearn.datasets import load_digits as sklearn_digits

    d = sklearn_digits()
    small = (d.images * (255.0 / 16.0)).astype(np.uint8)
    big = np.stack([cv2.resize(im, (DIGIT_SIZE, DIGIT_SIZE), interpolation=cv2.INTER_LINEAR) for im in small])
    return big, d.target.astype(np.int64)


def hold_out(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """A boolean mask of ``per_class`` random examples of each class."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        mask[rng.choice(np.flatnonzero(labels == cls), size=per_class, replace=False)] = True
    return mask


def framed(digit: np.ndarray, side: int) -> np.ndarray:
    """The digit centred on a black ``side×side`` picture, ``FRAME_FILL`` of its height."""
    import cv2

    inner = round(side * FRAME_FILL)
    canvas = np.zeros((side, side), np.uint8)
    top = (side - inner) // 2
    interpolation = cv2.INTER_CUBIC if inner > digit.shape[0] else cv2.INTER_AREA
    canvas[top:top + inner, top:top + inner] = cv2.resize(digit, (inner, inner), interpolation=interpolation)
    return canvas


def write_folder(images: np.ndarray, labels: np.ndarray, root: Path) -> None:
    """One sub-folder per digit (``0`` … ``9``), one PNG per image."""
    import cv2

    side = round(DIGIT_SIZE / FRAME_FILL)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), framed(image, side))


def edgekit(*args: str) -> None:
    """Run one ``edgekit`` command in a child process (fails loudly)."""
    cmd = [sys.executable, "-m", "edgekit", *args]
    print("$", " ".join(["edgekit", *args]), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("default-model"),
                        help="Folder for the model, the demo digits and the sample image "
                             "(default: ./default-model; the bundled ones are in edgekit/data).")
    parser.add_argument("--force", action="store_true", help="Replace files already in --out.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the hold-out and the training.")
    parser.add_argument("--work", type=Path, default=None, help="Keep the image folder and RUN here.")
    args = parser.parse_args()
    taken = [n for n in ("digits_int8.tflite", "digit_sample.png", "demo_digits.npz") if (args.out / n).exists()]
    if taken and not args.force:
        parser.exit(2, f"make_default_model.py: {args.out} already holds {', '.join(taken)}; "
                       "pass --force to replace them\n")

    images, labels = load_digits()
    held = hold_out(labels, HELD_OUT_PER_CLASS, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    import cv2

    # Written beside the target, then renamed: readers never see half a file.
    tmp = args.out / ".demo_digits.tmp.npz"
    np.savez_compressed(tmp, images=images[held], labels=labels[held])
    tmp.replace(args.out / "demo_digits.npz")
    first = int(np.flatnonzero(held & (labels == 3))[0])  # a held-out "3" for the Quickstart
    tmp = args.out / ".digit_sample.tmp.png"
    cv2.imwrite(str(tmp), framed(images[first], SAMPLE_SIDE))
    tmp.replace(args.out / "digit_sample.png")

    work = args.work or Path(tempfile.mkdtemp(prefix="edgekit-digits-"))
    try:
        data, run = work / "digits", work / "run"
        if data.exists():
            shutil.rmtree(data)
        write_folder(images[~held], labels[~held], data)
        edgekit("train", str(data), "--out", str(run), "--force", "--model", "tiny", "--weights", "none",
                "--size", str(DIGIT_SIZE), "--channels", "1", "--resize", "crop", "--no-flip",
                "--epochs", "40", "--patience", "8", "--seed", str(args.seed))
        edgekit("export", str(run), "--quantize", "int8", "--io", "uint8", "--max-drop", "1.0",
                "--out", str(args.out / "digits_int8.tflite"))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out / 'digits_int8.tflite'}, {args.out / 'digit_sample.png'}, "
          f"{args.out / 'demo_digits.npz'}")


if __name__ == "__main__":
    main()
