"""LCE 0.16's handling of explicit borders before a stride-2 binary conv, pinned.

The release pads every conv with PyTorch's symmetric ``k // 2`` border: at stride 2 on an
even size its windows start one pixel before TF's SAME ones. These tests document what
LCE does with the obvious ways to write that, and that the reversal form the export uses
is binary and exact. If a future LCE changes any of it, a test here fails and says what
changed (docs/design/lce.md section 6).
"""

import larq as lq
import numpy as np
import pytest

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from ebn_tf import export
from ebn_tf._keras import keras, tf

lce = pytest.importorskip("larq_compute_engine")

RNG = np.random.default_rng(0)
KERNEL = np.where(RNG.standard_normal((3, 3, 32, 32)) >= 0, 1.0, -1.0).astype("float32")
IMAGE = RNG.standard_normal((1, 8, 8, 32)).astype("float32")


class SignConv(keras.layers.Layer):
    """sign(x), a border of ``value``, a stride-2 conv with a constant binary kernel;
    ``reverse``: the reversal form (reversed image, kernel and output, SAME)."""

    def __init__(self, borders=None, value=0.0, reverse=False, **kwargs):
        super().__init__(**kwargs)
        self.borders, self.value, self.reverse = borders, value, reverse

    def call(self, x):
        kernel = KERNEL[::-1, ::-1] if self.reverse else KERNEL
        if self.reverse:
            x = tf.reverse(x, [1, 2])  # before the sign, which LCE fuses into the conv
        x = lq.quantizers.ste_sign(x)
        if self.borders:
            x = tf.pad(x, [(0, 0), self.borders, self.borders, (0, 0)], constant_values=self.value)
        y = tf.nn.conv2d(x, tf.constant(kernel), 2, "VALID" if self.borders else "SAME")
        return tf.reverse(y, [1, 2]) if self.reverse else y


# PyTorch's conv: a zero border (1, 1) on the sign map, computed by TensorFlow.
TORCH = SignConv((1, 1), 0.0)(IMAGE).numpy()


def _converted(layer):
    inputs = keras.Input(IMAGE.shape[1:], batch_size=1)
    model = keras.Model(inputs, layer(inputs))
    flatbuffer = lce.convert_keras_model(model)
    ops = export.audit(flatbuffer).subgraphs[0]
    return ops, export.interpreter(flatbuffer).predict(IMAGE), model(IMAGE).numpy()


def test_a_symmetric_border_of_ones_is_fused_into_same_and_moves_the_grid():
    ops, tflite, keras_out = _converted(SignConv((1, 1), 1.0))
    assert "LceBconv2d" in ops and "PAD" not in ops and "PADV2" not in ops, ops
    assert np.abs(tflite - keras_out).max() > 1, (
        "LCE no longer turns an explicit (1, 1) border into SAME at stride 2: its padding "
        "fusion was fixed, and the reversal form may no longer be needed."
    )


def test_a_zero_border_keeps_the_conv_float():
    ops, _, _ = _converted(SignConv((1, 1), 0.0))
    assert "LceBconv2d" not in ops and "CONV_2D" in ops, (
        f"LCE now fuses a zero border into a binary conv ({ops}): pitfall 2 is gone."
    )


def test_the_reversal_form_is_binary_and_exact():
    ops, tflite, keras_out = _converted(SignConv(reverse=True))
    assert ops.count("LceBconv2d") == 1 and "CONV_2D" not in ops, ops
    assert ops.count("REVERSE_V2") == 2
    np.testing.assert_array_equal(keras_out, TORCH)
    np.testing.assert_allclose(tflite, TORCH, atol=1e-5)


def test_an_expert_layer_border_lce_cannot_run_binary_is_refused():
    model = ebn_tf.models.build("tiny")
    layer = ebn_tf.layers.expert_layers(model)[0]
    layer.spatial_padding = ((2, 0), (2, 0))  # neither SAME's (0, 1) nor that reversed
    with pytest.raises(export.ExportError, match=f"{layer.name}.*neither SAME"):
        export.convert(model)
