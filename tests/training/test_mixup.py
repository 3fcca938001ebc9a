import numpy as np
import pytest

from ebn_tf._keras import keras, tf
from ebn_tf.training import Distiller, get_recipe
from ebn_tf.training.mixup import mix
from tests.harness import two_cpu_strategy


def test_mix_blends_each_image_with_a_partner_of_the_batch():
    images = tf.random.stateless_uniform([16, 5, 5, 1], [1, 2])
    labels = tf.range(16)
    mixed, partners, lam = mix(images, labels, 0.2, tf.constant([7, 0], tf.int64))
    order = partners.numpy()
    assert sorted(order) == list(range(16)) and (order != np.arange(16)).any()
    assert 0 <= float(lam) <= 1
    np.testing.assert_allclose(mixed, lam * images + (1 - lam) * images.numpy()[order], atol=1e-6)
    again = mix(images, labels, 0.2, tf.constant([7, 0], tf.int64))
    assert float(again[2]) == float(lam) and (again[1].numpy() == order).all()


def test_mix_draws_lam_from_beta():
    batch, labels = tf.zeros([2, 1]), tf.range(2)
    draws = np.array([float(mix(batch, labels, 0.2, tf.constant([0, i]))[2]) for i in range(2000)])
    # Beta(0.2, 0.2): mean 1/2, variance 1 / (4 (2 alpha + 1)), most mass near 0 and 1.
    assert draws.mean() == pytest.approx(0.5, abs=0.03)
    assert draws.var() == pytest.approx(1 / (4 * 1.4), rel=0.08)
    assert np.mean((draws < 0.1) | (draws > 0.9)) > 0.5


def _net(name: str) -> keras.Model:
    """Two stages and a linear classifier: classes that vary with the image, on any CPU."""
    inputs = keras.Input([8, 8, 1])
    stage1 = keras.layers.Conv2D(4, 3, padding="same", name="stage1_output")(inputs)
    stage2 = keras.layers.Conv2D(4, 3, strides=2, name="stage2_output")(stage1)
    logits = keras.layers.Dense(10)(keras.layers.Flatten()(stage2))
    return keras.Model(inputs, logits, name=name)


def test_distiller_trains_on_mixed_batches_with_both_labels():
    keras.utils.set_random_seed(0)
    student, teacher = _net("student"), _net("teacher")
    distiller = Distiller(student, teacher, 1e3, 1.0, 1.0, mixup=0.2, seed=5)
    distiller.compile(keras.optimizers.Adam(1e-3))
    images = tf.random.stateless_uniform([32, 8, 8, 1], [3, 4], maxval=255)
    seed = tf.constant([5, 0], tf.int64)  # the first step's: [seed, optimizer step]
    # The mixed images and partners' order do not depend on the labels' values.
    logits = student(mix(images, tf.range(32), 0.2, seed)[0], training=True)
    labels = tf.argmax(logits, -1, output_type=tf.int32)
    _, partners, lam = mix(images, labels, 0.2, seed)
    cross_entropy = keras.losses.sparse_categorical_crossentropy
    expected = lam * cross_entropy(labels, logits, True) + (1 - lam) * cross_entropy(
        partners, logits, True
    )
    partner_hits = tf.reduce_mean(tf.cast(labels == partners, tf.float32))
    assert 0 < float(lam) < 1 and float(partner_hits) < 1  # the two labels disagree
    logs = distiller.train_on_batch(images, labels, return_dict=True)
    assert logs["cross_entropy"] == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
    accuracy = lam + (1 - lam) * partner_hits  # the student predicts ``labels``
    assert logs["accuracy"] == pytest.approx(float(accuracy), abs=1e-6)
    # Without mixup the same batch gives the plain cross-entropy of its own labels.
    plain = Distiller(student, teacher, 1e3, 1.0, 1.0)
    plain.compile(keras.optimizers.Adam(0.0))
    reference = tf.reduce_mean(cross_entropy(labels, student(images, training=True), True))
    logs = plain.train_on_batch(images, labels, return_dict=True)
    assert logs["cross_entropy"] == pytest.approx(float(reference), rel=1e-5)


def test_mixup_needs_the_distilled_stages():
    assert get_recipe("fmnist_quick", ["mixup=0.2"]).mixup == 0.2
    for off in ("distill=false", "train_student=false"):
        with pytest.raises(ValueError, match=r"mixup=0.2 mixes the batches .* needs distill=true"):
            get_recipe("fmnist_quick", ["mixup=0.2", off])
    with pytest.raises(ValueError, match=r"mixup=-1 must be a number >= 0"):
        get_recipe("fmnist_quick", ["mixup=-1"])


def test_mixup_under_a_mirrored_strategy():
    with two_cpu_strategy().scope():
        distiller = Distiller(_net("student"), _net("teacher"), 1e3, 1.0, 1.0, mixup=0.2)
        distiller.compile(keras.optimizers.Adam(1e-3))
    images = tf.random.stateless_uniform([64, 8, 8, 1], [1, 1], maxval=255)
    labels = tf.random.stateless_uniform([64], [2, 2], maxval=10, dtype=tf.int32)
    history = distiller.fit(images, labels, batch_size=32, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and distiller.optimizer.iterations.numpy() == 4
