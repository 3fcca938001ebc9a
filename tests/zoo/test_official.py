"""The released EBNet checkpoint, imported exactly: oracle tests on data made by the
official code (tests/fixtures/ebnet_official_tiny, see its README)."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

import ebn_tf
from ebn_tf import models, zoo
from ebn_tf._keras import keras
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.layers import selected_experts
from ebn_tf.zoo import official
from ebn_tf.zoo.official import OfficialCheckpoint, import_official
from ebn_tf.zoo.torch_checkpoint import CheckpointError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TINY = FIXTURES / "ebnet_official_tiny"
EXPECTED = np.load(TINY / "expected.npz")
IMAGES = EXPECTED["images"].astype("float32")
# The fixture's input is 72x72: stages at 18, 18 -> 9 (even: PyTorch's border differs from
# TF's SAME), 9 -> 5 and 5 -> 3 (odd: the two agree).
SIZE = 72


def _keras_name(official: str) -> str:
    """``layer2.0.conv1`` -> ``stage2_block1_conv1``."""
    stage, block, conv = re.match(r"layer(\d)\.(\d+)\.(conv\d)$", official).groups()
    return f"stage{stage}_block{int(block) + 1}_{conv}"


@pytest.fixture(scope="module")
def imported():
    return OfficialCheckpoint(TINY / "state_dict.pth").build(SIZE)


@pytest.mark.parametrize("file", ["state_dict.pth", "state_dict_legacy.pth"])
def test_keras_logits_equal_the_official_logits(file):
    model = import_official(TINY / file, image_size=SIZE)
    logits = model.predict(IMAGES, verbose=0)
    np.testing.assert_allclose(logits, EXPECTED["logits"], atol=1e-4, rtol=0)


def test_block_outputs_and_every_gate_equal_the_official_model(imported):
    model, _ = imported
    blocks = {"block_stem": "stem_conv2_relu"}
    blocks.update({f"block_layer{s}.0": f"stage{s}_block1_conv3_add" for s in range(1, 5)})
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in blocks.values()])
    for key, output in zip(blocks, probe.predict(IMAGES, verbose=0)):
        expected = EXPECTED[key]
        assert output.shape == expected.shape, key
        error = np.abs(output - expected).max() / np.abs(expected).max()
        assert error < 1e-4, (key, error)
    chosen = selected_experts(model, IMAGES)
    gates = [k for k in EXPECTED.files if k.startswith("selected_")]
    assert len(gates) == 12
    for key in gates:
        np.testing.assert_array_equal(chosen[_keras_name(key[len("selected_") :])], EXPECTED[key])


def test_report_accounts_for_every_tensor(imported):
    model, report = imported
    readme = (TINY / "README.md").read_text()
    assert report.sha256 in readme
    assert report.dtypes == {"float32": 226, "int64": 24}
    assert report.used == len(model.weights) == 202
    reasons = sorted(report.dropped.values())
    assert len(reasons) == 24 + 8 + 16
    assert reasons.count("folded into the shortcut kernel") == 8
    assert report.expert_kernel_zeros == {}
    config = report.config
    assert (config.widths, config.blocks, config.groups) == ((32, 32, 64, 64), (1,) * 4, (2,) * 4)
    assert (config.num_experts, config.num_classes, config.stem_width) == (4, 10, 64)
    assert "sha256" in str(report) and "exact zeros in expert kernels: 0" in str(report)


def test_tflite_equals_the_official_logits_and_passes_its_audit(official_export):
    export = pytest.importorskip("ebn_tf.export")
    # import_official(state_dict.pth, 72), i.e. OfficialCheckpoint(...).build(SIZE)[0],
    # converted once per session (conftest.py): the ARM test runs the same file.
    model, flatbuffer, audit = official_export
    assert audit.ok, audit
    # 4 blocks of (2 + 2 + 1) convs x groups, each with 4 experts: one LceBconv2d apiece.
    assert audit.binary_convs == 80
    assert audit.binary_convs == export.expected_binary_convs(model)
    # layer2.0.conv1 (18 -> 9) is the one stride-2 binary conv on an even size: each of its
    # 4 expert leaves reverses the image and the output.
    assert audit.count("REVERSE_V2") == 4 * 2
    interpreter = export.interpreter(flatbuffer)
    logits = np.concatenate([interpreter.predict(image[None]) for image in IMAGES])
    np.testing.assert_allclose(logits, EXPECTED["logits"], atol=1e-4, rtol=0)


def _synthesised_full_state() -> dict[str, np.ndarray]:
    keys = json.loads((TINY / "keys_full.json").read_text())
    rng = np.random.default_rng(0)
    return {
        key: (
            np.zeros(shape, dtype)
            if dtype == "int64"
            else rng.standard_normal(shape, np.float32) * 0.1 + (key.endswith("running_var"))
        )
        for key, shape, dtype in keys
    }


def test_the_full_released_configuration_maps_weight_for_weight(monkeypatch):
    state = _synthesised_full_state()
    assert len(state) == 502
    monkeypatch.setattr(official, "read_state_dict", lambda path: state)
    monkeypatch.setattr(official, "sha256", lambda path: "0" * 64)
    model, report = OfficialCheckpoint("keys_full").build(224)
    preset = models.get_config("ebnet_imagenet_official")
    for field in ("widths", "blocks", "groups", "strides", "num_experts", "num_classes"):
        assert getattr(report.config, field) == getattr(preset, field), field
    assert report.used == len(model.weights) == 433
    assert len(report.dropped) == 45 + 8 + 16
    conv = model.get_layer("stage3_block4_conv2")
    np.testing.assert_array_equal(
        conv.kernel.numpy(), state["layer3.3.conv2.weight"].transpose(0, 3, 4, 2, 1)
    )
    np.testing.assert_array_equal(conv.gate_kernel.numpy(), state["layer3.3.conv2.fc.weight"].T)
    shortcut = model.get_layer("stage4_block1_conv1_shortcut_conv2").kernel.numpy()
    alpha = state["layer4.0.downsample.4.alpha2"].reshape(-1, 1, 1, 1)
    scaled = state["layer4.0.downsample.4.weight"][0] * alpha
    np.testing.assert_allclose(shortcut, scaled.transpose(2, 3, 1, 0))


def _patched(monkeypatch, change):
    state = dict(official.read_state_dict(TINY / "state_dict.pth"))
    change(state)
    monkeypatch.setattr(official, "read_state_dict", lambda path: state)


def test_an_unknown_tensor_is_refused_by_name(monkeypatch):
    _patched(monkeypatch, lambda s: s.update({"layer1.0.conv1.extra": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match=r"'layer1\.0\.conv1\.extra'"):
        OfficialCheckpoint(TINY / "state_dict.pth").build(SIZE)


def test_a_missing_tensor_names_the_keras_weight_left_empty(monkeypatch):
    _patched(monkeypatch, lambda s: s.pop("layer2.0.conv2.se_fc.2.weight"))
    with pytest.raises(CheckpointError, match="stage2_block1_conv2/scaling_kernel2"):
        OfficialCheckpoint(TINY / "state_dict.pth").build(SIZE)


def test_a_wrong_shape_names_both_sides(monkeypatch):
    _patched(monkeypatch, lambda s: s.update({"layer1.0.bn2.bias": np.zeros(7, np.float32)}))
    with pytest.raises(CheckpointError, match=r"'layer1\.0\.bn2\.bias'.*stage1_block1_conv2_bn"):
        OfficialCheckpoint(TINY / "state_dict.pth").build(SIZE)


def test_integer_weights_are_refused(monkeypatch):
    _patched(monkeypatch, lambda s: s.update({"fc.bias": np.zeros(10, np.int32)}))
    with pytest.raises(CheckpointError, match="'fc.bias' is int32"):
        OfficialCheckpoint(TINY / "state_dict.pth")


def test_half_precision_files_import_and_zeros_are_reported(monkeypatch):
    def change(state):
        for key in state:
            if state[key].dtype == np.float32:
                state[key] = state[key].astype(np.float16)
        state["layer1.0.conv1.weight"][0, 0, 0, 0, 0] = 0

    _patched(monkeypatch, change)
    _, report = OfficialCheckpoint(TINY / "state_dict.pth").build(SIZE)
    assert report.dtypes["float16"] == 226
    assert report.expert_kernel_zeros == {"layer1.0.conv1.weight": 1}
    assert "exact zeros in expert kernels: 1" in str(report)


def _config_digest(config: dict) -> str:
    # Larq numbers its quantizers' names per process; the names carry no computation.
    text = json.dumps(config, sort_keys=True, default=str)
    text = re.sub(r'"name": "ste_sign(_\d+)?"', '"name": "ste_sign"', text)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("name", ["ebnet_imagenet", "ebnet_cifar", "tiny", "fmnist_teacher"])
def test_the_release_conventions_leave_every_preset_as_it_was(name):
    """The config fields of the release (border, BatchNorm epsilons, gate start) default to
    what the presets had: their Keras models are configured exactly as before them.
    The digests were taken at commit 9722ae8 (less the keys added since at the values the
    layers had: the glorot ``gate_initializer``, ``usage_balance`` 0 and ``routed`` off)."""
    before = json.loads((FIXTURES / "configs_before_official.json").read_text())
    config = json.loads(json.dumps(models.build(name).get_config(), default=str))
    assert _config_digest(_without_later_keys(config)) == before[name]


# Layer config keys added after the digests were taken, at the value the layers had then.
_LATER_KEYS = {
    "gate_initializer": lambda v: isinstance(v, dict) and v.get("class_name") == "GlorotUniform",
    "usage_balance": lambda v: v == 0.0,
    "routed": lambda v: v is False,
}


def _without_later_keys(obj):
    if isinstance(obj, dict):
        kept = {k: v for k, v in obj.items() if not (k in _LATER_KEYS and _LATER_KEYS[k](v))}
        return {k: _without_later_keys(v) for k, v in kept.items()}
    if isinstance(obj, list):
        return [_without_later_keys(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", ["ebnet_fmnist", "binary_fmnist_baseline"])
def test_zoo_models_compute_bit_for_bit_what_they_did(name):
    """Logits of the published v3 models on 64 test images, as computed at 9722ae8 (with
    oneDNN on; equal to the bit there, measured). The config digest pins the computation.
    Other kernels round the real-valued sums before a sign their own way, and a sum within
    rounding of zero flips its sign: with oneDNN off, 10 of 640 logits (1 image) moved by
    up to 5e-3, measured. So every image keeps its class, all but 2 of 64 keep every logit
    within 1e-5, and none moves by more than 0.05 (a changed border or epsilon moves every
    image by far more)."""
    stored = np.load(FIXTURES / "zoo_v3_logits.npz")
    model = zoo.load(name, mirror=zoo_mirror())
    config = json.loads(json.dumps(model.get_config(), default=str))
    before = json.loads((FIXTURES / "configs_before_official.json").read_text())
    assert _config_digest(_without_later_keys(config)) == before[name]
    logits = model.predict(stored["images"].astype("float32"), verbose=0)
    np.testing.assert_array_equal(logits.argmax(1), stored[name].argmax(1))
    moved = np.abs(logits - stored[name]).max(axis=1)
    assert np.sum(moved > 1e-5) <= 2, np.sort(moved)[-4:]
    np.testing.assert_allclose(logits, stored[name], atol=0.05, rtol=0)


def test_the_official_preset_is_its_own_and_ebnet_imagenet_keeps_lce_borders():
    release = models.get_config("ebnet_imagenet_official")
    ours = models.get_config("ebnet_imagenet")
    assert (release.border, release.pad_value) == ("symmetric", 0.0)
    assert (release.block_bn_epsilon, release.real_bn_epsilon) == (1e-4, 1e-5)
    assert (ours.border, ours.pad_value) == ("same", 1.0)
    assert (
        ebn_tf.cost.profile(models.build(release)).bops
        == ebn_tf.cost.profile(models.build(ours)).bops
    )
