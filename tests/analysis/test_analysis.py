import json
import subprocess
import sys

import numpy as np
import pytest

from ebn_tf import analysis, data, models
from ebn_tf._keras import tf
from ebn_tf.layers import expert_layers


@pytest.fixture(scope="module")
def tiny_and_images(fmnist_data_dir):
    tf.keras.utils.set_random_seed(0)
    model = models.build("tiny", num_experts=3)
    batches = data.load("fashion_mnist", "test", 200, data_dir=fmnist_data_dir, take=400)
    images, labels = (np.concatenate(p) for p in zip(*batches.as_numpy_iterator()))
    return model, images, labels


def test_expert_usage_counts_each_layers_choices(tiny_and_images):
    model, images, _ = tiny_and_images
    usage = analysis.expert_usage(model, images)
    assert list(usage) == [layer.name for layer in expert_layers(model)]
    layer = expert_layers(model)[-1]
    inputs = tf.keras.Model(model.inputs, layer.input)(images)
    # Independent check: argmax of the gate computed from the layer's weights.
    logits = tf.reduce_mean(inputs, [1, 2]) @ layer.gate_kernel + layer.gate_bias
    expected = np.bincount(np.argmax(logits, -1), minlength=3)
    np.testing.assert_array_equal(usage[layer.name], expected)
    assert all(counts.sum() == len(images) for counts in usage.values())


def test_usage_entropy_and_collapse():
    uniform = analysis.LayerUsage("a", [25, 25, 25, 25])
    assert uniform.entropy_bits == pytest.approx(2.0) and not uniform.collapsed
    one = analysis.LayerUsage("b", [96, 2, 1, 1])
    assert one.collapsed and one.entropy_bits == pytest.approx(0.3023, abs=1e-4)
    assert not analysis.LayerUsage("c", [95, 5, 0, 0]).collapsed


def test_class_information_is_zero_when_independent_and_one_when_decided():
    assert analysis.class_information(np.full((4, 10), 7)) == pytest.approx(0.0, abs=1e-9)
    decided = np.zeros((2, 4), int)
    decided[0, :2] = decided[1, 2:] = 50
    assert analysis.class_information(decided) == pytest.approx(1.0)
    matrix = analysis.expert_by_class(np.array([0, 1, 1, 2]), np.array([3, 3, 0, 3]), 3, 4)
    np.testing.assert_array_equal(matrix.sum(0), [1, 0, 0, 3])
    assert matrix[1, 0] == 1 and matrix[2, 3] == 1


def test_sign_disagreement_is_zero_for_copies_and_counts_flipped_experts():
    layer = expert_layers(models.build("tiny", num_experts=3))[0]
    layer.replicate_expert(0)
    assert analysis.sign_disagreement(layer) == 0.0
    kernel = layer.kernel.numpy()
    kernel[1] = -kernel[1]  # expert 1 differs everywhere from 0 and 2 (no zero weight here)
    kernel[2].flat[:10] = -kernel[2].flat[:10]  # expert 2 differs from 0 in 10 weights
    layer.kernel.assign(kernel)
    size = kernel[0].size
    expected = (1 + 10 / size + (size - 10) / size) / 3  # pairs (0, 1), (0, 2), (1, 2)
    assert analysis.sign_disagreement(layer) == pytest.approx(expected)
    with pytest.raises(ValueError, match="1 expert: nothing to compare"):
        analysis.sign_disagreement(expert_layers(models.build("tiny", num_experts=1))[0])


def test_analyze_writes_json_and_plots_and_reports_a_collapsed_layer(tiny_and_images, tmp_path):
    _, images, labels = tiny_and_images
    model = models.build("tiny", num_experts=3)  # its own: a gate is changed below
    collapsed = expert_layers(model)[0]
    collapsed.gate_bias.assign([50.0, 0.0, 0.0])
    result = analysis.analyze(model, images, labels, tmp_path, tsne_points=150)
    assert collapsed.name in result["collapsed_layers"]
    assert result["collapsed_layers"] == [
        name for name, layer in result["layers"].items() if max(layer["counts"]) > 0.95 * 400
    ]
    assert result["layers"][collapsed.name]["counts"] == [len(images), 0, 0]
    for layer in result["layers"].values():
        matrix = np.array(layer["expert_by_class"])
        np.testing.assert_array_equal(matrix.sum(1), layer["counts"])
        np.testing.assert_array_equal(matrix.sum(0), np.bincount(labels, minlength=10))
        assert 0.3 < layer["sign_disagreement"] < 0.7  # independently initialised experts
    assert json.loads((tmp_path / "analysis.json").read_text()) == result
    for plot in ("usage.png", "expert_by_class.png", "tsne.png"):
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="Unknown expert layer 'nope'"):
        analysis.analyze(model, images, labels, tmp_path, layer="nope")


def test_analyze_refuses_an_output_dir_that_is_a_file_before_any_work(tiny_and_images, tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(NotADirectoryError, match=f"^{file} is a file, not a directory"):
        analysis.analyze(*tiny_and_images, file)


def test_analyze_app_on_a_zoo_model(tmp_path, fmnist_data_dir, monkeypatch):
    # The zoo model comes from the checkout's zoo/ folder, the default mirror: no network.
    monkeypatch.setenv("EBN_ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EBN_ZOO_MIRROR", raising=False)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "analyze",
            "--model",
            "ebnet_fmnist",
            "--limit",
            "300",
            "--tsne_points",
            "100",
            "--output_dir",
            str(tmp_path / "out"),
            "--data_dir",
            str(fmnist_data_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "stage3_block1_conv2" in out.stdout and "entropy" in out.stdout
    assert (tmp_path / "out" / "tsne.png").exists()


def test_training_routing_changes_compare_batch_and_moving_statistics():
    from ebn_tf.analysis.usage import training_routing_changes

    model = models.build("tiny")
    images = np.random.default_rng(0).uniform(0, 255, (64, 28, 28, 1)).astype("float32")
    before = [w.numpy() for w in model.non_trainable_weights]
    changes = training_routing_changes(model, images, batch_size=32)
    assert set(changes) == {layer.name for layer in expert_layers(model)}
    # Fresh BatchNorms (moving mean 0, variance 1) normalise nothing at inference, while
    # batch statistics do: some routes differ.
    assert all(0 <= share <= 1 for share in changes.values()) and max(changes.values()) > 0
    for weight, value in zip(model.non_trainable_weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)
