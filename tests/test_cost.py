"""The counting convention of docs/design/method.md section 7 against its reference values,
and larq's summary against it."""

import larq as lq
import pytest

from ebn_tf._keras import keras
from ebn_tf.cost import profile
from ebn_tf.layers import EBConv2D
from ebn_tf.models import build


@pytest.fixture(scope="module")
def ebnet():
    return profile(build("ebnet_imagenet"))


def test_binary_resnet18_bops():
    assert profile(build("binary_resnet18")).bops == pytest.approx(1.676e9, rel=0.005)


def test_ebnet_imagenet_reference_figures(ebnet):
    assert ebnet.bops == pytest.approx(1.707e9, rel=0.01)
    assert ebnet.flops == pytest.approx(0.870e8, rel=0.05)
    assert ebnet.ops == pytest.approx(1.136e8, rel=0.05)
    assert ebnet.ops == ebnet.flops + ebnet.bops / 64
    assert ebnet.binary_params_per_expert == pytest.approx(9.59e6, rel=0.005)
    assert ebnet.binary_params == pytest.approx(38.35e6, rel=0.005)
    assert ebnet.real_params == pytest.approx(4.21e6, rel=0.02)


def test_stage_bops_match_the_released_table(ebnet):
    per_stage = {}
    for row in ebnet.layers:
        if row.bops:
            stage = row.name.split("_")[0]
            per_stage[stage] = per_stage.get(stage, 0) + row.bops
    expected = {"stage1": 224.8e6, "stage2": 305.1e6, "stage3": 973.0e6, "stage4": 203.9e6}
    for stage, bops in expected.items():
        assert per_stage[stage] == pytest.approx(bops, rel=0.001)
    assert sum(1 for row in ebnet.layers if row.bops) == 33


def test_bops_do_not_depend_on_experts():
    one, eight = (profile(build("tiny", num_experts=n)) for n in (1, 8))
    assert one.bops == eight.bops
    assert eight.binary_params == 8 * one.binary_params


def test_report_prints_a_table_and_summary(ebnet):
    text = str(ebnet)
    assert "stage3_block6_conv3" in text and "BOPs 1.707e9" in text
    assert ebnet.packed_bytes == -(-ebnet.binary_params // 8) + 4 * ebnet.real_params


def larq_totals(model):
    """1-bit weights, and MACs by precision, as ``lq.models.summary`` counts them."""
    counted = lq.models.ModelProfile(model)
    return counted.weight_count(bitwidth=1), counted.op_count("mac", 1), counted.op_count("mac", 32)


def test_larq_summary_agrees_with_profile_on_a_preset():
    model = build("ebnet_fmnist")
    report = profile(model)
    assert larq_totals(model) == (report.binary_params, report.bops, report.flops)
    lines = []
    lq.models.summary(model, print_fn=lines.append)
    summary = "\n".join(lines)
    # 1-bit expert kernels: larq's memory is the packed binary weights plus 32-bit others.
    assert "Ratio of MACs that are binarized  0.96" in summary
    assert "Compression Ratio of Memory       0.07" in summary
    teacher = build("ebnet_fmnist_teacher")
    assert larq_totals(teacher)[:2] == (0, 0)


def test_larq_layers_are_counted_beside_expert_layers():
    inputs = keras.Input((9, 9, 8))
    x = lq.layers.QuantConv2D(
        16, 3, strides=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="conv"
    )(inputs)
    x = lq.layers.QuantDepthwiseConv2D(
        3, padding="same", depthwise_quantizer="approx_sign", use_bias=False, name="depthwise"
    )(x)
    x = EBConv2D(8, 3, num_experts=2, name="experts")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = lq.layers.QuantDense(
        4, input_quantizer="ste_sign", kernel_quantizer="swish_sign", name="dense"
    )(x)
    model = keras.Model(inputs, outputs)
    report = profile(model)
    rows = {row.name: row for row in report.layers}
    assert (rows["conv"].bops, rows["conv"].binary_params, rows["conv"].real_params) == (
        4 * 4 * 16 * 8 * 9,
        9 * 8 * 16,
        16,
    )
    # Binary weights on a real-valued input: 1-bit storage, real-valued MACs.
    assert (rows["depthwise"].bops, rows["depthwise"].flops) == (0, 4 * 4 * 16 * 9)
    assert rows["depthwise"].binary_params == 9 * 16
    assert rows["dense"].bops == rows["dense"].binary_params == 8 * 4
    expert = rows["experts"].binary_params // 2
    assert report.binary_params_per_expert == report.binary_params - expert
    assert larq_totals(model) == (report.binary_params, report.bops, report.flops)
