"""EBNet architectures as data."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ebn_tf._fields import Rule, check_fields, replace_known
from ebn_tf.layers.ebconv import EXECUTIONS, PAD_VALUES
from ebn_tf.layers.gate import GATE_ACTIVATIONS, GATE_INITIALIZERS

STEMS = ("dabnn", "resnet", "conv3x3")
BORDERS = ("same", "symmetric")
SHORTCUTS = ("decomposed", "simple")
ROUTINGS = ("per_layer", "stem")
STAGE_FIELDS = ("widths", "blocks", "groups", "strides")
# LCE's grouped binary conv works only on a multiple of 32 input channels per group.
LCE_GROUP_CHANNELS = 32

_CHOICES = {
    "stem": STEMS,
    "shortcut": SHORTCUTS,
    "gate_activation": GATE_ACTIVATIONS,
    "gate_initializer": tuple(GATE_INITIALIZERS),
    "execution": EXECUTIONS,
    "pad_value": PAD_VALUES,
    "border": BORDERS,
    "routing": ROUTINGS,
}
# What each field allows beyond its annotated type (see ``check_fields``).
_RULES: dict[str, Rule] = {
    **{
        field: (lambda v: v >= 1, ">= 1")
        for field in ("num_classes", "stem_width", "stem_strides", "num_experts")
    },
    **{
        field: (lambda v: all(x >= 1 for x in v), ">= 1")
        for field in ("input_shape", *STAGE_FIELDS)
    },
    "input_std": (lambda v: all(x > 0 for x in v), "> 0"),
    "usage_balance": (lambda v: v >= 0, ">= 0"),
    **{field: (lambda v: v > 0, "> 0") for field in ("block_bn_epsilon", "real_bn_epsilon")},
    **{
        field: (lambda v, allowed=allowed: v in allowed, f"among {allowed}")
        for field, allowed in _CHOICES.items()
    },
}

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class EBNetConfig:
    """An EBNet topology (docs/design/method.md section 4).

    Each stage has ``blocks[i]`` blocks of width ``widths[i]``; a block is a grouped 3x3
    conv (stride ``strides[i]`` in the first block), a grouped 3x3 conv and, where
    ``groups[i] > 1`` and ``aggregation``, a non-grouped 1x1 conv. Every conv sits in its
    own residual ``PReLU(conv(BN(x))) + shortcut(x)``. Binary convs are ``EBConv2D`` with
    ``num_experts`` experts; with ``binary=False`` they are the same layers with real weights
    and activations (the teacher).

    Args:
        name: model name.
        input_shape: (height, width, channels) of the images as the dataset stores them.
        num_classes: classifier outputs (logits).
        input_mean, input_std: per-channel normalisation on 0-255 pixels, done in the model.
        stem: ``"dabnn"`` (released EBNet), ``"resnet"`` (7x7 s2 + max-pool) or
            ``"conv3x3"`` (one 3x3 conv, for small images).
        stem_width: stem output channels.
        stem_strides: stride of the ``conv3x3`` stem.
        widths, blocks, groups, strides: one entry per stage.
        aggregation: add the 1x1 aggregation conv after grouped 3x3 convs.
        num_experts: experts per binary conv.
        binary: binary EBConvs (True) or the real-valued twin (False).
        gate_activation, gate_initializer, usage_balance, channel_scaling, pad_value,
            execution: see ``EBConv2D``.
        routing: ``"per_layer"`` (the paper: each binary conv's own gate picks its
            expert) or ``"stem"`` (beyond the paper: one ``ExpertRouter`` on the stem's
            output picks each image's expert for every layer; from step 3 on the stem and
            the router are held, ``layers.hold_stem``, so the routes do not drift). With
            one expert there is nothing to route, and the stem is held alike: the fair
            twin of a routed model.
        shortcut: downsample shortcut, ``"decomposed"`` (AvgPool, 1x1 C->C/4, 1x1 C/4->C_out,
            each with BN + PReLU) or ``"simple"`` (AvgPool, 1x1, BN).
        border: border of strided convs and the stem's max-pool: ``"same"`` (TensorFlow's)
            or ``"symmetric"`` (PyTorch's ``k // 2``, the released code's; on even sizes
            with stride 2 its grid starts one pixel earlier; see ``ebn_tf.layers.borders``).
        block_bn_epsilon: epsilon of the BatchNorms before the binary convs (the release:
            1e-4).
        real_bn_epsilon: epsilon of the stem's and the shortcuts' BatchNorms (the release:
            PyTorch's 1e-5).
        lce: the model is meant for LCE export: reject grouped binary convs whose input
            channels per group are not a multiple of 32.
    """

    name: str = "ebnet"
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: int = 1000
    input_mean: tuple[float, ...] = IMAGENET_MEAN
    input_std: tuple[float, ...] = IMAGENET_STD
    stem: str = "dabnn"
    stem_width: int = 64
    stem_strides: int = 1
    widths: tuple[int, ...] = (128, 256, 512, 1024)
    blocks: tuple[int, ...] = (1, 2, 6, 2)
    groups: tuple[int, ...] = (4, 8, 8, 16)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    aggregation: bool = True
    num_experts: int = 4
    binary: bool = True
    gate_activation: str = "softmax"
    gate_initializer: str = "glorot_uniform"
    usage_balance: float = 0.0
    routing: str = "per_layer"
    channel_scaling: bool = True
    pad_value: float = 1.0
    execution: str = "partition"
    shortcut: str = "decomposed"
    border: str = "same"
    # Keras' default; the release's are 1e-4 and 1e-5 (ebnet_imagenet_official).
    block_bn_epsilon: float = 1e-3
    real_bn_epsilon: float = 1e-3
    lce: bool = True

    def __post_init__(self):
        check_fields(self, f"EBNetConfig {self.name!r}", _RULES)
        self._validate()

    def _validate(self) -> None:
        """The checks that involve several fields."""

        def fail(field: str, problem: str) -> None:
            raise ValueError(
                f"EBNetConfig {self.name!r}: {field}={getattr(self, field)!r} {problem}"
            )

        if (
            len(self.input_mean) != self.input_shape[2]
            or len(self.input_std) != self.input_shape[2]
        ):
            fail(
                "input_mean", f"and input_std need {self.input_shape[2]} entries (one per channel)."
            )
        stages = len(self.widths)
        for field in STAGE_FIELDS:
            if len(getattr(self, field)) != stages or stages == 0:
                fail(field, f"needs one entry per stage ({stages} stages, from widths).")
        if not self.binary and self.num_experts != 1:
            fail("num_experts", "must be 1 for a real-valued model (binary=False).")
        channels = self.stem_width
        for stage, (width, groups) in enumerate(zip(self.widths, self.groups), start=1):
            for conv, conv_in in (("conv1", channels), ("conv2", width)):
                if conv_in % groups or width % groups:
                    fail(
                        "groups",
                        f"stage{stage} {conv}: {groups} groups do not divide "
                        f"{conv_in} input / {width} output channels.",
                    )
                per_group = conv_in // groups
                if self.lce and self.binary and groups > 1 and per_group % LCE_GROUP_CHANNELS:
                    fail(
                        "groups",
                        f"stage{stage} {conv}: {per_group} input channels per group "
                        f"({conv_in} / {groups}); LCE's grouped binary conv needs a multiple of "
                        f"{LCE_GROUP_CHANNELS}. Use fewer groups or wider stages, or set "
                        "lce=False if the model is not meant for LCE export.",
                    )
            channels = width

    def replace(self, **overrides) -> EBNetConfig:
        """A copy with ``overrides`` (config fields only; an unknown field is an error)."""
        return replace_known(self, overrides, "EBNetConfig field")

    def teacher(self) -> EBNetConfig:
        """The real-valued twin: same topology, real weights and activations, no gates
        (so the gate start is the field's default)."""
        return self.replace(
            name=f"{self.name}_teacher",
            binary=False,
            num_experts=1,
            gate_initializer=EBNetConfig.gate_initializer,
            usage_balance=EBNetConfig.usage_balance,
            routing=EBNetConfig.routing,
        )

    def to_json(self) -> dict:
        """Every field, resolved: ``EBNetConfig(**config.to_json())`` (also after a JSON
        round trip, which turns tuples into lists) rebuilds the same config, whatever the
        presets hold by then."""
        return dataclasses.asdict(self)
