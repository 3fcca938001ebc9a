"""The capacity benchmark's fixed routes replace every gate: each image goes to the
experts its codes name."""

import numpy as np

from benchmarks.expert_capacity import FixedRoutes
from ebn_tf import layers, models


def test_fixed_routes_send_each_image_to_the_expert_its_codes_name():
    images = np.random.default_rng(0).uniform(0, 255, (6, 28, 28, 1)).astype("float32")
    model = models.build("tiny", num_experts=4)
    expert = layers.expert_layers(model)
    routes = np.array([0, 1, 2, 3, 1, 2])
    # The same expert in every layer per image: image i computes as the model forced to it.
    codes = np.repeat(routes[:, None], len(expert), axis=1)
    forced = []
    for index in range(4):
        layers.set_forced_expert(model, index)
        forced.append(model(images, training=False).numpy())
    layers.set_forced_expert(model, None)
    fixed = FixedRoutes(model, codes)
    inputs = (images, np.arange(len(images)))
    expected = np.stack([forced[route][i] for i, route in enumerate(routes)])
    np.testing.assert_allclose(fixed(inputs, training=False).numpy(), expected, atol=1e-4)
    # A training call too (batch statistics, so no forced twin to compare with): the gate
    # it replaces takes the layer's training flag.
    assert np.isfinite(fixed(inputs, training=True).numpy()).all()
    # Each expert is drawn on its own, so the comparison above tells the routes apart.
    assert not np.allclose(forced[0], forced[1], atol=1e-3)
