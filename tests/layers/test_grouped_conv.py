"""Grouped convolutions train with and without oneDNN, and both paths give the same numbers.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it loads, so each path runs in its
own process: this file doubles as the script those processes run
(``python -m tests.layers.test_grouped_conv OUTPUT.npz``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ebn_tf._keras import tf
from ebn_tf.layers.grouped_conv import grouped_conv2d, native_grouped_gradients

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("strides,padding", [(1, "SAME"), (2, "VALID")])
def test_per_group_equals_native(strides, padding):
    x = tf.random.stateless_normal([3, 9, 9, 8], seed=(0, 1))
    kernel = tf.random.stateless_normal([3, 3, 2, 12], seed=(2, 3))
    native = grouped_conv2d(x, kernel, strides, padding, 4, formulation="native")
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        per_group = grouped_conv2d(x, kernel, strides, padding, 4, formulation="per_group")
    np.testing.assert_allclose(per_group.numpy(), native.numpy(), rtol=1e-5, atol=1e-5)
    # The per-group form differentiates everywhere.
    assert all(g is not None for g in tape.gradient(per_group, [x, kernel]))


def test_unknown_formulation_is_named():
    with pytest.raises(ValueError, match="formulation"):
        grouped_conv2d(tf.zeros([1, 3, 3, 2]), tf.zeros([1, 1, 1, 2]), 1, "SAME", 2, "fast")


def _run_path(onednn: str, output: Path) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "tests.layers.test_grouped_conv", str(output)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(output))


def test_training_with_and_without_onednn_gives_the_same_numbers(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        off, on = pool.map(_run_path, ("0", "1"), (tmp_path / "off.npz", tmp_path / "on.npz"))
    # The process tells which formulation it picked: each path is really exercised.
    assert not off.pop("native") and on.pop("native")
    assert off.keys() == on.keys()
    for key in off:
        np.testing.assert_allclose(off[key], on[key], rtol=1e-4, atol=1e-4, err_msg=key)


def _record_paths(output: str) -> None:
    """Outputs and gradients of a grouped ``EBConv2D`` (every execution), then a short fit
    of the grouped ``tiny`` preset, saved to ``output`` for comparison across processes."""
    from ebn_tf import models
    from ebn_tf._keras import keras
    from ebn_tf.layers import EBConv2D

    results = {"native": np.array(native_grouped_gradients())}
    x = tf.random.stateless_normal([16, 8, 8, 8], seed=(4, 5)) + tf.random.stateless_normal(
        [16, 1, 1, 8], seed=(6, 7), stddev=3.0
    )
    for execution in ("partition", "kernel_mix", "mask_sum"):
        keras.utils.set_random_seed(0)
        layer = EBConv2D(16, 3, num_experts=4, groups=4, strides=2, execution=execution)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, seed=(8, 9)))
        grads = tape.gradient(loss, [x, layer.kernel, layer.gate_kernel, layer.scale])
        names = ("output", "input_gradient", "kernel_gradient", "gate_gradient", "scale_gradient")
        for name, value in zip(names, (y, *grads)):
            results[f"{execution}_{name}"] = tf.convert_to_tensor(value).numpy()

    keras.utils.set_random_seed(0)
    model = models.build("tiny")
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(True))
    images = np.random.default_rng(0).uniform(0, 255, (64, 28, 28, 1)).astype("float32")
    labels = np.arange(64) % 10
    history = model.fit(images, labels, batch_size=32, epochs=2, shuffle=False, verbose=0)
    results["fit_loss"] = np.array(history.history["loss"])
    for weight in model.weights:
        results[f"fit_{weight.name}"] = weight.numpy()
    np.savez(output, **results)


if __name__ == "__main__":
    import ebn_tf  # noqa: F401  (binds legacy Keras)

    _record_paths(sys.argv[1])
