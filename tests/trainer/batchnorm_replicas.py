"""Batch norm on two CPU replicas vs one process, for ``test_trainer_distribute``.

Run as a script (the two logical CPU devices must be set up before TensorFlow starts):
prints, as JSON, the largest difference between one training step's outputs and gradients
on one process and on two replicas that each see half of the batch, with and without
:func:`edgekit_trainer.distribute.synchronize_batchnorm`.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras  # noqa: E402

from edgekit_trainer.batchnorm import synchronize_batchnorm  # noqa: E402

rng = np.random.default_rng(0)
# the two halves of the batch differ in mean and scale: each half's own statistics are wrong for the whole
X = np.concatenate([rng.normal(0, 1, (4, 6, 6, 3)), rng.normal(3, 2, (4, 6, 6, 3))]).astype(np.float32)
W = rng.normal(size=(8, 6, 6, 4)).astype(np.float32)  # a loss whose gradient reaches through batch norm


def build() -> keras.Model:
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    inner = keras.Model(inputs, keras.layers.BatchNormalization()(x))  # nested, as a backbone is
    return keras.Model(inputs, keras.layers.BatchNormalization()(inner(inputs)))


def step(model: keras.Model, x: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = tf.reduce_sum(out * w)
    return out, tape.gradient(loss, model.trainable_variables)


def on_replicas(weights: list[np.ndarray], synchronized: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
        model.set_weights(weights)
    if synchronized:
        synchronize_batchnorm(model, strategy)
    halves = strategy.experimental_distribute_values_from_function(
        lambda ctx: (X[ctx.replica_id_in_sync_group * 4:][:4], W[ctx.replica_id_in_sync_group * 4:][:4]))
    out, grads = tf.function(lambda xw: strategy.run(step, args=(model, *xw)))(halves)
    outputs = np.concatenate([o.numpy() for o in strategy.experimental_local_results(out)])
    return outputs, [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None).numpy() for g in grads]


keras.utils.set_random_seed(0)
alone = build()
out, grads = step(alone, tf.constant(X), tf.constant(W))
report = {}
for synchronized in (True, False):
    r_out, r_grads = on_replicas(alone.get_weights(), synchronized)
    report["synchronized" if synchronized else "local"] = {
        "output": float(np.abs(r_out - out.numpy()).max()),
        "gradient": max(float(np.abs(a - b.numpy()).max()) for a, b in zip(r_grads, grads)),
    }
print(json.dumps(report))
