"""Builds the functional Keras model of an EBNet config."""

from __future__ import annotations

from ebn_tf._keras import keras
from ebn_tf.layers import EBConv2D, ExpertRouter
from ebn_tf.layers.borders import borders
from ebn_tf.layers.policy import STEM_OUTPUT
from ebn_tf.models.config import EBNetConfig
from ebn_tf.models.presets import get_config

layers = keras.layers
# PyTorch's BatchNorm default (momentum 0.1 there), as in the released training; Keras'
# 0.99 leaves the moving statistics far behind in short runs (15% vs 78% top-1 measured
# after one Fashion-MNIST epoch).
BN_MOMENTUM = 0.9


def build(name_or_config: str | EBNetConfig, **overrides) -> keras.Model:
    """The functional model of a preset name or config, with config-field ``overrides``.

    The model takes images as the dataset stores them (0-255) and returns logits. Layer
    names are deterministic (``stage2_block1_conv1``); each stage ends in an identity
    layer ``stageN_output`` (the attention-transfer points).

    Example:
        >>> model = ebn_tf.models.build("ebnet_fmnist", num_experts=1)
    """
    config = get_config(name_or_config, **overrides)
    inputs = keras.Input(config.input_shape, name="image")
    x = layers.Normalization(
        mean=config.input_mean, variance=[s * s for s in config.input_std], name="normalize"
    )(inputs)
    x = _stem(x, config)
    routes = None
    if config.routing == "stem":
        # Held from step 3 on (layers.hold_stem), with or without experts to route.
        x = layers.Identity(name=STEM_OUTPUT)(x)
    if config.routing == "stem" and config.num_experts > 1:
        routes = ExpertRouter(
            config.num_experts,
            gate_activation=config.gate_activation,
            gate_initializer=config.gate_initializer,
            usage_balance=config.usage_balance,
            name="router",
        )(x)
    for stage, (width, blocks, groups, strides) in enumerate(
        zip(config.widths, config.blocks, config.groups, config.strides), start=1
    ):
        for block in range(1, blocks + 1):
            x = _block(
                x,
                config,
                f"stage{stage}_block{block}",
                width,
                groups,
                strides if block == 1 else 1,
                routes,
            )
        x = layers.Identity(name=f"stage{stage}_output")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = layers.Dense(config.num_classes, name="head_logits")(x)
    return keras.Model(inputs, outputs, name=config.name)


def _bordered(x, config: EBNetConfig, name: str, kernel_size: int, strides: int):
    """``x`` and the Keras padding of a real conv or pool under ``config.border``: an
    explicit zero border and "valid" where the border is not TF's "same"."""
    if config.border == "same":
        return x, "same"
    kernel, stride = (kernel_size,) * 2, (strides,) * 2
    wanted = borders(x.shape, kernel, stride, config.border)
    if wanted == borders(x.shape, kernel, stride, "same"):
        return x, "same"
    # A zero border is exact for the max-pool too: it follows a ReLU.
    return layers.ZeroPadding2D(wanted, name=f"{name}_pad")(x), "valid"


def _conv_bn_relu(x, config: EBNetConfig, name: str, filters: int, kernel_size: int, strides=1):
    x, padding = _bordered(x, config, name, kernel_size, strides)
    x = layers.Conv2D(filters, kernel_size, strides, padding, use_bias=False, name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(_real_bn(x, config, f"{name}_bn"))


def _real_bn(x, config: EBNetConfig, name: str):
    """A BatchNorm of the real-valued paths (stem, shortcuts)."""
    return layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=config.real_bn_epsilon, name=name
    )(x)


def _max_pool(x, config: EBNetConfig):
    x, padding = _bordered(x, config, "stem_pool", 3, 2)
    return layers.MaxPool2D(3, 2, padding=padding, name="stem_pool")(x)


def _stem(x, config: EBNetConfig):
    width = config.stem_width
    if config.stem == "conv3x3":
        return _conv_bn_relu(x, config, "stem_conv", width, 3, config.stem_strides)
    if config.stem == "resnet":
        return _max_pool(_conv_bn_relu(x, config, "stem_conv", width, 7, 2), config)
    # dabnn stem: conv s2, then a strided conv branch beside a max-pool branch.
    x = _conv_bn_relu(x, config, "stem_conv1", width // 2, 3, 2)
    branch = _conv_bn_relu(x, config, "stem_branch_conv1", width // 4, 1)
    branch = _conv_bn_relu(branch, config, "stem_branch_conv2", width // 2, 3, 2)
    x = layers.Concatenate(name="stem_concat")([branch, _max_pool(x, config)])
    return _conv_bn_relu(x, config, "stem_conv2", width, 1)


def _block(x, config: EBNetConfig, prefix: str, width: int, groups: int, strides: int, routes):
    x = _residual_conv(x, config, f"{prefix}_conv1", width, 3, strides, groups, routes)
    x = _residual_conv(x, config, f"{prefix}_conv2", width, 3, 1, groups, routes)
    if config.aggregation and groups > 1:
        x = _residual_conv(x, config, f"{prefix}_conv3", width, 1, 1, 1, routes)
    return x


def _residual_conv(
    x,
    config: EBNetConfig,
    name: str,
    filters: int,
    kernel_size: int,
    strides: int,
    groups: int,
    routes,
):
    """``PReLU(conv(BN(x))) + shortcut(x)``: every binary conv has its own residual; it
    is routed by ``routes`` (a router's output) or, if None, by its own gate."""
    y = layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=config.block_bn_epsilon, name=f"{name}_bn"
    )(x)
    # The real twin uses the same layer with binarisation off: Keras' grouped Conv2D runs
    # ~5x slower on CPU than the tf.nn.conv2d grouped kernel that EBConv2D calls.
    conv = EBConv2D(
        filters,
        kernel_size,
        num_experts=config.num_experts,
        strides=strides,
        groups=groups,
        padding=config.border,
        pad_value=config.pad_value,
        gate_activation=config.gate_activation,
        gate_initializer=config.gate_initializer,
        usage_balance=config.usage_balance,
        routed=routes is not None,
        channel_scaling=config.channel_scaling,
        binary_weights=config.binary,
        binary_activations=config.binary,
        execution=config.execution,
        # The twin has no quantizers, so larq's summary counts it at 32 bits.
        input_quantizer="ste_sign" if config.binary else None,
        kernel_quantizer="ste_sign" if config.binary else None,
        name=name,
    )
    # Per-layer gates: no routes argument, so the model's config is the paper's as before.
    y = conv(y) if routes is None else conv(y, routes=routes)
    y = layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(y)
    shortcut = x
    if strides > 1 or x.shape[-1] != filters:
        shortcut = _shortcut(x, config, f"{name}_shortcut", filters, strides)
    return layers.Add(name=f"{name}_add")([y, shortcut])


def _shortcut(x, config: EBNetConfig, name: str, filters: int, strides: int):
    """Real-valued downsample path; never binarised."""
    if strides > 1:
        x = layers.AveragePooling2D(strides, padding="same", name=f"{name}_pool")(x)
    if config.shortcut == "simple":
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
        return _real_bn(x, config, f"{name}_bn")
    for index, width in enumerate((x.shape[-1] // 4, filters), start=1):
        x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_conv{index}")(x)
        x = _real_bn(x, config, f"{name}_bn{index}")
        x = layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu{index}")(x)
    return x
