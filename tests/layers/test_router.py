"""Routing every expert layer from one ExpertRouter (EBNetConfig.routing="stem")."""

import numpy as np
import pytest

import ebn_tf
from ebn_tf import cost, layers, models
from ebn_tf._keras import keras, tf
from ebn_tf.layers import EBConv2D, ExpertRouter
from tests.harness import spread_gates

IMAGES = np.random.default_rng(0).uniform(0, 255, (32, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="module")
def routed():
    keras.utils.set_random_seed(0)
    model = models.build("tiny", routing="stem")
    spread_gates(model, IMAGES)
    return model


def test_stem_routing_builds_one_router_and_gateless_routed_layers(routed):
    router = layers.router_of(routed)
    assert isinstance(router, ExpertRouter) and router.input.shape[-1] == 32
    assert layers.gate_layers(routed) == [router]
    for layer in layers.expert_layers(routed):
        assert layer.routed and not hasattr(layer, "gate_kernel")
    # The teacher is the per-layer real twin; one expert has nothing to route, but its
    # stem is held alike.
    teacher = models.build(models.get_config("tiny", routing="stem").teacher())
    assert layers.router_of(teacher) is None
    assert "stem_output" not in [layer.name for layer in teacher.layers]
    twin = models.build("tiny", routing="stem", num_experts=1)
    assert layers.router_of(twin) is None
    layers.hold_stem(twin)
    held = [layer.name for layer in twin.layers if not layer.trainable]
    assert held == [
        "image",
        "normalize",
        "stem_conv",
        "stem_conv_bn",
        "stem_conv_relu",
        "stem_output",
    ], held


@pytest.mark.parametrize("execution", ["partition", "kernel_mix", "mask_sum"])
def test_every_layer_runs_the_routers_expert(routed, execution):
    model = models.build("tiny", routing="stem", execution=execution)
    model.set_weights(routed.get_weights())
    router = layers.router_of(model)
    stem = keras.Model(model.inputs, router.input)
    chosen = router.selected_experts(stem(IMAGES)).numpy()
    assert len(set(chosen)) > 1, "the test needs images on several experts"
    chosen_by_layer = layers.selected_experts(model, IMAGES)
    assert all(np.array_equal(c, chosen) for c in chosen_by_layer.values())
    logits = model(IMAGES).numpy()
    for expert in set(chosen):
        layers.set_forced_expert(model, int(expert))
        forced = model(IMAGES[chosen == expert]).numpy()
        np.testing.assert_allclose(logits[chosen == expert], forced, rtol=1e-5, atol=1e-4)
    layers.set_forced_expert(model, None)


def test_router_gets_every_layers_gate_gradient(routed):
    model = models.build("tiny", routing="stem", execution="kernel_mix")
    model.set_weights(routed.get_weights())
    layers.set_binary_weights(model, False)
    router = layers.router_of(model)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(IMAGES, training=True) ** 2)
    gradient = tape.gradient(loss, router.gate_kernel)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0


def test_held_routes_do_not_move_in_training(routed):
    model = models.build("tiny", routing="stem")
    model.set_weights(routed.get_weights())
    layers.set_binary_weights(model, False)
    layers.hold_stem(model)
    router = layers.router_of(model)
    held = keras.Model(model.inputs, router.output).layers
    assert all(not layer.trainable_weights for layer in held)
    before = layers.selected_experts(model, IMAGES)
    frozen = [w.numpy() for layer in held for w in layer.weights]
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(IMAGES, np.arange(32) % 10, batch_size=8, epochs=2, verbose=0)
    assert all(
        np.array_equal(a, w.numpy())
        for a, w in zip(frozen, [w for layer in held for w in layer.weights])
    )
    after = layers.selected_experts(model, IMAGES)
    assert all(np.array_equal(before[n], after[n]) for n in before)
    layers.hold_stem(model, held=False)
    assert router.trainable_weights and all(layer.trainable for layer in held)


def test_routed_model_saves_loads_and_costs(routed, tmp_path):
    path = tmp_path / "routed.h5"
    routed.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(IMAGES).numpy(), routed(IMAGES).numpy(), atol=1e-5)
    own = cost.profile(models.build("tiny"))
    report = cost.profile(routed)
    gates = sum(
        int(np.prod(layer.gate_kernel.shape)) for layer in layers.gate_layers(models.build("tiny"))
    )
    router = int(np.prod(layers.router_of(routed).gate_kernel.shape))
    assert report.bops == own.bops
    assert report.flops == own.flops - gates + router


def test_first_expert_loads_into_a_routed_model():
    source = models.build("tiny", num_experts=1)
    target = models.build("tiny", routing="stem")
    router = layers.router_of(target).get_weights()
    layers.load_first_expert(target, source)
    np.testing.assert_allclose(target(IMAGES).numpy(), source(IMAGES).numpy(), atol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(router, layers.router_of(target).get_weights()))


def test_routed_layer_needs_routes():
    layer = EBConv2D(8, 3, num_experts=4, routed=True, name="lonely")
    with pytest.raises(ValueError, match="lonely is routed"):
        layer(tf.zeros([2, 6, 6, 8]))
    with pytest.raises(ValueError, match="num_experts must be an int >= 2"):
        ExpertRouter(1)
    with pytest.raises(ValueError, match="routing"):
        models.get_config("tiny", routing="global")
    assert ebn_tf.layers.ExpertRouter is ExpertRouter
