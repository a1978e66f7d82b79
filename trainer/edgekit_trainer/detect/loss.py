"""The detection loss: quality focal loss on the class scores, GIoU on the boxes.

The class target of a positive point is the IoU of its predicted box with its
object (Generalized Focal Loss), so a score says "this class, and the box is
this good" — exactly what mAP ranks by, with no separate objectness or
centre-ness output to export. Positive points are weighted by their class's
weight (rare classes count more); both terms are divided by the number of
positive points in the batch.
"""

from __future__ import annotations

from typing import Any

from .model import decode_boxes
from .targets import Points

__all__ = ["BOX_WEIGHT", "detection_loss", "giou"]

BOX_WEIGHT = 2.0
FOCUS = 2.0  # the focal exponent on |target - probability|


def giou(a: Any, b: Any) -> tuple[Any, Any]:
    """IoU and generalized IoU of corner boxes ``a`` and ``b`` (same shape ``[..., 4]``)."""
    from keras import ops

    eps = 1e-7
    lt, rb = ops.maximum(a[..., :2], b[..., :2]), ops.minimum(a[..., 2:], b[..., 2:])
    wh = ops.maximum(rb - lt, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ops.maximum(a[..., 2] - a[..., 0], 0.0) * ops.maximum(a[..., 3] - a[..., 1], 0.0)
    area_b = ops.maximum(b[..., 2] - b[..., 0], 0.0) * ops.maximum(b[..., 3] - b[..., 1], 0.0)
    union = area_a + area_b - inter + eps
    iou = inter / union
    hull = ops.maximum(a[..., 2:], b[..., 2:]) - ops.minimum(a[..., :2], b[..., :2])
    hull_area = hull[..., 0] * hull[..., 1] + eps
    return iou, iou - (hull_area - union) / hull_area


def detection_loss(points: Points, num_classes: int) -> Any:
    """A Keras loss ``(targets [B,N,6], raw [B,N,4+C]) → [B]`` whose batch mean is the sum over the
    batch divided by its positive points (see the module docstring)."""
    import keras
    from keras import ops

    class DetectionLoss(keras.losses.Loss):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="detection_loss", reduction="sum_over_batch_size")

        def call(self, y_true: Any, y_pred: Any) -> Any:
            cls_id, target_box, weight = y_true[..., 0], y_true[..., 1:5], y_true[..., 5]
            positive = ops.cast(cls_id >= 0, "float32")
            num_pos = ops.maximum(ops.sum(positive), 1.0)
            boxes = decode_boxes(y_pred[..., :4], points)
            iou, g = giou(boxes, target_box)
            quality = ops.stop_gradient(ops.maximum(iou, 0.0)) * positive
            onehot = ops.one_hot(ops.cast(ops.maximum(cls_id, 0.0), "int32"), num_classes) * positive[..., None]
            target = onehot * quality[..., None]
            logits = y_pred[..., 4:]
            prob = ops.sigmoid(logits)
            bce = ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))
            point_weight = ops.where(positive > 0, weight, 1.0)[..., None]
            focal = bce * ops.power(ops.abs(target - prob), FOCUS)
            per_image = ops.sum(focal * point_weight, axis=(1, 2)) \
                + BOX_WEIGHT * ops.sum((1.0 - g) * weight * positive, axis=1)
            # per image, so Keras averages it over the batch (and over workers) itself; a scalar
            # returned here is counted once per worker (keras 3.x), doubling the loss on two workers
            return per_image * ops.cast(ops.shape(per_image)[0], "float32") / num_pos

    return DetectionLoss()
