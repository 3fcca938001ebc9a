import larq as lq
import numpy as np
import pytest

from ebn_tf._keras import keras, tf
from ebn_tf.layers import EBConv2D
from ebn_tf.layers.gate import usage_imbalance
from tests.harness import layer_test

BATCH, SIZE, CHANNELS = 12, 9, 8


def varied_inputs(channels=CHANNELS, size=SIZE, batch=BATCH, seed=0):
    """Samples with different channel means, so the gate spreads them over experts."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 3, (batch, 1, 1, channels))
    return (rng.normal(0, 1, (batch, size, size, channels)) + offsets).astype("float32")


def sign(x):
    return np.where(x >= 0, 1.0, -1.0).astype("float32")


def reference(layer: EBConv2D, x: np.ndarray) -> np.ndarray:
    """Sample by sample: a float conv of sign(x) with sign(selected kernel), group by group,
    scaled by alpha and the data-driven channel scaling."""
    if layer.num_experts == 1 or layer.force_expert is not None:
        chosen = np.full(len(x), layer.force_expert or 0)
    else:
        chosen = np.argmax(x.mean((1, 2)) @ layer.gate_kernel.numpy() + layer.gate_bias.numpy(), -1)
    kernels = layer.kernel.numpy()
    scale = layer.scale.numpy()
    pad = layer.spatial_padding or ((0, 0), (0, 0))
    padding = "SAME" if layer.spatial_padding is None and layer.padding == "same" else "VALID"
    outputs = []
    for sample, expert in zip(x, chosen):
        image = np.pad(sign(sample)[None], [(0, 0), *pad, (0, 0)], constant_values=1.0)
        kernel = sign(kernels[expert])
        groups = zip(np.split(image, layer.groups, -1), np.split(kernel, layer.groups, -1))
        y = np.concatenate(
            [tf.nn.conv2d(i, k, layer.strides, padding).numpy() for i, k in groups], -1
        )
        y = y * scale
        if layer.channel_scaling:
            hidden = np.maximum(sample.mean((0, 1)) @ layer.scaling_kernel1.numpy(), 0)
            y = y / (1 + np.exp(-(hidden @ layer.scaling_kernel2.numpy())))
        outputs.append(y[0])
    return np.stack(outputs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=16, kernel_size=3, num_experts=4),
        dict(filters=16, kernel_size=3, num_experts=4, strides=2, groups=2),
        dict(filters=8, kernel_size=1, num_experts=3, channel_scaling=False),
        dict(filters=16, kernel_size=3, num_experts=2, pad_value=0.0, gate_activation="sigmoid"),
        dict(filters=16, kernel_size=3, num_experts=4, execution="mask_sum", padding="valid"),
    ],
)
def test_matches_per_sample_reference(kwargs):
    layer = EBConv2D(**kwargs)
    x = varied_inputs()
    layer(x)
    layer.scale.assign(np.random.default_rng(1).uniform(0.5, 2, layer.filters))
    assert len(set(layer.selected_experts(x).numpy())) > 1, "inputs must reach several experts"
    np.testing.assert_allclose(layer(x).numpy(), reference(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("execution", ["partition", "kernel_mix", "mask_sum"])
def test_gradient_reaches_selected_expert_only_and_the_gate(execution):
    layer = EBConv2D(16, 3, num_experts=4, groups=2, execution=execution)
    x = varied_inputs()
    layer(x)
    chosen = layer.selected_experts(x).numpy()
    for sample, expert in enumerate(chosen):
        with tf.GradientTape() as tape:
            y = layer(x[sample : sample + 1])
            loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, seed=(sample, 0)))
        kernel_grad, gate_grad = tape.gradient(loss, [layer.kernel, layer.gate_kernel])
        kernel_grad = tf.convert_to_tensor(kernel_grad).numpy()
        per_expert = np.abs(kernel_grad).reshape(layer.num_experts, -1).sum(-1)
        assert per_expert[expert] > 0
        assert np.all(np.delete(per_expert, expert) == 0)
        assert np.abs(gate_grad.numpy()).sum() > 0


def test_mask_sum_and_partition_agree():
    x = varied_inputs()
    partition = EBConv2D(16, 3, num_experts=4, groups=2)
    mask_sum = EBConv2D(16, 3, num_experts=4, groups=2, execution="mask_sum")
    partition(x), mask_sum(x)
    mask_sum.set_weights(partition.get_weights())
    np.testing.assert_allclose(partition(x).numpy(), mask_sum(x).numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "strides,groups,quantizers",
    [
        (1, 1, {}),
        (2, 1, {}),
        (1, 2, {}),
        (1, 1, dict(input_quantizer="approx_sign", kernel_quantizer="swish_sign")),
        (2, 1, dict(input_quantizer=lq.quantizers.SteSign(clip_value=2.0))),
        (1, 2, dict(kernel_quantizer=lq.quantizers.SwishSign(beta=2.0))),
    ],
)
def test_one_expert_matches_larq_quantconv(strides, groups, quantizers):
    x = tf.constant(varied_inputs())
    layer = EBConv2D(
        16, 3, num_experts=1, strides=strides, groups=groups, channel_scaling=False, **quantizers
    )
    # EBConv2D's defaults are larq's ste_sign (clip 1) on both sides, without a constraint.
    larq_conv = lq.layers.QuantConv2D(
        16,
        3,
        strides=strides,
        groups=groups,
        padding="same",
        pad_values=1.0,
        use_bias=False,
        **{"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign", **quantizers},
        kernel_constraint=None,
    )
    layer(x), larq_conv(x)
    larq_conv.kernel.assign(layer.kernel[0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = layer(x), larq_conv(x)
        weights = tf.random.stateless_normal(ours.shape, seed=(3, 4))
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(loss_ours, x).numpy(), tape.gradient(loss_theirs, x).numpy(), atol=1e-4
    )
    np.testing.assert_allclose(
        tape.gradient(loss_ours, layer.kernel).numpy()[0],
        tape.gradient(loss_theirs, larq_conv.kernel).numpy(),
        atol=1e-4,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=16, kernel_size=3, num_experts=4, groups=2, strides=2),
        dict(
            filters=16,
            kernel_size=3,
            num_experts=3,
            groups=2,
            execution="kernel_mix",
            usage_balance=0.01,
        ),
        dict(filters=16, kernel_size=3, num_experts=1),
        dict(filters=16, kernel_size=1, num_experts=2, execution="mask_sum", force_expert=1),
        dict(
            filters=16,
            kernel_size=3,
            num_experts=2,
            input_quantizer="approx_sign",
            kernel_quantizer=lq.quantizers.SteSign(clip_value=1.5),
            kernel_constraint="weight_clip",
        ),
    ],
)
def test_layer_harness(kwargs, tmp_path):
    layer_test(lambda: EBConv2D(**kwargs), (8, SIZE, SIZE, CHANNELS), tmp_path)


def test_switches_change_behaviour_without_rebuilding():
    x = varied_inputs()
    layer = EBConv2D(16, 3, num_experts=4, channel_scaling=False)
    layer(x)
    np.testing.assert_allclose(layer(x).numpy(), reference(layer, x), atol=1e-5)

    layer.binary_weights, layer.force_expert = False, 2
    assert set(layer.selected_experts(x).numpy()) == {2}
    padded = np.pad(sign(x), [(0, 0), *layer.spatial_padding, (0, 0)], constant_values=1.0)
    real_kernel = tf.nn.conv2d(padded, layer.kernel[2], 1, "VALID").numpy()
    np.testing.assert_allclose(layer(x).numpy(), real_kernel, rtol=1e-5, atol=1e-5)

    layer.binary_weights, layer.force_expert = True, None
    layer.replicate_expert(0)
    for expert in range(1, 4):
        np.testing.assert_array_equal(layer.kernel.numpy()[expert], layer.kernel.numpy()[0])
    gated = layer(x).numpy()
    layer.force_expert = 0
    np.testing.assert_allclose(gated, layer(x).numpy(), atol=1e-6)


def test_bad_arguments_name_the_argument():
    cases = [
        (dict(filters=0, kernel_size=3), "filters"),
        (dict(filters=8, kernel_size=3, num_experts=0), "num_experts"),
        (dict(filters=8, kernel_size=3, num_experts=-2), "num_experts"),
        (dict(filters=8, kernel_size=3, groups=3), "groups=3 must divide filters=8"),
        (dict(filters=8, kernel_size=3, gate_activation="relu"), "gate_activation"),
        (dict(filters=8, kernel_size=3, execution="fast"), "execution"),
        (dict(filters=8, kernel_size=3, pad_value=0.5), "pad_value"),
        (dict(filters=8, kernel_size=3, num_experts=2, force_expert=2), "force_expert"),
        (dict(filters=8, kernel_size=3, usage_balance=-0.1), "usage_balance"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            EBConv2D(**kwargs)
    with pytest.raises(ValueError, match="groups=4 must divide the input channels"):
        EBConv2D(8, 3, groups=4)(tf.zeros([1, 5, 5, 6]))


def test_usage_imbalance_is_one_when_even_and_n_times_the_score_when_one_expert_takes_all():
    even = tf.one_hot([0, 1, 2, 3], 4)
    soft = tf.constant(np.random.default_rng(0).uniform(0.1, 1, (4, 4)), tf.float32)
    assert float(usage_imbalance(soft, even)) == pytest.approx(1.0)
    one = tf.one_hot([2, 2, 2, 2], 4)
    share = soft[:, 2] / tf.reduce_sum(soft, -1)
    assert float(usage_imbalance(soft, one)) == pytest.approx(4 * float(tf.reduce_mean(share)))


@pytest.mark.parametrize("execution", ["partition", "kernel_mix", "mask_sum"])
def test_usage_balance_adds_a_training_loss_that_lowers_the_busiest_experts_score(execution):
    x = varied_inputs(batch=32)
    layer = EBConv2D(8, 3, num_experts=4, usage_balance=0.5, execution=execution)
    layer(x)
    # Expert 0 takes every sample, and every expert's score still has a gradient.
    layer.gate_kernel.assign(0.01 * layer.gate_kernel)
    layer.gate_bias.assign([1.0, 0.0, 0.0, 0.0])
    assert set(layer.selected_experts(x).numpy()) == {0}
    layer(x, training=False)
    assert layer.losses == []
    with tf.GradientTape() as tape:
        layer(x, training=True)
        (loss,) = layer.losses
    soft = layer.gate_probabilities(x)
    expected = 0.5 * usage_imbalance(soft, tf.one_hot(layer.selected_experts(x), 4))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    bias_grad = tape.gradient(loss, layer.gate_bias).numpy()
    # Descent lowers expert 0's bias and raises the others'.
    assert bias_grad[0] > 0 and np.all(bias_grad[1:] < 0)
    # Off by default: no loss.
    plain = EBConv2D(8, 3, num_experts=4, execution=execution)
    plain(x, training=True)
    assert plain.losses == []


def test_absorbing_kernel_magnitude_keeps_the_output_scale_when_binarising():
    keras.utils.set_random_seed(0)
    x = varied_inputs()
    layer = EBConv2D(16, 3, num_experts=1, channel_scaling=False, binary_weights=False)
    real = layer(x).numpy()
    layer.binary_weights = True
    unscaled_error = np.abs(layer(x).numpy() - real).mean()

    layer.absorb_kernel_magnitude()
    magnitude = np.abs(layer.kernel.numpy()).mean((0, 1, 2, 3))
    np.testing.assert_allclose(layer.scale.numpy(), magnitude, rtol=1e-6)
    absorbed_error = np.abs(layer(x).numpy() - real).mean()
    # sign(W) * mean|W| approximates W: the binarised output stays near the real one. For
    # glorot-uniform kernels the best binary approximation leaves half of W's norm
    # (E|w|^2 / E w^2 = 3/4), so the error sits near 0.5 of the output, never near 1.
    assert absorbed_error < 0.1 * unscaled_error
    assert absorbed_error < 0.7 * np.abs(real).mean()


def released_reference(layer: EBConv2D, x: tf.Tensor) -> tf.Tensor:
    """The released training's form, sample by sample: the one-hot gate (straight-through
    to the soft gate) mixes the latent kernels, ``W = sum_n g_n theta_n``, which is then
    binarised and convolved with that sample alone."""
    soft = layer.gate_probabilities(x)
    hard = tf.one_hot(tf.argmax(soft, -1), layer.num_experts)
    gate = hard + soft - tf.stop_gradient(soft)
    mixed = tf.einsum("bn,nhwio->bhwio", gate, layer.kernel)
    if layer.binary_weights:
        mixed = lq.quantizers.ste_sign(mixed, clip_value=1.0)
    image, padding = lq.quantizers.ste_sign(x), layer.padding.upper()
    if layer.spatial_padding:
        image = tf.pad(image, [(0, 0), *layer.spatial_padding, (0, 0)], constant_values=1.0)
        padding = "VALID"
    outputs = []
    for sample in range(x.shape[0]):
        groups = zip(
            tf.split(image[sample : sample + 1], layer.groups, -1),
            tf.split(mixed[sample], layer.groups, -1),
        )
        outputs.append(
            tf.concat([tf.nn.conv2d(i, k, layer.strides, padding) for i, k in groups], -1)
        )
    return tf.concat(outputs, 0) * layer.scale


def _gradients(layer: EBConv2D, x: tf.Tensor, forward) -> list[np.ndarray]:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = forward(x)
        loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, seed=(5, 6)))
    grads = tape.gradient(loss, [x, layer.kernel, layer.gate_kernel, layer.gate_bias])
    return [y.numpy(), *(tf.convert_to_tensor(g).numpy() for g in grads)]


@pytest.mark.parametrize("binary_weights", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, strides=2, groups=2),
        dict(kernel_size=3, strides=2, groups=4, pad_value=0.0),
        dict(kernel_size=(1, 3), padding="valid", groups=2),
        dict(kernel_size=(3, 2), strides=(3, 2), groups=2),
        dict(kernel_size=3, strides=3, padding="valid"),
        dict(kernel_size=2, strides=2, padding="valid"),  # the last row and column unused
        dict(kernel_size=1, strides=2),
        dict(kernel_size=1),
    ],
)
def test_kernel_mix_gives_the_released_gradients(binary_weights, kwargs):
    x = tf.constant(varied_inputs())
    layer = EBConv2D(
        16,
        num_experts=4,
        channel_scaling=False,
        binary_weights=binary_weights,
        execution="kernel_mix",
        **kwargs,
    )
    layer(x)
    # Latent weights on both sides of the STE clip at 1, so the mask matters.
    layer.kernel.assign(layer.kernel * 6.0)
    assert len(set(layer.selected_experts(x).numpy())) > 1
    ours = _gradients(layer, x, layer)
    reference = _gradients(layer, x, lambda t: released_reference(layer, t))
    for name, a, b in zip(
        ("output", "input", "kernel", "gate kernel", "gate bias"), ours, reference
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3, err_msg=name)
    assert np.abs(ours[3]).sum() > 0

    if not binary_weights:
        # With real kernels, mixing kernels and mixing outputs are the same function.
        layer.execution = "mask_sum"
        for name, a, b in zip(
            ("output", "input", "kernel", "gate"), ours, _gradients(layer, x, layer)
        ):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3, err_msg=name)


def test_quantizers_are_larq_objects_with_precision_in_the_config():
    layer = EBConv2D(8, 3, num_experts=2, kernel_constraint="weight_clip")
    layer(varied_inputs())
    assert isinstance(layer.input_quantizer, lq.quantizers.SteSign)
    assert layer.kernel_quantizer.clip_value == 1.0 and layer.input_quantizer.clip_value == 1.0
    # As in larq's layers: the kernel carries its quantizer's precision (larq's summary, Bop).
    assert isinstance(layer.kernel, lq.quantized_variable.QuantizedVariable)
    assert layer.kernel.precision == 1 and lq.optimizers.Bop.is_binary_variable(layer.kernel)
    config = layer.get_config()
    assert config["input_quantizer"]["class_name"] == "SteSign"
    assert config["kernel_constraint"]["class_name"] == "weight_clip"
    assert (
        EBConv2D(8, 3, input_quantizer=None, kernel_quantizer=None).get_config()["kernel_quantizer"]
        is None
    )
    with pytest.raises(ValueError, match="no_such_sign"):
        EBConv2D(8, 3, kernel_quantizer="no_such_sign")


def test_kernel_constraint_clips_after_each_update():
    x = varied_inputs()
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(
        inputs, EBConv2D(8, 3, num_experts=2, kernel_constraint="weight_clip")(inputs)
    )
    model.compile(keras.optimizers.SGD(100.0), "mse")
    model.fit(x, np.ones((len(x), SIZE, SIZE, 8)), epochs=1, verbose=0)
    assert np.abs(model.layers[-1].kernel.numpy()).max() == 1.0


def test_without_quantizers_the_layer_is_a_real_valued_conv():
    x = varied_inputs()
    layer = EBConv2D(
        16, 3, num_experts=1, channel_scaling=False, input_quantizer=None, kernel_quantizer=None
    )
    np.testing.assert_allclose(
        layer(x).numpy(), tf.nn.conv2d(x, layer.kernel[0], 1, "SAME").numpy(), atol=1e-5
    )
