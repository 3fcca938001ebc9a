"""The counting convention of EBNET.md section 6 against its reference values."""

import pytest

from ebn_tf.cost import profile
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
