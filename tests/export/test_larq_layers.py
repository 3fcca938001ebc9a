"""larq's quantized layers beside EBConv2D through the LCE export: audit, parity, refusals."""

import larq as lq
import numpy as np
import pytest

from ebn_tf import export
from ebn_tf._keras import keras
from ebn_tf.layers import EBConv2D
from tests.harness import spread_gates

SIGN_QUANTIZERS = ("ste_sign", "approx_sign", "swish_sign")


def random_images(shape, count=256, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (count, *shape)).astype("float32")


def randomise_batch_norms(model, seed=0):
    """Statistics away from the identity, so that LCE's BatchNorm folding is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, size),
                    rng.normal(0, 0.3, size),
                    rng.normal(0, 0.3, size),
                    rng.uniform(0.5, 2, size),
                ]
            )


def checked_export(model, images):
    """Convert ``model`` (its audit must pass), then compare it with Keras on ``images``
    that reach every expert."""
    flatbuffer, report = export.convert(model)
    assert report.ok and report.binary_convs == export.expected_binary_convs(model), str(report)
    parity = export.parity(model, flatbuffer, export.covering_images(model, images, limit=32))
    assert not parity.uncovered, parity.uncovered
    assert parity.max_relative_error_clear <= 1e-4, str(parity)
    assert parity.top1_agreement == 1.0, str(parity)
    return report


def test_larq_layers_beside_expert_layers_stay_binary():
    keras.utils.set_random_seed(1)
    bn = keras.layers.BatchNormalization
    inputs = keras.Input((17, 17, 3))
    x = bn()(keras.layers.Conv2D(24, 3, padding="same", use_bias=False)(inputs))
    x = lq.layers.QuantConv2D(
        39,
        3,
        strides=2,
        padding="valid",
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
    )(x)  # 8x8x39
    x = EBConv2D(27, 3, num_experts=3, groups=3, input_quantizer="approx_sign")(bn()(x))
    x = lq.layers.QuantDepthwiseConv2D(3, padding="same")(bn()(x))  # a float depthwise conv
    x = lq.layers.QuantConv2D(
        21,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="swish_sign",
        kernel_quantizer=lq.quantizers.SteSign(clip_value=1.5),
    )(bn()(x))
    x = EBConv2D(15, 3, num_experts=3, strides=2, padding="valid", kernel_quantizer="swish_sign")(
        bn()(x)
    )  # 3x3x15
    x = EBConv2D(11, 1, num_experts=3, kernel_quantizer=lq.quantizers.SteSign(clip_value=1.5))(
        bn()(x)
    )
    outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    randomise_batch_norms(model)
    images = random_images((17, 17, 3))
    spread_gates(model, images)

    report = checked_export(model, images)
    # Two QuantConv2D, and one LceBconv2d per expert and group of each expert layer.
    assert report.binary_convs == 2 + 3 * 3 + 3 + 3
    assert report.count("DEPTHWISE_CONV_2D") == 1


@pytest.mark.parametrize("quantizer", SIGN_QUANTIZERS)
def test_expert_layer_with_each_sign_quantizer_lce_fuses(quantizer):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((7, 7, 12))
    layer = EBConv2D(9, 3, num_experts=2, input_quantizer=quantizer, kernel_quantizer=quantizer)
    model = keras.Model(inputs, layer(inputs))
    images = random_images((7, 7, 12), count=64)
    spread_gates(model, images)
    assert checked_export(model, images).binary_convs == 2


def one_layer_model(layer, shape=(6, 6, 8)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize(
    "layer,message",
    [
        (
            lq.layers.QuantConv2D(
                8,
                3,
                input_quantizer=lq.quantizers.DoReFa(2, "activations"),
                kernel_quantizer=lq.quantizers.DoReFa(2, "weights"),
                name="dorefa",
            ),
            r"'dorefa' \(QuantConv2D\) has input_quantizer=DoReFa, kernel_quantizer=DoReFa.*"
            r"Fix: train it with 'ste_sign'",
        ),
        (
            EBConv2D(8, 3, kernel_quantizer="ste_tern", name="tern"),
            r"'tern' \(EBConv2D\) has kernel_quantizer=SteTern",
        ),
        (
            EBConv2D(8, 3, input_quantizer=None, name="real_input"),
            r"'real_input' \(EBConv2D\) has input_quantizer=None",
        ),
        (
            EBConv2D(8, 3, kernel_quantizer=lq.quantizers.ste_sign, name="function"),
            r"kernel_quantizer=the function ste_sign \(give it by name\)",
        ),
        (
            lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", name="float_kernel"),
            r"'float_kernel' \(QuantConv2D\) binarises its input but has no kernel_quantizer",
        ),
        (
            lq.layers.QuantDepthwiseConv2D(
                3, input_quantizer="ste_sign", depthwise_quantizer="ste_sign", name="dw"
            ),
            r"'dw' \(QuantDepthwiseConv2D\) binarises its input but LCE has no binary "
            r"depthwise conv.*Fix: drop its input_quantizer",
        ),
        (
            lq.layers.QuantConv2D(
                8, 3, groups=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign"
            ),
            r"grouped binary conv.*EBConv2D\(num_experts=1, groups=2\)",
        ),
    ],
)
def test_what_lce_cannot_run_binary_is_refused_by_name(layer, message):
    with pytest.raises(export.ExportError, match=message):
        export.to_tflite(one_layer_model(layer))


def test_binary_dense_and_binary_weight_convs_warn_that_they_run_float():
    inputs = keras.Input((6, 6, 8))
    x = lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign", name="weights_only")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = lq.layers.QuantDense(4, input_quantizer="ste_sign", kernel_quantizer="ste_sign")
    model = keras.Model(inputs, dense(x))
    with pytest.warns(UserWarning) as caught:
        report = export.audit(export.to_tflite(model, strict=False, allow_float=True))
    messages = " ".join(str(w.message) for w in caught)
    assert "'weights_only' (QuantConv2D) has binary weights on a real-valued input" in messages
    assert "LCE has no binary dense op" in messages
    assert report.binary_convs == 0 and report.count("FULLY_CONNECTED") == 1
