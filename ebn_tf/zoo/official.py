"""The released PyTorch EBNet checkpoint as a Keras model, exactly.

The release (github 1adrianb/expert-binary-networks, ``test/model.py``) evaluates
``model_binary_ebresnet.pth.tar``, a plain ``state_dict`` of the topology of
``ebnet_imagenet``. Its conventions are those of the preset ``ebnet_imagenet_official``:
PyTorch's borders on strided convs, a zero border on the sign maps, BatchNorm epsilons
1e-4 (blocks) and 1e-5 (stem, shortcuts). The file is read without torch and without
running any of its code (``ebn_tf.zoo.torch_checkpoint``); its configuration (widths,
blocks, groups, experts, classes) comes from the tensors' shapes, so the release's code
trained at other sizes loads too. Every tensor is used or deliberately dropped, and every
Keras weight is filled, or the import fails naming both sides.

    model = ebn_tf.zoo.import_official("model_binary_ebresnet.pth.tar")
    checkpoint = ebn_tf.zoo.OfficialCheckpoint("model_binary_ebresnet.pth.tar")
    model, report = checkpoint.build()   # report: sha256, dtypes, zeros in expert kernels
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ebn_tf import models
from ebn_tf._keras import keras
from ebn_tf.outputs import write_atomic
from ebn_tf.zoo.files import sha256
from ebn_tf.zoo.torch_checkpoint import CheckpointError, read_state_dict

PRESET = "ebnet_imagenet_official"
# The zoo card that tells how to get the release's weights (see card_section).
CARD_PRESET = "ebnet_imagenet"
# What save_imported writes into its directory.
WEIGHTS_FILE, CONFIG_FILE, REPORT_FILE = f"{PRESET}.weights.h5", "config.json", "import.txt"
# The stem's convs (``nn.Sequential(conv, bn, relu)``) and their Keras names.
STEM = {
    "conv1": "stem_conv1",
    "conv2_1": "stem_branch_conv1",
    "conv2_2": "stem_branch_conv2",
    "conv3": "stem_conv2",
}
BN_WEIGHTS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
# The shortcut's Sequential: 0 AvgPool, 1 conv, 2 BN, 3 PReLU, 4 conv, 5 BN, 6 PReLU.
SHORTCUT = {"1": "conv1", "2": "bn1", "3": "prelu1", "4": "conv2", "5": "bn2", "6": "prelu2"}
FLOATS = ("float16", "float32", "float64")


def _conv_kernel(w):  # torch OIHW -> Keras HWIO
    return w.transpose(2, 3, 1, 0)


def _expert_kernels(w):  # (N, O, I/g, kh, kw) -> (N, kh, kw, I/g, O)
    return w.transpose(0, 3, 4, 2, 1)


def _prelu(w):
    return w.reshape(1, 1, -1)


@dataclass(frozen=True)
class ImportReport:
    """What an import read and did.

    Args:
        path: the checkpoint file.
        sha256: its hex digest (compare it with the release's, where published).
        dtypes: tensors per dtype name, as stored.
        used: official tensors copied into the model.
        dropped: official tensors deliberately not used, with why.
        expert_kernel_zeros: per expert kernel tensor, its exact zeros (the release's
            ``sign(0)`` is 0, the Keras model's +1: such weights differ).
        config: the configuration the file was read as.
    """

    path: str
    sha256: str
    dtypes: dict[str, int]
    used: int
    dropped: dict[str, str]
    expert_kernel_zeros: dict[str, int]
    config: models.EBNetConfig

    def __str__(self) -> str:
        zeros = sum(self.expert_kernel_zeros.values())
        reasons = Counter(self.dropped.values())
        return "\n".join(
            [
                f"checkpoint {self.path}",
                f"  sha256 {self.sha256}",
                "  dtypes " + ", ".join(f"{k} x{v}" for k, v in sorted(self.dtypes.items())),
                f"  used {self.used} tensors; dropped "
                + ", ".join(f"{n} ({why})" for why, n in reasons.items()),
                f"  exact zeros in expert kernels: {zeros}"
                + (
                    f" in {len(self.expert_kernel_zeros)} tensors (the release binarises them "
                    "to 0, this model to +1)"
                    if zeros
                    else ""
                ),
                f"  config: widths {self.config.widths}, blocks {self.config.blocks}, groups "
                f"{self.config.groups}, {self.config.num_experts} experts, "
                f"{self.config.num_classes} classes, input {self.config.input_shape}",
            ]
        )


class OfficialCheckpoint:
    """A released-code EBNet ``state_dict`` file, read safely (no code runs).

    Args:
        path: the ``torch.save`` file (zip or legacy format; a ``{"state_dict": ...}``
            wrapper and ``module.`` prefixes are unwrapped).

    Raises:
        CheckpointError: the file is not a readable checkpoint of this architecture.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.state = read_state_dict(path)
        self.sha256 = sha256(path)
        for key, array in self.state.items():
            if not key.endswith("num_batches_tracked") and array.dtype.name not in FLOATS:
                self._fail(f"tensor {key!r} is {array.dtype.name}, expected one of {FLOATS}")

    def _fail(self, problem: str):
        raise CheckpointError(
            f"{self.path}: {problem}. Fix: give the release's EBNet state_dict "
            "(model_binary_ebresnet.pth.tar, or a checkpoint of its code's resnet_generic "
            "with binary=True, use_se=True, add_g_layer=True, decompose_downsample=4)."
        )

    def _shape(self, key: str) -> tuple[int, ...]:
        if key not in self.state:
            self._fail(f"it has no tensor {key!r}")
        return self.state[key].shape

    def config(self, image_size: int = 224) -> models.EBNetConfig:
        """The ``ebnet_imagenet_official`` configuration of this file, for square
        ``image_size`` inputs."""
        stages = 0
        while f"layer{stages + 1}.0.conv1.weight" in self.state:
            stages += 1
        if not stages:
            self._fail("it has no 'layer1.0.conv1.weight' (no EBNet stages)")
        widths, blocks, groups, experts = [], [], [], set()
        for stage in range(1, stages + 1):
            kernel = self._shape(f"layer{stage}.0.conv1.weight")
            if len(kernel) != 5:
                self._fail(f"layer{stage}.0.conv1.weight has shape {kernel}, not (N, O, I/g, k, k)")
            channels = self._shape(f"layer{stage}.0.bn1.weight")[0]
            widths.append(kernel[1])
            groups.append(channels // kernel[2])
            experts.add(kernel[0])
            pattern = re.compile(rf"layer{stage}\.(\d+)\.bn1\.weight$")
            blocks.append(len({m.group(1) for k in self.state if (m := pattern.match(k))}))
        aggregation = {f"layer{s + 1}.0.conv3.weight" in self.state for s in range(stages)}
        if len(experts) != 1:
            self._fail(f"its stages have different numbers of experts {sorted(experts)}")
        try:
            return models.get_config(
                PRESET,
                name=f"{PRESET}_{image_size}",
                input_shape=(image_size, image_size, 3),
                num_classes=self._shape("fc.weight")[0],
                stem_width=self._shape("conv3.0.weight")[0],
                widths=widths,
                blocks=blocks,
                groups=groups,
                # The release's ResNet fixes them: stage 1 keeps the stem's resolution.
                strides=[1] + [2] * (stages - 1),
                num_experts=experts.pop(),
                aggregation=any(aggregation),
                channel_scaling="layer1.0.conv1.se_fc.0.weight" in self.state,
            )
        except ValueError as error:
            self._fail(f"its shapes give no valid configuration ({error})")

    def _targets(self) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, str]]:
        """``{(keras layer, weight name): array}`` from the official tensors, and the
        tensors dropped with why; an unknown tensor is an error."""
        out, dropped = {}, {}

        def put(layer: str, weight: str, key: str, value):
            out[(layer, weight)] = (key, np.asarray(value, np.float32))

        for key, array in self.state.items():
            parts = key.split(".")
            if parts[-1] == "num_batches_tracked":
                dropped[key] = "BatchNorm step counter"
            elif parts[0] in STEM and parts[1] == "0" and parts[2] == "weight":
                put(STEM[parts[0]], "kernel", key, _conv_kernel(array))
            elif parts[0] in STEM and parts[1] == "1" and parts[2] in BN_WEIGHTS:
                put(f"{STEM[parts[0]]}_bn", BN_WEIGHTS[parts[2]], key, array)
            elif parts[0] == "fc":
                put("head_logits", {"weight": "kernel", "bias": "bias"}[parts[1]], key, array.T)
            elif re.match(r"layer\d+$", parts[0]) and parts[1].isdigit():
                prefix = f"stage{parts[0][5:]}_block{int(parts[1]) + 1}"
                self._block_tensor(key, parts[2:], prefix, array, put, dropped)
            else:
                self._fail(f"it has a tensor {key!r} that is not part of the EBNet release")
        return out, dropped

    def _block_tensor(self, key, parts, prefix, array, put, dropped) -> None:
        name = parts[0]
        if m := re.match(r"bn(\d)$", name):
            put(f"{prefix}_conv{m.group(1)}_bn", BN_WEIGHTS[parts[1]], key, array)
        elif m := re.match(r"activation(\d)$", name):
            put(f"{prefix}_conv{m.group(1)}_prelu", "alpha", key, _prelu(array))
        elif re.match(r"conv\d$", name):
            layer = f"{prefix}_{name}"
            rest = ".".join(parts[1:])
            weights = {
                "weight": ("kernel", _expert_kernels),
                "alpha2": ("scale", lambda a: a.reshape(-1)),
                "fc.weight": ("gate_kernel", np.transpose),
                "fc.bias": ("gate_bias", lambda a: a),
                "se_fc.0.weight": ("scaling_kernel1", np.transpose),
                "se_fc.2.weight": ("scaling_kernel2", np.transpose),
            }
            if rest not in weights:
                self._fail(f"it has a tensor {key!r} that is not part of the EBNet release")
            weight, transform = weights[rest]
            put(layer, weight, key, transform(array))
        elif name == "downsample" and parts[1] in SHORTCUT:
            layer = f"{prefix}_conv1_shortcut_{SHORTCUT[parts[1]]}"
            rest = ".".join(parts[2:])
            kind = SHORTCUT[parts[1]][:-1]
            if kind == "bn" and rest in BN_WEIGHTS:
                put(layer, BN_WEIGHTS[rest], key, array)
            elif kind == "prelu" and rest == "weight":
                put(layer, "alpha", key, _prelu(array))
            elif kind == "conv" and rest == "weight":
                # A real EBConv run with expert 0 forced: expert 0 times its alpha2.
                scale = self.state[key.replace(".weight", ".alpha2")].reshape(-1, 1, 1, 1)
                put(layer, "kernel", key, _conv_kernel(array[0] * scale))
            elif kind == "conv" and rest == "alpha2":
                dropped[key] = "folded into the shortcut kernel"
            elif kind == "conv" and rest.startswith("fc."):
                dropped[key] = "shortcut gate, never used (expert 0 is forced)"
            else:
                self._fail(f"it has a tensor {key!r} that is not part of the EBNet release")
        else:
            self._fail(f"it has a tensor {key!r} that is not part of the EBNet release")

    def _assign(self, model: keras.Model) -> tuple[int, dict[str, str]]:
        """Copy the file's tensors into ``model`` (built from ``self.config(...)``);
        returns the number used and the tensors dropped, with why."""
        targets, dropped = self._targets()
        filled = set()
        for layer in model.layers:
            for variable in layer.weights:
                weight = variable.name.split("/")[-1].split(":")[0]
                if (layer.name, weight) not in targets:
                    self._fail(
                        f"nothing in it fills Keras weight {layer.name}/{weight} "
                        f"{tuple(variable.shape)}"
                    )
                key, value = targets[(layer.name, weight)]
                if tuple(variable.shape) != value.shape:
                    self._fail(
                        f"tensor {key!r} {self.state[key].shape} becomes {value.shape}, but "
                        f"Keras weight {layer.name}/{weight} is {tuple(variable.shape)}"
                    )
                variable.assign(value)
                filled.add((layer.name, weight))
        unused = sorted(targets[t][0] for t in set(targets) - filled)
        if unused:
            self._fail(f"tensors {unused} have no Keras weight to go to")
        return len(filled), dropped

    def build(self, image_size: int = 224) -> tuple[keras.Model, ImportReport]:
        """The Keras model (0-255 RGB images in, logits out) and the import's report."""
        config = self.config(image_size)
        model = models.build(config)
        used, dropped = self._assign(model)
        zeros = {
            key: int(np.sum(array == 0))
            for key, array in self.state.items()
            if re.match(r"layer\d+\.\d+\.conv\d\.weight$", key) and np.any(array == 0)
        }
        return model, ImportReport(
            path=self.path,
            sha256=self.sha256,
            dtypes=dict(Counter(a.dtype.name for a in self.state.values())),
            used=used,
            dropped=dropped,
            expert_kernel_zeros=zeros,
            config=config,
        )


def import_official(path: str | os.PathLike, image_size: int = 224) -> keras.Model:
    """The released EBNet checkpoint at ``path`` as a Keras model of
    ``ebnet_imagenet_official`` at ``image_size`` x ``image_size``: 0-255 RGB images in,
    logits out, computing what the release's ``test/model.py`` computes.

    Raises:
        CheckpointError: the file is unreadable, runs code, or is not this architecture.
    """
    return OfficialCheckpoint(path).build(image_size)[0]


def save_imported(model: keras.Model, report: ImportReport, directory: str | os.PathLike) -> Path:
    """Write an imported model into ``directory``: its weights, its resolved config (JSON)
    and the import's report; ``load_imported`` reads it back."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_weights(directory / WEIGHTS_FILE)
    write_atomic(directory / CONFIG_FILE, json.dumps(report.config.to_json(), indent=2))
    write_atomic(directory / REPORT_FILE, f"{report}\n")
    return directory


def is_imported(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a model written by ``save_imported``."""
    return all((Path(directory) / name).is_file() for name in (WEIGHTS_FILE, CONFIG_FILE))


def load_imported(directory: str | os.PathLike) -> keras.Model:
    """The Keras model that ``save_imported`` wrote into ``directory``."""
    directory = Path(directory)
    if not is_imported(directory):
        raise FileNotFoundError(
            f"{directory} holds no imported model ({WEIGHTS_FILE} and {CONFIG_FILE}). Fix: "
            "write one with `ebn-zoo import-official PATH --output DIR`."
        )
    config = models.EBNetConfig(**json.loads((directory / CONFIG_FILE).read_text()))
    model = models.build(config)
    model.load_weights(directory / WEIGHTS_FILE)
    return model


def card_section() -> list[str]:
    """The Markdown lines of ``CARD_PRESET``'s zoo card on the released weights."""
    return [
        "## The paper's weights on Android: import the released checkpoint",
        "",
        "The authors' release (github.com/1adrianb/expert-binary-networks, MIT) links the "
        "trained model, `model_binary_ebresnet.pth.tar` (the paper's 71.2% top-1), from its "
        "README. Its licence is not stated, so no converted weights are published here: "
        "download it yourself, then",
        "",
        "```",
        "ebn-zoo import-official model_binary_ebresnet.pth.tar --output ebnet_official --tflite",
        "ebn-zoo evaluate ebnet_official          # with ImageNet prepared in tfds: top-1",
        "adb push ebnet_official/ebnet_imagenet_official_224.tflite /data/local/tmp/",
        "adb shell /data/local/tmp/lce_benchmark_model \\",
        "    --graph=/data/local/tmp/ebnet_imagenet_official_224.tflite --num_threads=1",
        "```",
        "",
        "The import reads the file without torch and runs none of its code; it builds "
        "`ebnet_imagenet_official` (this topology with the release's conventions: PyTorch's "
        "borders, a zero border on the sign maps, its BatchNorm epsilons) and prints the "
        "file's sha256, its dtypes and any exact zeros in expert kernels. `--tflite` writes "
        "the LCE file, audited (one `LceBconv2d` per expert and group, the stride-2 binary "
        "convs in the reversal form) and compared with the Keras model. "
        "`lce_benchmark_model` is LCE's Android benchmark binary (built from LCE's "
        "repository); in an app, run the file with LCE's interpreter.",
        "",
        "Verified here: on a small configuration of the release's own code with random "
        "weights (tests/fixtures/ebnet_official_tiny), the Keras model's logits are within "
        "3e-7 of the official ones, every block output within 4e-7 relative, every gate "
        "picks the same expert, and the TFLite file is within 3e-7; the full 224x224 "
        "configuration maps all 433 weights from the release's key list, converts with "
        "its audit passing (844 `LceBconv2d`) and runs at 1.03x the latency of "
        "`ebnet_imagenet` in LCE's x86 interpreter (BENCHMARKS.md). Not verified here: "
        "the real file's bytes (its sha256 and dtypes are reported on import), its "
        "ImageNet top-1 (`ebn-zoo evaluate` measures it where ImageNet is at hand) and "
        "its speed on an ARM phone.",
        "",
    ]
