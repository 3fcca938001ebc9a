"""A data-dependent gate start (beyond the paper): each gate begins as the nearest-centroid
rule of k-means clusters of what it reads.

Issue 28 measured that routes drift: with a random gate, most images sit near a gate
boundary, and as the features train they cross it (55-62% of images change expert an
epoch on the capacity test, even with the gates held), so an expert rarely sees the same
image twice. Boundaries drawn between clusters of the gate's own input fall where few
images are, so the same feature drift moves fewer images across them.
"""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers.policy import gate_layers, pooled_inputs, pooled_routes

ITERATIONS = 100
RESTARTS = 4


def kmeans(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` centroids ``(k, D)`` of ``points`` ``(M, D)``: the tightest (least summed
    squared distance) of ``RESTARTS`` runs of k-means++ seeding and Lloyd iterations (a
    single run can stop in a poor local optimum)."""
    if len(points) < k:
        raise ValueError(f"k-means needs at least k={k} points, got {len(points)}.")
    points = np.asarray(points, np.float64)
    rng = np.random.default_rng(seed)
    runs = [_lloyd(points, _plus_plus(points, k, rng)) for _ in range(RESTARTS)]
    return min(runs, key=lambda c: _squared_distances(points, c).min(axis=1).sum())


def _plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds: each next one drawn with probability ~ squared distance to the
    nearest seed so far."""
    centroids = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        distance = _squared_distances(points, np.array(centroids)).min(axis=1)
        centroids.append(points[rng.choice(len(points), p=distance / distance.sum())])
    return np.array(centroids)


def _lloyd(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Lloyd iterations from ``centroids`` until no point changes cluster (at most
    ``ITERATIONS``); an emptied cluster keeps its centroid."""
    assignment = None
    for _ in range(ITERATIONS):
        new = np.argmin(_squared_distances(points, centroids), axis=1)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        for cluster in range(len(centroids)):
            members = points[assignment == cluster]
            if len(members):
                centroids[cluster] = members.mean(axis=0)
    return centroids


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(M, k)``: ``|p|^2 - 2 p.c + |c|^2``, one matrix product instead of an (M, k, D)
    difference tensor."""
    squared = (points**2).sum(1)[:, None] - 2 * points @ centroids.T + (centroids**2).sum(1)
    return np.maximum(squared, 0.0)


def nearest_centroid_gate(points: np.ndarray, centroids: np.ndarray):
    """Gate ``(kernel (D, k), bias (k,))`` whose argmax is the nearest centroid.

    ``argmin |x - c|^2 = argmax 2 c.x - |c|^2``; both are divided by the median, over
    ``points``, of the squared-distance gap between the two nearest centroids, so the
    median point's two best logits are 1 apart: a soft gate neither saturated nor flat.
    """
    distances = np.sort(_squared_distances(points, centroids), axis=1)
    scale = float(np.median(distances[:, 1] - distances[:, 0])) or 1.0
    kernel = 2 * centroids.T / scale
    bias = -(centroids**2).sum(1) / scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def start_gates_on_clusters(model: keras.Model, images, seed: int = 0) -> None:
    """Set every gate of ``model`` to the nearest-centroid rule of the k-means clusters
    (k = its experts) of its pooled input over ``images`` (inference mode), each channel
    standardised over the images: the pooled input is mostly a per-channel offset common to
    all images, which would otherwise decide the clusters. The standardisation is folded
    into the gate, which stays a plain ``Dense`` on the pooled input.

    Layer by layer, in order: a layer's input depends on the routes of the gates before
    it once the experts differ.
    """
    for layer in gate_layers(model):
        _, standard, mean, std = _standardised_input(model, layer, images)
        _set_gate(layer, standard, mean, std, kmeans(standard, layer.num_experts, seed))


def recentre_gates(model: keras.Model, images) -> dict[str, float]:
    """Move every gate of ``model`` to the nearest-centroid rule of k-means clusters of its
    pooled input over ``images``, the iterations started from the clusters its gate draws
    now (each image on the expert it is routed to): boundaries go back to where few images
    are as the features drift, and the experts keep their numbering. An
    expert that gets none of the images starts from the image farthest from the others'
    centroids, so it is given images again rather than left dead. Returns, per layer, the
    share of ``images`` whose expert the move changed.

    Not used in training: on the capacity test, recentring after each epoch moved about
    half the images itself and lowered the fit (benchmarks/expert_capacity.py,
    ``e4_clusters_recentred``)."""
    changed = {}
    for layer in gate_layers(model):
        pooled, standard, mean, std = _standardised_input(model, layer, images)
        standard = standard.astype(np.float64)
        routes = pooled_routes(layer, pooled)
        used = [n for n in range(layer.num_experts) if np.any(routes == n)]
        centroids = np.zeros((layer.num_experts, standard.shape[1]))
        for n in range(layer.num_experts):
            if n in used:
                centroids[n] = standard[routes == n].mean(0)
            else:
                distance = _squared_distances(standard, centroids[used]).min(axis=1)
                centroids[n] = standard[np.argmax(distance)]
                used.append(n)
        _set_gate(layer, standard, mean, std, _lloyd(standard, centroids))
        changed[layer.name] = float(np.mean(pooled_routes(layer, pooled) != routes))
    return changed


def _standardised_input(model: keras.Model, layer, images):
    """``layer``'s input over ``images`` (inference mode), spatially pooled ``(M, C)``; the
    same with each channel standardised over the images; and the per-channel mean and
    std that standardise it."""
    pooled = pooled_inputs(model, [layer], images)[layer.name]
    mean, std = pooled.mean(0), pooled.std(0) + 1e-6
    return pooled, (pooled - mean) / std, mean, std


def _set_gate(layer, standard: np.ndarray, mean, std, centroids: np.ndarray) -> None:
    """Set ``layer``'s gate to the nearest-centroid rule of ``centroids`` (in the space of
    ``standard``, the pooled input standardised by ``mean`` and ``std``), the
    standardisation folded in: ``(p - mean) / std @ kernel + bias`` as a gate on the
    pooled input ``p``."""
    kernel, bias = nearest_centroid_gate(standard, centroids)
    layer.gate_kernel.assign(kernel / std[:, None])
    layer.gate_bias.assign(bias - (mean / std) @ kernel)
