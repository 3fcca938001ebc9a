import numpy as np
import pytest

from ebn_tf import layers, models


def test_load_first_expert_starts_any_number_of_experts_from_one():
    images = np.random.default_rng(0).uniform(0, 255, (8, 28, 28, 1)).astype("float32")
    source = models.build("tiny", num_experts=1)
    target = models.build("tiny", num_experts=4)
    layers.load_first_expert(target, source)
    # Every expert is the source's kernel, so whatever the gates pick, the network is the same.
    np.testing.assert_allclose(target(images).numpy(), source(images).numpy(), rtol=1e-5, atol=1e-5)
    for layer in layers.expert_layers(target):
        kernels = layer.kernel.numpy()
        assert all(np.array_equal(kernels[0], kernel) for kernel in kernels[1:])


def test_load_first_expert_refuses_another_topology():
    with pytest.raises(ValueError, match="same topology"):
        layers.load_first_expert(models.build("tiny"), models.build("ebnet_fmnist"))
