"""Named EBNet configs: one registry that raises on duplicates and lists names on a miss."""

from __future__ import annotations

from ebn_tf.layers.gate import CLUSTERS
from ebn_tf.models.config import EBNetConfig

_PRESETS: dict[str, EBNetConfig] = {}

# Small-image presets: a 3x3 conv stem, and the dataset's pixel statistics (0-255).
FMNIST = dict(
    input_shape=(28, 28, 1),
    num_classes=10,
    input_mean=(72.94,),
    input_std=(90.02,),
    stem="conv3x3",
)
CIFAR = dict(
    input_shape=(32, 32, 3),
    num_classes=100,
    input_mean=(129.3, 124.1, 112.4),
    input_std=(68.2, 65.4, 70.4),
    stem="conv3x3",
)


def register(config: EBNetConfig, with_teacher: bool = True) -> EBNetConfig:
    """Register ``config`` under ``config.name`` (and its real twin as ``NAME_teacher``)."""
    for preset in (config, config.teacher()) if with_teacher else (config,):
        if preset.name in _PRESETS:
            raise ValueError(f"Preset {preset.name!r} is already registered.")
        _PRESETS[preset.name] = preset
    return config


def names() -> list[str]:
    """Names of the registered presets."""
    return sorted(_PRESETS)


def get_config(name_or_config: str | EBNetConfig, **overrides) -> EBNetConfig:
    """The config of a preset (or a given config) with ``overrides`` applied."""
    if isinstance(name_or_config, EBNetConfig):
        config = name_or_config
    elif name_or_config in _PRESETS:
        config = _PRESETS[name_or_config]
    else:
        raise ValueError(f"Unknown model preset {name_or_config!r}; known presets: {names()}.")
    return config.replace(**overrides) if overrides else config


# The gate start of the expert presets is CLUSTERS (beyond the paper): at step 3 the
# trainer starts each gate on the k-means clusters of what it reads. On the capacity test
# (8,192 shuffled labels, 3 seeds) it stored 3.1 points more than the glorot start (the
# field's default; 95% interval [+2.1, +4.2]), with less route drift (docs/analysis.md,
# issue 28).
#
# The released ImageNet topology. Its first convs of stages 1 and 2 have 16 input channels
# per group, which LCE cannot run as grouped binary convs.
register(EBNetConfig(name="ebnet_imagenet", lce=False, gate_initializer=CLUSTERS))

# The same topology with the released code's conventions, to run its checkpoint exactly
# (ebn_tf.zoo.import_official): PyTorch's borders on strided convs, a zero border on the
# sign maps and PyTorch's BatchNorm epsilons. ebnet_imagenet stays the one to train:
# a border of +1 is LCE's fast path on every target.
register(
    EBNetConfig(
        name="ebnet_imagenet_official",
        lce=False,
        border="symmetric",
        pad_value=0.0,
        block_bn_epsilon=1e-4,
        real_bn_epsilon=1e-5,
    ),
    with_teacher=False,
)

# The Bi-Real / Real-to-Binary binary ResNet-18 body: 1.676e9 BOPs.
register(
    EBNetConfig(
        name="binary_resnet18",
        stem="resnet",
        widths=(64, 128, 256, 512),
        blocks=(2, 2, 2, 2),
        groups=(1, 1, 1, 1),
        aggregation=False,
        num_experts=1,
        shortcut="simple",
    )
)

register(
    EBNetConfig(
        name="ebnet_fmnist",
        gate_initializer=CLUSTERS,
        **FMNIST,
        stem_width=32,
        widths=(64, 128, 256),
        blocks=(1, 1, 1),
        groups=(1, 2, 4),
        # Stage 3 stays at 7x7: at 4x4 the per-expert convs are too small for oneDNN to
        # run efficiently, and the experts' share of the step grows.
        strides=(2, 2, 1),
    )
)

# A strong real-valued teacher for the 28x28 students: the stages and strides of
# ebnet_fmnist (attention transfer compares stage outputs at equal resolutions), without
# groups and two blocks a stage.
register(
    EBNetConfig(
        name="fmnist_teacher",
        **FMNIST,
        stem_width=32,
        widths=(64, 128, 256),
        blocks=(2, 2, 2),
        groups=(1, 1, 1),
        strides=(2, 2, 1),
        binary=False,
        num_experts=1,
    ),
    with_teacher=False,
)

register(
    EBNetConfig(
        name="ebnet_cifar",
        gate_initializer=CLUSTERS,
        **CIFAR,
        stem_width=64,
        widths=(128, 256, 512),
        blocks=(1, 2, 1),
        groups=(2, 4, 8),
        strides=(2, 2, 2),
    )
)

# The starting point of the growth search on Fashion-MNIST (ebn_tf.search): groups 1,
# half the widths of ebnet_fmnist; the search grows depth, width (with a^2 groups) and
# experts, whose gates then start on clusters as the other expert presets'.
register(
    EBNetConfig(
        name="fmnist_search_base",
        gate_initializer=CLUSTERS,
        **FMNIST,
        stem_width=32,
        widths=(32, 64, 128),
        blocks=(1, 1, 1),
        groups=(1, 1, 1),
        strides=(2, 2, 1),
        num_experts=1,
    )
)

# For fast tests.
register(
    EBNetConfig(
        name="tiny",
        gate_initializer=CLUSTERS,
        **FMNIST,
        stem_width=32,
        stem_strides=2,
        widths=(64, 64),
        blocks=(1, 1),
        groups=(1, 2),
        strides=(2, 2),
    )
)
