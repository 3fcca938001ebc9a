"""ExpertUsageLog: every gate's usage in a fit's logs."""

import numpy as np
import pytest

import ebn_tf
from ebn_tf.layers import expert_layers, set_forced_expert, usage_entropy_bits
from ebn_tf.training.usage_log import ExpertUsageLog

IMAGES = np.random.default_rng(0).uniform(0, 255, (64, 28, 28, 1)).astype("float32")


def test_usage_entropy_bits():
    assert usage_entropy_bits([8, 8, 8, 8]) == pytest.approx(2.0)
    assert usage_entropy_bits([32, 0, 0, 0]) == 0.0
    assert usage_entropy_bits([3, 1]) == pytest.approx(0.811278, abs=1e-6)


def test_each_gate_usage_goes_into_the_epoch_logs():
    model = ebn_tf.models.build("tiny", gate_initializer="zeros")
    logs = {"loss": 1.0}
    ExpertUsageLog(model, IMAGES).on_epoch_end(0, logs)
    for layer in expert_layers(model):
        # A zero gate ties every expert: argmax sends all images to expert 0.
        assert logs[f"usage_entropy/{layer.name}"] == 0.0
        assert logs[f"usage_top_share/{layer.name}"] == 1.0
    model = ebn_tf.models.build("tiny")
    logs = {}
    ExpertUsageLog(model, IMAGES).on_epoch_end(0, logs)
    chosen = ebn_tf.layers.selected_experts(model, IMAGES)
    for name, experts in chosen.items():
        counts = np.bincount(experts, minlength=4)
        assert logs[f"usage_entropy/{name}"] == pytest.approx(usage_entropy_bits(counts))
        assert logs[f"usage_top_share/{name}"] == pytest.approx(counts.max() / 64)


def test_route_changes_count_the_images_whose_expert_moved_since_the_last_epoch():
    model = ebn_tf.models.build("tiny")
    log = ExpertUsageLog(model, IMAGES)
    log.on_epoch_begin(0)
    logs = {}
    log.on_epoch_end(0, logs)
    layers = expert_layers(model)
    assert all(logs[f"route_changes/{layer.name}"] == 0.0 for layer in layers)
    before = ebn_tf.layers.selected_experts(model, IMAGES)
    first = layers[0]
    first.gate_kernel.assign(-first.gate_kernel)  # reverses the first gate's ranking
    after = ebn_tf.layers.selected_experts(model, IMAGES)[first.name]
    logs = {}
    log.on_epoch_end(1, logs)
    moved = np.mean(after != before[first.name])
    assert moved > 0
    assert logs[f"route_changes/{first.name}"] == pytest.approx(moved)


def test_forced_and_single_expert_layers_log_nothing():
    forced = ebn_tf.models.build("tiny")
    set_forced_expert(forced, 0)  # step 1
    for model in (ebn_tf.models.build("tiny", num_experts=1), forced):
        logs = {}
        ExpertUsageLog(model, IMAGES).on_epoch_end(0, logs)
        assert logs == {}


def test_the_release_gate_start_is_small_and_zeros_are_zeros():
    glorot, release, zeros = (
        ebn_tf.models.build("tiny", gate_initializer=name)
        for name in ("glorot_uniform", "release", "zeros")
    )
    layer = expert_layers(glorot)[0]
    fan_in = layer.gate_kernel.shape[0]
    release_kernel = expert_layers(release)[0].gate_kernel.numpy()
    # PyTorch's Linear default bound 1/sqrt(fan_in), shrunk 9x.
    assert np.abs(release_kernel).max() <= 1 / np.sqrt(fan_in) / 9
    assert np.abs(release_kernel).max() > 0.5 / np.sqrt(fan_in) / 9
    assert not np.any(expert_layers(zeros)[0].gate_kernel.numpy())
    config = expert_layers(release)[0].get_config()
    rebuilt = type(layer).from_config(config)
    assert (
        rebuilt.gate_initializer.get_config()
        == expert_layers(release)[0].gate_initializer.get_config()
    )
