"""Conversion with LCE: audit, one binary conv per expert, numeric parity, bad input."""

import larq as lq
import pytest

import ebn_tf
import ebn_tf.data
from ebn_tf import export
from ebn_tf._keras import keras
from ebn_tf.layers import EBConv2D, set_binary_weights
from tests.harness import spread_gates


@pytest.fixture(scope="module")
def fmnist_images(fmnist_data_dir):
    batch = next(iter(ebn_tf.data.load("fashion_mnist", "test", 256, data_dir=fmnist_data_dir)))
    return batch[0].numpy()


@pytest.fixture(scope="module")
def tiny(fmnist_images):
    keras.utils.set_random_seed(0)
    model = ebn_tf.models.build("tiny")
    spread_gates(model, fmnist_images)
    return model


@pytest.fixture(scope="module")
def tiny_tflite(tiny):
    return export.to_tflite(tiny)


def test_every_expert_is_a_binary_conv_behind_if_ops(tiny, tiny_tflite):
    report = export.audit(tiny_tflite, export.expected_binary_convs(tiny))
    assert report.ok, str(report)
    # 5 expert layers x 4 experts; the two of stage 2 with 2 groups each run one conv per group.
    assert export.expected_binary_convs(tiny) == 4 * (2 + 2 * 2 + 1)
    assert report.binary_convs == report.expected_binary_convs
    assert report.if_ops == 5 * 3  # a binary tree of 3 conds per 4-expert layer
    for ops in report.subgraphs[1:]:
        assert "CONV_2D" not in ops
    assert "LceBconv2d" not in report.subgraphs[0], "every expert sits in a branch"


def test_parity_with_keras_on_every_expert(tiny, tiny_tflite, fmnist_images):
    images = export.covering_images(tiny, fmnist_images, limit=48)
    report = export.parity(tiny, tiny_tflite, images)
    assert not report.uncovered, report.uncovered
    assert report.max_relative_error <= 1e-4 and report.max_relative_error_clear <= 1e-4
    assert report.top1_agreement == 1.0


def test_routed_model_exports_one_router_and_every_expert(fmnist_images):
    keras.utils.set_random_seed(0)
    model = ebn_tf.models.build("tiny", routing="stem")
    spread_gates(model, fmnist_images)
    flatbuffer = export.to_tflite(model)
    report = export.audit(flatbuffer, export.expected_binary_convs(model))
    assert report.ok, str(report)
    assert report.binary_convs == 28 and report.if_ops == 5 * 3
    parity = export.parity(model, flatbuffer, export.covering_images(model, fmnist_images, 48))
    assert not parity.uncovered, parity.uncovered
    assert parity.max_relative_error_clear <= 1e-4 and parity.top1_agreement == 1.0


def test_export_report_converts_checks_parity_and_times(tiny, fmnist_images):
    report = export.export_report(tiny, fmnist_images[:8], threads=1)
    assert report.audit.ok and report.audit == export.audit(report.flatbuffer, 28)
    assert report.latency_ms > 0
    assert report.parity.images == 8 and report.parity.top1_agreement == 1.0
    assert str(report).startswith(str(report.audit)) and "parity on 8 images" in str(report)
    assert "latency (LCE interpreter, 1 thread(s), median)" in str(report)
    # int8 input and output are not compared with float images.
    int8 = dict(inference_input_type="int8", inference_output_type="int8", int8_range=(-6, 6))
    with pytest.warns(UserWarning, match="uncalibrated range"):
        assert export.export_report(tiny, fmnist_images[:8], **int8).parity is None


def test_one_expert_model_has_no_if_ops():
    model = ebn_tf.models.build("tiny", num_experts=1)
    report = export.audit(export.to_tflite(model), export.expected_binary_convs(model))
    assert report.ok and report.if_ops == 0 and report.binary_convs == 7


def test_audit_catches_a_float_model():
    teacher = ebn_tf.models.build("tiny_teacher")
    report = export.audit(export.to_float_tflite(teacher), expected_binary_convs=7)
    assert not report.ok and "0 LceBconv2d found, 7 expected" in report.reasons[0]


def test_a_model_without_binary_convs_is_exported_only_when_asked():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs, name="float_cnn")
    with pytest.raises(
        export.ExportError,
        match=r"Model 'float_cnn' has no binary conv: .* \(0 LceBconv2d\).*allow_float=True",
    ):
        export.convert(model)
    _, report = export.convert(model, allow_float=True)
    assert report.ok and report.binary_convs == 0 and report.count("CONV_2D") == 1


def test_real_weight_stage_is_refused():
    model = ebn_tf.models.build("tiny")
    set_binary_weights(model, False)
    with pytest.raises(
        export.ExportError, match=r"real-valued weights.*set_binary_weights\(model, True\)"
    ):
        export.to_tflite(model)


def test_unknown_custom_layer_is_named():
    class Mystery(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((8, 8, 32))
    model = keras.Model(inputs, EBConv2D(32, 3)(Mystery(name="mystery")(inputs)))
    with pytest.raises(export.ExportError, match="'mystery' \\(Mystery\\)"):
        export.to_tflite(model)


def test_bad_options():
    model = ebn_tf.models.build("tiny")
    with pytest.raises(export.ExportError, match="target='gpu'"):
        export.to_tflite(model, target="gpu")
    with pytest.raises(export.ExportError, match="int8_range"):
        export.to_tflite(model, inference_input_type="int8")
    with pytest.warns(UserWarning, match="uncalibrated range"):
        export.to_tflite(model, inference_input_type="int8", int8_range=(-6, 6))


def test_audit_catches_a_float_conv_on_binarised_data():
    # Without a kernel quantizer LCE leaves the conv float, reading sign(x) dequantised.
    inputs = keras.Input((8, 8, 32))
    conv = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer=None
    )
    report = export.audit(export.to_float_tflite(keras.Model(inputs, conv(inputs))))
    assert report.float_convs_on_binary and not report.ok, str(report)
