"""The "clusters" gate start: k-means of each gate's pooled input, as a nearest-centroid gate."""

import numpy as np
import pytest

from ebn_tf import layers, models
from ebn_tf._keras import keras
from ebn_tf.layers.gate_clusters import kmeans, nearest_centroid_gate


def blobs(seed: int = 0):
    """800 points around 4 well-separated centres in 16 dimensions, and their centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16)) * 5
    truth = np.repeat(np.arange(4), 200)
    return centres[truth] + rng.normal(size=(800, 16)), truth


def nearest(points, centroids):
    return ((points[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_finds_separated_clusters(seed):
    points, truth = blobs()
    found = nearest(points, kmeans(points, 4, seed))
    # Each true cluster is one found cluster, and the four are distinct.
    assert sorted({int(found[truth == c][0]) for c in range(4)}) == [0, 1, 2, 3]
    assert all(len(set(found[truth == c])) == 1 for c in range(4))


def test_kmeans_needs_k_points():
    with pytest.raises(ValueError, match="at least k=4"):
        kmeans(np.zeros((3, 2)), 4)


def test_nearest_centroid_gate_picks_the_nearest_centroid_with_unit_median_margin():
    points, _ = blobs(1)
    centroids = np.random.default_rng(2).normal(size=(4, 16)) * 3
    kernel, bias = nearest_centroid_gate(points, centroids)
    logits = points @ kernel + bias
    np.testing.assert_array_equal(logits.argmax(1), nearest(points, centroids))
    top = np.sort(logits, axis=1)
    assert np.median(top[:, -1] - top[:, -2]) == pytest.approx(1.0, rel=1e-4)


def clusters_model(images):
    keras.utils.set_random_seed(0)
    model = models.build("tiny", gate_initializer="clusters")
    layers.load_first_expert(model, models.build("tiny", num_experts=1))
    layers.start_gates_on_clusters(model, images, seed=0)
    return model


def standardised(model, layer, images):
    pooled = keras.Model(model.inputs, layer.input).predict(images, verbose=0).mean((1, 2))
    return (pooled - pooled.mean(0)) / (pooled.std(0) + 1e-6)


def test_start_gates_on_clusters_routes_as_the_clusters_of_each_pooled_input():
    images = np.random.default_rng(0).uniform(0, 255, (256, 28, 28, 1)).astype("float32")
    model = clusters_model(images)
    chosen = layers.selected_experts(model, images)
    for layer in layers.expert_layers(model):
        standard = standardised(model, layer, images)
        # The gate on the raw pooled input is the nearest centroid in standardised space.
        expected = nearest(standard, kmeans(standard, 4, seed=0))
        assert np.mean(chosen[layer.name] == expected) >= 0.99
        assert np.bincount(chosen[layer.name], minlength=4).min() > 0  # no expert left out


def test_recentre_gates_moves_drifted_gates_to_the_clusters_they_draw():
    images = np.random.default_rng(0).uniform(0, 255, (256, 28, 28, 1)).astype("float32")
    model = clusters_model(images)
    gated = layers.expert_layers(model)
    rng = np.random.default_rng(1)
    for layer in gated:  # drift: every boundary moved off the clusters
        kernel = layer.gate_kernel.numpy()
        layer.gate_kernel.assign(kernel + 0.25 * kernel.std() * rng.normal(size=kernel.shape))
    drifted = layers.selected_experts(model, images)
    changed = layers.recentre_gates(model, images)
    assert set(changed) == {layer.name for layer in gated}
    chosen = layers.selected_experts(model, images)
    for layer in gated:
        standard = standardised(model, layer, images)
        routes = chosen[layer.name]
        assert changed[layer.name] == pytest.approx(np.mean(routes != drifted[layer.name]))
        # A k-means fixed point: each image is nearest to the mean of its expert's images.
        centroids = np.stack([standard[routes == n].mean(0) for n in range(4)])
        assert np.mean(nearest(standard, centroids) == routes) >= 0.99
    # Started from the routes the gates draw, not afresh (a fresh k-means would number its
    # clusters at random): at a fixed point, recentring again moves no image.
    assert max(layers.recentre_gates(model, images).values()) <= 0.01


def test_recentre_gates_gives_an_expert_without_images_some():
    images = np.random.default_rng(0).uniform(0, 255, (256, 28, 28, 1)).astype("float32")
    model = clusters_model(images)
    layer = layers.expert_layers(model)[2]
    layer.gate_bias.assign(layer.gate_bias.numpy() - 1e6 * (np.arange(4) == 1))
    assert not np.any(layers.selected_experts(model, images)[layer.name] == 1)
    layers.recentre_gates(model, images)
    assert np.any(layers.selected_experts(model, images)[layer.name] == 1)
