"""Exported files on LCE's ARM64 kernels (the lce-arm64 runner under qemu) compute what
they compute on x86 and in Keras: the zoo's files, a fresh export, the official
checkpoint's export (PAD and REVERSE_V2); the export report and the model card say so, or
why the check did not run; without a runner, a clear message."""

import dataclasses
from pathlib import Path

import larq as lq
import numpy as np
import pytest

import ebn_tf
import ebn_tf.data
from ebn_tf import export, zoo
from ebn_tf._keras import keras
from ebn_tf.apps import publish
from ebn_tf.apps.checkout import zoo_mirror
from tests.export.test_larq_layers import randomise_batch_norms
from tests.harness import spread_gates

OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "ebnet_official_tiny"
# Images per check: qemu emulates each one (about 50 ms for the Fashion-MNIST models).
IMAGES = 24


@pytest.fixture(scope="module")
def runner():
    try:
        return export.find_arm_runner()
    except export.ArmRunnerError as missing:
        pytest.skip(f"LCE's ARM runner is not available: {missing}")


@pytest.fixture(scope="module")
def pool(fmnist_data_dir):
    """Test images from which those reaching every expert are picked."""
    batch = next(iter(ebn_tf.data.load("fashion_mnist", "test", 256, data_dir=fmnist_data_dir)))
    return batch[0].numpy()


def assert_agrees(report: export.ArmReport) -> None:
    """ARM's top-1 equals x86's and Keras', and its logits are theirs up to float rounding
    on the images no sign flip can touch; no state is left between images."""
    assert report.x86.top1_agreement == 1.0 and report.keras.top1_agreement == 1.0, report
    assert report.near_zero_images < report.images, report
    assert report.x86.max_relative_error_clear <= 1e-4, report
    assert report.keras.max_relative_error_clear <= 1e-4, report
    assert report.rerun_maxdiff == 0, report


@pytest.mark.parametrize("name", ["ebnet_fmnist", "binary_fmnist_baseline"])
def test_zoo_files_compute_on_arm_what_they_compute_on_x86(name, runner, pool):
    model = zoo.load(name, mirror=zoo_mirror())
    images = export.covering_images(model, pool, limit=IMAGES)
    path = zoo.download(name, "tflite", mirror=zoo_mirror())
    report = export.arm_parity(path, images, runner, model)
    assert report.images == IMAGES and report.outputs.shape == (IMAGES, 10)
    assert report.ms_per_image > 0
    assert_agrees(report)


def trained_like(model: keras.Model, pool: np.ndarray) -> keras.Model:
    """``model`` with the parameters training gives: gates spread over the experts, BatchNorm
    statistics away from the identity, and PReLU slopes away from 0. An untrained PReLU
    (slope 0) gives -0.0, which LCE's ARM kernels binarise otherwise (see below)."""
    randomise_batch_norms(model)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            layer.alpha.assign(rng.uniform(0.05, 0.3, layer.alpha.shape))
    spread_gates(model, pool)
    return model


def test_a_fresh_export_agrees_on_arm_and_its_export_report_says_so(runner, pool):
    keras.utils.set_random_seed(0)
    model = trained_like(ebn_tf.models.build("tiny"), pool)
    images = export.covering_images(model, pool, limit=IMAGES)
    report = export.export_report(model, images)
    assert not report.parity.uncovered, "every expert's branch runs on ARM"
    assert report.arm is not None, report.arm_not_run
    assert_agrees(report.arm)
    assert f"\n{report.arm}\n" in str(report)
    assert f"ARM check on {IMAGES} images" in str(report)
    assert (
        f"| TFLite on LCE 0.16's ARM64 kernels (qemu) vs x86 | top-1 agreement with x86 100.0% "
        f"and with Keras 100.0% on the {IMAGES} parity images, one interpreter"
    ) in published_card(report)


def test_a_routed_export_runs_every_route_on_arm(runner, pool):
    """One router for every layer (routing="stem"): each layer's tf.cond tree takes the
    router's index on LCE's ARM kernels as on x86 and in Keras."""
    keras.utils.set_random_seed(0)
    model = trained_like(ebn_tf.models.build("tiny", routing="stem"), pool)
    images = export.covering_images(model, pool, limit=IMAGES)
    flatbuffer = export.to_tflite(model)
    assert not export.parity(model, flatbuffer, images).uncovered, "every route runs"
    assert_agrees(export.arm_parity(flatbuffer, images, runner, model))


def test_the_official_checkpoint_export_gives_the_official_logits_on_arm(runner, official_export):
    expected = np.load(OFFICIAL / "expected.npz")
    # zoo.import_official(OFFICIAL / "state_dict.pth", image_size=72), converted once per
    # session (conftest.py): the x86 check of test_official.py reads the same file.
    _, flatbuffer, audit = official_export
    # Its zero borders: explicit PADs, and the stride-2 binary conv on an even size
    # in the reversal form (two REVERSE_V2 in each of its 4 expert branches).
    assert audit.count("REVERSE_V2") == 8 and audit.count("PAD") > 0, audit
    report = export.arm_parity(flatbuffer, expected["images"], runner)
    np.testing.assert_allclose(report.outputs, expected["logits"], atol=1e-4, rtol=0)
    assert report.x86.top1_agreement == 1.0 and report.x86.max_relative_error <= 1e-5, report
    assert report.keras is None and report.rerun_maxdiff == 0, report


def test_lce_on_arm_binarises_negative_zero_as_minus_one_where_x86_and_keras_give_plus_one(
    runner,
):
    """LCE 0.16's aarch64 bitpacking packs each float's sign bit, so -0.0 becomes -1; its
    x86 code and larq compare with 0 and give +1. -0.0 comes from a PReLU of slope 0
    (untrained; no slope of the zoo's models is 0). If this test fails, LCE's ARM code
    changed, and exact zeros no longer need a slope away from 0 to agree on ARM."""
    inputs = keras.Input((4, 4, 64))
    model = keras.Model(inputs, binary_conv(64)(inputs))
    flatbuffer, _ = export.convert(model)
    images = np.stack([np.full((4, 4, 64), value, np.float32) for value in (0.0, -0.0)])
    report = export.arm_parity(flatbuffer, images, runner, model)
    expected = model.predict(images, verbose=0)
    np.testing.assert_array_equal(expected[0], expected[1])  # +1 everywhere, both
    np.testing.assert_allclose(report.outputs[0], expected[0], atol=1e-5)
    assert np.abs(report.outputs[1] - expected[1]).max() > 1, "ARM now binarises -0.0 as +1"
    assert report.x86.max_relative_error > 0.1, "x86 gives Keras' +1 for -0.0, ARM does not"


def binary_conv(filters: int) -> lq.layers.QuantConv2D:
    """A 3x3 conv that LCE runs as an LceBconv2d."""
    return lq.layers.QuantConv2D(
        filters,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
    )


def small_binary_model() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = binary_conv(32)(keras.layers.Conv2D(32, 3, padding="same")(inputs))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.BatchNormalization()(x))
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="small_binary")


def test_int8_input_is_compared_with_x86_given_int8_images(runner):
    keras.utils.set_random_seed(0)
    model = small_binary_model()
    int8 = dict(inference_input_type="int8", inference_output_type="int8", int8_range=(-6, 6))
    with pytest.warns(UserWarning, match="uncalibrated range"):
        flatbuffer, _ = export.convert(model, **int8)
    images = np.random.default_rng(0).integers(-128, 128, (8, 8, 8, 3), dtype=np.int8)
    report = export.arm_parity(flatbuffer, images, runner)
    assert report.outputs.dtype == np.int8 and report.x86.top1_agreement == 1.0, report
    with pytest.raises(ValueError, match=r"takes int8 input and the images are float32\. Fix"):
        export.arm_parity(flatbuffer, images.astype("float32"), runner)
    with pytest.raises(ValueError, match=r"input and output are int8 and int8.*model=None"):
        export.arm_parity(flatbuffer, images, runner, model)
    with pytest.raises(
        ValueError, match=r"shape \(8, 8, 3\); the file takes images of shape \(8, 8, 3\)\. Fix"
    ):
        export.arm_parity(flatbuffer, images[0], runner)


def test_without_a_runner_arm_parity_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv(export.ARM_RUNNER_ENV, raising=False)
    assert export.arm_runner() is None
    images = np.zeros((1, 28, 28, 1), np.float32)
    with pytest.raises(
        export.ArmRunnerError,
        match=r"^no runner: set EBN_LCE_ARM_RUNNER to the lce-arm64 folder .* or pass runner=",
    ):
        export.arm_parity(b"", images)
    monkeypatch.setenv(export.ARM_RUNNER_ENV, str(tmp_path))
    with pytest.raises(
        export.ArmRunnerError,
        match=f"^no runner at {tmp_path} \\(from EBN_LCE_ARM_RUNNER\\): it is not the lce-arm64",
    ):
        export.arm_parity(b"", images)
    (tmp_path / "run.sh").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path / "no_qemu_here"))
    with pytest.raises(
        export.ArmRunnerError,
        match=r"qemu-aarch64-static is not installed.*Fix: apt-get install qemu-user-static",
    ):
        export.arm_parity(b"", images, runner=tmp_path / "run.sh")
    assert export.arm_runner(tmp_path) is None


def test_without_a_runner_the_export_report_says_the_arm_check_did_not_run(monkeypatch):
    monkeypatch.delenv(export.ARM_RUNNER_ENV, raising=False)
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).normal(0, 1, (4, 8, 8, 3)).astype("float32")
    report = export.export_report(small_binary_model(), images)
    assert report.arm is None and report.parity.top1_agreement == 1.0
    assert "\nARM check: not run (no runner: set EBN_LCE_ARM_RUNNER to" in str(report)
    assert (
        "| TFLite on LCE 0.16's ARM64 kernels (qemu) vs x86 | not checked when published: "
        "no runner: set EBN_LCE_ARM_RUNNER"
    ) in published_card(report)


def published_card(exported: export.ExportReport) -> str:
    """The card of the zoo's ebnet_fmnist, had its export measured ``exported``; the cards
    published before the ARM check have no ARM row."""
    entry = zoo.get("ebnet_fmnist")
    assert "ARM64" not in publish.card(entry)
    metrics = {**entry.metrics, **publish._arm_metrics(exported)}
    return publish.card(dataclasses.replace(entry, metrics=metrics))
