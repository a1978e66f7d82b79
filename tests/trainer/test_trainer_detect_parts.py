"""The detector's parts: training targets, box-aware augmentation, the decoding head and the loss."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit._detect.decode import decode
from edgekit._detect.layouts import Layout
from edgekit.preprocess import Transform

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

from edgekit_trainer.detect.augment import Augmentation, augment
from edgekit_trainer.detect.batches import class_weights
from edgekit_trainer.detect.targets import assign, points_for

SIZE = 128
BOXES = np.array([[10, 20, 50, 70], [60, 60, 120, 124], [30, 30, 36, 38]], np.float64)
CLASSES = np.array([3, 1, 7])


def _ideal_raw(points, targets: np.ndarray, num_classes: int = 10) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The raw head output that predicts exactly ``targets`` (log-distances in strides, ±8 logits)."""
    pos = targets[:, 0] >= 0
    px, py = points.xy[:, 0], points.xy[:, 1]
    dist = np.stack([px - targets[:, 1], py - targets[:, 2], targets[:, 3] - px, targets[:, 4] - py], 1)
    raw = np.full((len(points), 4 + num_classes), -8.0, np.float32)
    raw[:, :4] = 0.0
    raw[pos, :4] = np.log(np.maximum(dist[pos], 1e-3) / points.stride[pos, None])
    raw[pos, 4 + targets[pos, 0].astype(int)] = 8.0
    return raw


def test_every_object_gets_positive_points_even_one_smaller_than_a_cell() -> None:
    points = points_for(SIZE)
    targets = assign(points, BOXES, CLASSES)
    assert len(points) == 16 * 16 + 8 * 8 + 4 * 4 and targets.shape == (len(points), 6)
    for box, cls in zip(BOXES, CLASSES):
        mine = (targets[:, 0] == cls) & (targets[:, 1:5] == box).all(axis=1)
        assert mine.sum() >= 1, box
    assert (targets[targets[:, 0] < 0, 5] == 0).all()


def test_a_point_inside_two_objects_learns_the_smaller_one() -> None:
    points = points_for(SIZE)
    boxes = np.array([[0, 0, 128, 128], [56, 56, 72, 72]], float)
    targets = assign(points, boxes, np.array([0, 1]))
    centre = int(np.flatnonzero((points.xy == [60, 60]).all(axis=1))[0])
    assert targets[centre, 0] == 1


def test_an_image_without_objects_is_all_background_and_weights_follow_the_class() -> None:
    points = points_for(SIZE)
    assert (assign(points, np.zeros((0, 4)), np.zeros(0, np.int64))[:, 0] == -1).all()
    weights = np.arange(10, dtype=np.float32)
    targets = assign(points, BOXES, CLASSES, weights)
    pos = targets[:, 0] >= 0
    assert np.array_equal(targets[pos, 5], weights[targets[pos, 0].astype(int)])


def test_class_weights_favour_rare_classes_with_a_square_root() -> None:
    weights = class_weights((np.array([0] * 40 + [1] * 10), np.array([2] * 10)), 4)
    assert weights[1] == pytest.approx(weights[2]) and weights[0] == pytest.approx(weights[1] / 2)
    assert weights[3] == 1.0


def test_augmented_boxes_follow_the_pixels_they_framed() -> None:
    image = np.full((SIZE, SIZE, 3), 114, np.uint8)
    colours = np.array([[250, 20, 20], [20, 250, 20], [20, 20, 250]], np.uint8)
    for (x1, y1, x2, y2), colour in zip(BOXES.astype(int), colours):
        image[y1:y2, x1:x2] = colour
    still = Augmentation(hue=0.0, saturation=0.0, value=0.0)
    for seed in range(12):
        out, boxes, classes = augment(image, BOXES, CLASSES, np.random.default_rng(seed), still)
        assert set(classes.tolist()) <= set(CLASSES.tolist())
        for box, cls in zip(boxes, classes):
            x1, y1, x2, y2 = np.round(box).astype(int)
            inner = out[y1 + 1:y2 - 1, x1 + 1:x2 - 1].reshape(-1, 3).astype(float)
            if len(inner):
                expected = colours[list(CLASSES).index(cls)]
                assert np.abs(inner.mean(axis=0) - expected).max() < 25, (seed, cls)


def test_augmentation_drops_boxes_pushed_out_of_the_image() -> None:
    image = np.full((SIZE, SIZE, 3), 114, np.uint8)
    box = np.array([[0, 0, 12, 12]], float)
    kept = [len(augment(image, box, np.array([0]), np.random.default_rng(s),
                        Augmentation(zoom=(1.4, 1.45), shift=0.0, flip=False))[1]) for s in range(4)]
    assert kept == [0, 0, 0, 0]  # zoomed about the centre, the corner object leaves the frame


def test_the_decoding_head_gives_the_runtime_the_boxes_the_targets_hold() -> None:
    from edgekit_trainer.detect.model import DecodeHead

    points = points_for(SIZE)
    raw = _ideal_raw(points, assign(points, BOXES, CLASSES))
    head = np.asarray(DecodeHead(SIZE)(raw[None]))
    assert head.shape == (1, 14, len(points))
    found = decode([head], Layout("yolov8", 10, (0,), "xywh", "normalized"),
                   Transform(SIZE, SIZE, SIZE, SIZE, 1.0, 1.0), ())
    got = sorted((d.id, *d.box.to_list()) for d in found)
    want = sorted((int(c), *b) for b, c in zip(BOXES.tolist(), CLASSES))
    assert [g[0] for g in got] == [w[0] for w in want]
    # within the head's floor on a side's distance (e^-5 of the input side, 0.86 px at 128): the tiny
    # box's only point lies on its right edge
    np.testing.assert_allclose([g[1:] for g in got], [w[1:] for w in want], atol=0.9)


def test_the_loss_is_lower_for_the_ideal_prediction_and_its_gradient_is_finite() -> None:
    import tensorflow as tf
    from edgekit_trainer.detect.loss import detection_loss

    points = points_for(SIZE)
    targets = assign(points, BOXES, CLASSES)[None]
    loss = detection_loss(points, 10)
    ideal = tf.constant(_ideal_raw(points, targets[0])[None])
    noise = tf.Variable(np.random.default_rng(0).normal(0, 1, ideal.shape).astype(np.float32))
    with tf.GradientTape() as tape:
        noisy = loss(targets, noise)
    grad = tape.gradient(noisy, noise)
    assert float(loss(targets, ideal)) < 0.05 < float(noisy)
    assert np.isfinite(grad.numpy()).all()


def test_the_loss_is_per_image_and_its_batch_mean_divides_by_the_batch_positives() -> None:
    import tensorflow as tf
    from edgekit_trainer.detect.loss import detection_loss

    points = points_for(SIZE)
    one = assign(points, BOXES, CLASSES)
    empty = assign(points, BOXES[:0], CLASSES[:0])  # an image without objects: no positive point
    positives = int((one[:, 0] >= 0).sum())
    raw = np.random.default_rng(1).normal(0, 1, (2, len(points), 14)).astype(np.float32)
    loss = detection_loss(points, 10)
    per_image = loss.call(tf.constant(np.stack([one, empty])), tf.constant(raw))
    assert tuple(per_image.shape) == (2,)  # Keras averages it over the batch (and the workers) itself
    alone = float(loss(one[None], raw[:1]))  # its own positives
    nothing = float(loss(empty[None], raw[1:]))  # divided by 1: no positive point
    assert positives > 1 and alone > 0 and nothing > 0
    assert float(loss(np.stack([one, empty]), raw)) == pytest.approx(alone + nothing / positives, rel=1e-4)


def test_warm_up_crops_frame_each_object_and_background_crops_avoid_them() -> None:
    from edgekit_trainer.detect.data import DetectionSplit
    from edgekit_trainer.detect.warmup import CROP, object_crops

    from edgekit._evaluate.boxdata import BoxSample

    image = np.full((SIZE, SIZE, 3), 114, np.uint8)
    image[20:70, 10:50] = 250  # one bright object
    box, cls = np.array([[10.0, 20.0, 50.0, 70.0]]), np.array([4])
    split = DetectionSplit((BoxSample("scene.jpg", box / SIZE, cls),), image[None], (box,), (cls,),
                           (Transform(SIZE, SIZE, SIZE, SIZE, 1.0, 1.0),))
    crops, labels = object_crops(split, 10, np.random.default_rng(0), flip=False)
    assert crops.shape[1:] == (CROP, CROP, 3) and set(labels.tolist()) <= {4, 10}
    objects, background = crops[labels == 4], crops[labels == 10]
    assert len(objects) == 3 and len(background) >= 1
    centre = slice(CROP // 2 - 6, CROP // 2 + 6)
    assert (objects[:, centre, centre] > 200).all()  # the object fills each of its crops' centre
    assert (background < 200).mean() > 0.9  # a background crop holds (almost) none of it
