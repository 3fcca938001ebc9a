"""The distiller trains the student's own losses too: the gates' usage balance."""

import numpy as np

from ebn_tf._keras import keras, tf
from ebn_tf.layers import EBConv2D
from ebn_tf.layers.gate import usage_imbalance
from ebn_tf.training import Distiller


def _net(name: str, usage_balance: float | None = None) -> keras.Model:
    """Two stages and a linear classifier; the student's second stage is a gated EBConv."""
    inputs = keras.Input([8, 8, 1])
    stage1 = keras.layers.Conv2D(4, 3, padding="same", name="stage1_output")(inputs)
    if usage_balance is None:
        stage2 = keras.layers.Conv2D(4, 3, strides=2, name="stage2_output")(stage1)
    else:
        stage2 = EBConv2D(
            4,
            3,
            num_experts=4,
            strides=2,
            padding="valid",
            usage_balance=usage_balance,
            name="stage2_output",
        )(stage1)
    logits = keras.layers.Dense(10)(keras.layers.Flatten()(stage2))
    return keras.Model(inputs, logits, name=name)


def test_the_usage_balance_reaches_the_students_update():
    keras.utils.set_random_seed(0)
    teacher = _net("teacher")
    images = tf.random.stateless_uniform([32, 8, 8, 1], [3, 4], maxval=255)
    labels = tf.random.stateless_uniform([32], [5, 6], maxval=10, dtype=tf.int32)
    biases = {}
    for weight in (0.0, 2.0):
        keras.utils.set_random_seed(1)
        student = _net("student", weight)
        gate = student.get_layer("stage2_output")
        # One expert takes every image.
        gate.gate_kernel.assign(1e-4 * gate.gate_kernel)
        gate.gate_bias.assign([1.0, 0.0, 0.0, 0.0])
        distiller = Distiller(student, teacher, 1e3, 1.0, 1.0)
        distiller.compile(keras.optimizers.SGD(1.0))
        with tf.GradientTape() as tape:
            soft = gate.gate_probabilities(keras.Model(student.input, gate.input)(images))
            balance = weight * usage_imbalance(soft, tf.one_hot(tf.argmax(soft, -1), 4))
        # SGD at rate 1: the balance term's share of the update.
        expected = -tape.gradient(balance, gate.gate_bias).numpy()
        distiller.train_on_batch(images, labels)
        biases[weight] = gate.gate_bias.numpy()
    # The two updates differ by the balance term's gradient exactly.
    np.testing.assert_allclose(biases[2.0] - biases[0.0], expected, rtol=1e-4, atol=1e-7)
    assert expected[0] < 0 and np.all(expected[1:] > 0)  # away from the busy expert
