import numpy as np
import pytest

import ebn_tf
from ebn_tf.layers import EBConv2D, expert_layers
from ebn_tf.models import EBNetConfig, build, get_config, names, register


def test_presets_cover_the_family():
    required = {"ebnet_imagenet", "binary_resnet18", "ebnet_fmnist", "ebnet_cifar", "tiny"}
    assert required <= set(names())
    assert {f"{name}_teacher" for name in required} <= set(names())


def test_released_topology():
    config = get_config("ebnet_imagenet")
    assert config.widths == (128, 256, 512, 1024)
    assert config.groups == (4, 8, 8, 16)
    assert config.blocks == (1, 2, 6, 2)
    assert config.num_experts == 4 and config.input_shape == (224, 224, 3)


@pytest.mark.parametrize("name", ["tiny", "ebnet_fmnist", "ebnet_cifar"])
def test_small_presets_build_and_run(name):
    model = build(name)
    config = get_config(name)
    x = np.random.default_rng(0).uniform(0, 255, (2, *config.input_shape)).astype("float32")
    assert model(x).shape == (2, config.num_classes)
    assert all(layer.num_experts == config.num_experts for layer in expert_layers(model))
    for stage in range(1, len(config.widths) + 1):
        model.get_layer(f"stage{stage}_output")


def test_teacher_twin_is_real_valued_with_the_same_topology():
    student, teacher = build("tiny"), build("tiny_teacher")
    assert [layer.name for layer in expert_layers(student)] == [
        layer.name for layer in expert_layers(teacher)
    ]
    for layer in expert_layers(teacher):
        assert layer.num_experts == 1
        assert not (layer.binary_weights or layer.binary_activations)
    report = ebn_tf.cost.profile(teacher)
    assert report.bops == 0 and report.binary_params == 0
    assert report.flops > ebn_tf.cost.profile(student).bops
    # No gates, so no gate start: the twin's config stays the one it had before the
    # expert presets started their gates on clusters (stored runs compare configs).
    assert get_config("tiny").gate_initializer == "clusters"
    assert get_config("tiny_teacher").gate_initializer == "glorot_uniform"


def test_layer_names_are_deterministic():
    first = [layer.name for layer in build("tiny").layers]
    assert first == [layer.name for layer in build("tiny").layers]
    assert "stage2_block1_conv3" in first and "stage1_block1_conv3" not in first


def test_overrides_are_config_fields():
    model = build("tiny", num_experts=1, num_classes=3, input_shape=(32, 32, 1))
    assert model.output_shape == (None, 3) and model.input_shape == (None, 32, 32, 1)
    assert all(layer.num_experts == 1 for layer in expert_layers(model))
    balanced = get_config("tiny").replace(usage_balance=0.01)
    assert {layer.usage_balance for layer in expert_layers(build(balanced))} == {0.01}
    assert balanced.teacher().usage_balance == 0.0
    with pytest.raises(ValueError, match=r"Unknown EBNetConfig field\(s\) \['depth'\]"):
        build("tiny", depth=3)


def test_unknown_preset_lists_known_names():
    with pytest.raises(ValueError, match="known presets: .*ebnet_fmnist"):
        build("ebnet_huge")


def test_registry_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register(get_config("tiny"))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(groups=(1, 4)), "16 input channels per group .* multiple of 32"),
        (dict(groups=(1, 3)), "groups do not divide"),
        (dict(num_experts=0), r"num_experts=0 must be an int >= 1\."),
        (dict(stem="vgg"), r"stem='vgg' must be a string among \('dabnn', 'resnet', 'conv3x3'\)"),
        (dict(gate_activation="tanh"), "gate_activation='tanh' must be a string among"),
        (dict(blocks=(1,)), "blocks=.* needs one entry per stage"),
        (dict(binary=False), "num_experts=4 must be 1 for a real-valued model"),
        # Every field is type-checked, and a bool is not an int.
        (dict(groups=3), r"'tiny': groups=3 must be a list of ints >= 1\."),
        (dict(num_experts=True), r"num_experts=True must be an int >= 1\."),
        (dict(widths=(64, "64")), r"widths=\(64, '64'\) must be a list of ints >= 1\."),
        (dict(input_shape=(28, 28)), r"input_shape=\(28, 28\) must be a list of 3 ints >= 1\."),
        (dict(input_std=(0,)), r"input_std=\(0,\) must be a list of numbers > 0\."),
        (dict(usage_balance=-0.01), r"usage_balance=-0.01 must be a number >= 0\."),
        (dict(pad_value=0.5), r"pad_value=0.5 must be a number among \(0.0, 1.0\)\."),
        (dict(aggregation=1), r"aggregation=1 must be a bool \(true or false\)\."),
        (dict(name=None), r"name=None must be a string\."),
    ],
)
def test_bad_configs_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_config("tiny", **overrides)


def test_config_values_are_normalised():
    config = get_config("tiny", widths=[64, 64], pad_value=0, input_mean=[70])
    assert (config.widths, config.pad_value, config.input_mean) == ((64, 64), 0.0, (70.0,))
    assert isinstance(config.pad_value, float) and isinstance(config.input_mean[0], float)


def test_lce_check_can_be_turned_off():
    config = get_config("tiny", groups=(1, 4), lce=False)
    assert isinstance(config, EBNetConfig)
    assert any(layer.groups == 4 for layer in expert_layers(build(config)))


def test_model_switches_and_selection():
    model = build("tiny")
    images = np.random.default_rng(0).uniform(0, 255, (16, 28, 28, 1)).astype("float32")
    ebn_tf.layers.set_forced_expert(model, 0)
    chosen = ebn_tf.layers.selected_experts(model, images, batch_size=5)
    assert set(chosen) == {layer.name for layer in expert_layers(model)}
    assert all(values.shape == (16,) and set(values) == {0} for values in chosen.values())
    ebn_tf.layers.set_forced_expert(model, None)
    ebn_tf.layers.set_binary_weights(model, False)
    assert all(not layer.binary_weights for layer in expert_layers(model))
    ebn_tf.layers.replicate_first_expert(model)
    for layer in expert_layers(model):
        kernel = layer.kernel.numpy()
        assert all(np.array_equal(kernel[0], kernel[e]) for e in range(layer.num_experts))


def test_fit_switch_fit_without_rebuilding():
    from ebn_tf._keras import keras

    model = build("tiny")
    images = np.random.default_rng(0).uniform(0, 255, (32, 28, 28, 1)).astype("float32")
    labels = np.arange(32) % 10
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(1e-3), loss)
    ebn_tf.layers.set_forced_expert(model, 0)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    before = [layer.kernel.numpy().copy() for layer in expert_layers(model)]
    ebn_tf.layers.set_forced_expert(model, None)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    after = [layer.kernel.numpy() for layer in expert_layers(model)]
    # With the gate free, experts other than 0 get trained too: the new trace is in use.
    assert any(not np.array_equal(b[1:], a[1:]) for b, a in zip(before, after))
    assert all(isinstance(layer, EBConv2D) for layer in expert_layers(model))
