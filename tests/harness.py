"""The shared layer test: shape, config round trip, save/load, eager vs tf.function, and
MirroredStrategy on two logical CPUs (larq ``testing_utils.layer_test`` in spirit); gates
spread over every expert, for export tests of untrained models; the Fashion-MNIST IDX
files read independently of ebn_tf; and the small recipe of the training tests."""

from __future__ import annotations

import functools
import gzip

import numpy as np

from ebn_tf._keras import keras, tf
from ebn_tf.layers import gate_layers
from ebn_tf.training import get_recipe

SMALL = ["model=tiny", "train_limit=512", "eval_limit=256", "batch_size=64"]
# Two steps a stage (batch 64): for tests of stages, epochs and records, not of learning.
TWO_STEPS = ("train_limit=128", "eval_limit=64")


def small_recipe(*overrides):
    """The demo recipe on the tiny preset and a small slice of Fashion-MNIST."""
    return get_recipe("fmnist_quick", [*SMALL, *overrides])


def idx_items(path, count: int | None = None) -> np.ndarray:
    """The first ``count`` (default: all) images or labels of a gzipped IDX file, read
    independently of ebn_tf."""
    with gzip.open(path) as file:
        magic = int.from_bytes(file.read(4), "big")
        assert magic >> 8 == 0x08, "IDX data must be unsigned bytes"
        shape = [int.from_bytes(file.read(4), "big") for _ in range(magic & 0xFF)]
        count = shape[0] if count is None else count
        items = np.frombuffer(file.read(count * int(np.prod(shape[1:]))), np.uint8)
    return items.reshape(count, *shape[1:])


@functools.cache
def two_cpu_strategy() -> tf.distribute.MirroredStrategy:
    """One strategy per process: a second one over the same devices reuses collective keys."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _model(make_layer, input_shape):
    inputs = keras.Input(input_shape[1:])
    return keras.Model(inputs, make_layer()(inputs))


def layer_test(make_layer, input_shape, tmp_path, atol=1e-5) -> np.ndarray:
    """Run the house checks on the layer ``make_layer()`` builds; returns its output."""
    x = tf.random.stateless_normal(input_shape, seed=(1, 2))
    layer = make_layer()
    eager = layer(x).numpy()
    assert eager.shape == tuple(layer.compute_output_shape(input_shape))

    traced = tf.function(lambda t: layer(t))(x).numpy()
    np.testing.assert_allclose(traced, eager, atol=atol)

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), eager, atol=atol)

    model = _model(make_layer, input_shape)
    expected = model(x).numpy()
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded(x).numpy(), expected, atol=atol)
    model.save_weights(tmp_path / "weights.h5")
    fresh = _model(make_layer, input_shape)
    fresh.load_weights(tmp_path / "weights.h5")
    np.testing.assert_allclose(fresh(x).numpy(), expected, atol=atol)

    single = _model(make_layer, input_shape)
    single.compile(keras.optimizers.SGD(0.1), "mse")
    with two_cpu_strategy().scope():
        mirrored = _model(make_layer, input_shape)
        mirrored.compile(keras.optimizers.SGD(0.1), "mse")
    initial = single.get_weights()
    mirrored.set_weights(initial)
    target = np.asarray(tf.random.stateless_normal(model.output_shape[1:], seed=(3, 4)))
    targets = np.broadcast_to(target, (input_shape[0], *target.shape))
    for replicas in (single, mirrored):
        history = replicas.fit(x.numpy(), targets, batch_size=input_shape[0], epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.allclose(a, b) for a, b in zip(initial, single.get_weights()))
    # Two replicas on half batches take the same steps as one device on the whole batch.
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    return eager


def spread_gates(model, images):
    """Point each gate at the top principal directions of its pooled input over ``images``,
    standardised, layer by layer: untrained gates (whose logits differ little between
    images) then send the images to every expert."""
    for layer in gate_layers(model):
        probe = keras.Model(model.inputs, layer.input)
        pooled = probe.predict(images, verbose=0).mean(axis=(1, 2))
        mean = pooled.mean(0)
        _, spread, directions = np.linalg.svd(pooled - mean, full_matrices=False)
        kernel = directions[: layer.num_experts].T / (
            spread[: layer.num_experts] / len(images) ** 0.5
        )
        layer.gate_kernel.assign(kernel)
        layer.gate_bias.assign(-mean @ kernel)
