"""An exported file on LCE's ARM64 kernels, on an x86 machine: the outputs an Android
phone computes, against LCE's x86 interpreter (and Keras).

Apps on Android run ``.tflite`` files with LCE's aarch64 kernels, which are other code
than the x86 interpreter that every other figure of ``ebn_tf.export`` comes from. The
runner is the lce-arm64 folder: a static aarch64 program built from LCE 0.16.0's kernels
and LiteRT, with its ``run.sh``, run under ``qemu-aarch64-static`` (Debian package
``qemu-user-static``), which emulates ARM arithmetic exactly. Its folder's README says
how it was built and checked.

    report = ebn_tf.export.arm_parity("model.tflite", images, model=keras_model)
    print(report)  # top-1 agreement and max error, ARM vs x86 and vs Keras

One difference is known (LCE 0.16, measured): LCE's aarch64 bitpacking takes each float's
sign bit, so an exact -0.0 binarises to -1 where x86 and larq give +1. A PReLU of slope 0
(untrained) makes -0.0; ``sign_margins`` leaves exact zeros out, so such an image can
count as sign-clear and still disagree on ARM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

from ebn_tf._keras import keras
from ebn_tf.export.parity import (
    SIGN_MARGIN,
    Agreement,
    agreement,
    interpreter,
    sign_margins,
    tflite_outputs,
)

ARM_RUNNER_ENV = "EBN_LCE_ARM_RUNNER"
QEMU = "qemu-aarch64-static"
_GET_A_RUNNER = (
    f"set {ARM_RUNNER_ENV} to the lce-arm64 folder (LCE 0.16's kernels built for aarch64, "
    "with its run.sh; a checkout's `make test` sets it to ../shared/tools/lce-arm64 where "
    "that folder exists) or to its run.sh, or pass runner=PATH"
)


class ArmRunnerError(OSError):
    """LCE's ARM runner is not available (no runner or no qemu), or it failed."""


def find_arm_runner(runner: str | os.PathLike | None = None) -> Path:
    """The ``run.sh`` of the ARM runner, ready to run.

    Args:
        runner: the lce-arm64 folder or its ``run.sh``; default ``$EBN_LCE_ARM_RUNNER``.

    Returns:
        The path of ``run.sh``.

    Raises:
        ArmRunnerError: no runner is given, there is none at the path, or
            ``qemu-aarch64-static`` is not installed; the message says how to get it.
    """
    given = runner or os.environ.get(ARM_RUNNER_ENV)
    if not given:
        raise ArmRunnerError(f"no runner: {_GET_A_RUNNER}")
    path = Path(given).expanduser()
    script = path / "run.sh" if path.is_dir() else path
    if not script.is_file():
        source = "runner" if runner else ARM_RUNNER_ENV
        raise ArmRunnerError(
            f"no runner at {path} (from {source}): it is not the lce-arm64 folder nor its "
            f"run.sh. Fix: {_GET_A_RUNNER}"
        )
    if shutil.which(QEMU) is None:
        raise ArmRunnerError(
            f"{QEMU} is not installed, and it runs the aarch64 runner {script}. Fix: "
            "apt-get install qemu-user-static"
        )
    return script


def arm_runner(runner: str | os.PathLike | None = None) -> Path | None:
    """The ``run.sh`` of the ARM runner (see ``find_arm_runner``), or None when there is
    no runner or no qemu to run it."""
    try:
        return find_arm_runner(runner)
    except ArmRunnerError:
        return None


@dataclass(frozen=True)
class ArmReport:
    """A TFLite file on LCE's ARM64 kernels (under qemu), against LCE's x86 interpreter
    and Keras, on the same images.

    Args:
        images: images compared, all run by one ARM interpreter in turn, so that every IF
            branch runs again (as in an app).
        x86: ARM's logits against the x86 interpreter's (run image by image).
        keras: ARM's logits against the Keras model's (None without a model).
        near_zero_images: images with a binarised input closer to 0 than ``SIGN_MARGIN``
            x RMS, where float rounding may flip a sign (None without a model, which
            tells them); the ``*_clear`` errors leave them out.
        rerun_maxdiff: max difference of image 0's output when the runner ran it again
            after the others; anything but 0 means the interpreter kept state it should not.
        ms_per_image: emulated time per image under qemu. It says nothing about a phone.
        outputs: ARM's output 0 of every image.
    """

    images: int
    x86: Agreement
    keras: Agreement | None
    near_zero_images: int | None
    rerun_maxdiff: float
    ms_per_image: float
    outputs: np.ndarray = field(repr=False, compare=False)

    def _line(self, name: str, found: Agreement) -> str:
        if found.max_relative_error_clear is None:
            error = f"max relative error {found.max_relative_error:.2e}" + (
                ""
                if self.near_zero_images is None
                else f" (no image's sign inputs keep {SIGN_MARGIN:g} x RMS from 0)"
            )
        else:
            error = (
                f"max relative error {found.max_relative_error_clear:.2e} on the "
                f"{self.images - self.near_zero_images} whose sign inputs keep "
                f"{SIGN_MARGIN:g} x RMS from 0 ({found.max_relative_error:.2e} on all)"
            )
        return f"  vs {name}: top-1 agreement {100 * found.top1_agreement:.2f}%, {error}"

    def __str__(self) -> str:
        lines = [
            f"ARM check on {self.images} images (LCE 0.16's aarch64 kernels under qemu, one "
            "interpreter: every IF branch runs again):",
            self._line("the x86 interpreter", self.x86),
        ]
        if self.keras is not None:
            lines.append(self._line("Keras", self.keras))
        lines.append(
            f"  image 0 run again: max diff {self.rerun_maxdiff:g}; emulated "
            f"{self.ms_per_image:.1f} ms per image (qemu's time, nothing like a phone's)"
        )
        return "\n".join(lines)


def _read(flatbuffer_or_path: bytes | str | os.PathLike) -> tuple[bytes, Path | None]:
    """The file's bytes, and its path if it was given one."""
    if isinstance(flatbuffer_or_path, bytes | bytearray):
        return bytes(flatbuffer_or_path), None
    path = Path(flatbuffer_or_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No TFLite file at {path}. Fix: give the path of a .tflite file, or its bytes."
        )
    return path.read_bytes(), path


def _checked_images(images: np.ndarray, x86: Interpreter, model: keras.Model | None) -> np.ndarray:
    """``images`` in the file's input type, after checking that they fit it (and that a
    Keras model can be compared with it)."""
    if len(x86.input_shapes) != 1:
        raise ValueError(
            f"The file has {len(x86.input_shapes)} inputs; the ARM runner takes models with "
            "exactly one input, as ebn_tf exports them."
        )
    shape, dtype = tuple(x86.input_shapes[0][1:]), np.dtype(x86.input_types[0])
    images = np.asarray(images)
    if images.ndim == 0 or images.shape[1:] != shape or len(images) == 0:
        raise ValueError(
            f"images have shape {images.shape}; the file takes images of shape {shape}. Fix: "
            f"give an array of shape (N, {', '.join(map(str, shape))}) with N >= 1 (one "
            "image x as x[None])."
        )
    if dtype.kind == "f":
        images = images.astype(dtype)
    elif images.dtype != dtype:
        raise ValueError(
            f"The file takes {dtype} input and the images are {images.dtype}. Fix: give "
            f"them quantised, as {dtype} (the runner casts values, it does not quantise)."
        )
    float_io = dtype == np.float32 and np.dtype(x86.output_types[0]) == np.float32
    if model is not None and not float_io:
        raise ValueError(
            f"The file's input and output are {dtype} and {np.dtype(x86.output_types[0])}: "
            "its outputs cannot be compared with the Keras model's floats. Fix: pass "
            "model=None to compare ARM with x86 only."
        )
    return images


def _run_on_arm(
    script: Path, path: Path, images: np.ndarray, folder: Path
) -> tuple[np.ndarray, dict[str, str]]:
    """ARM's output 0 of each of ``images`` and the runner's summary (``key=value``)."""
    inputs, outputs = folder / "images.npy", folder / "outputs.npy"
    # The runner reads C-order little-endian arrays only.
    np.save(inputs, np.ascontiguousarray(images, images.dtype.newbyteorder("<")))
    # The default kernel (LCE's on ARM) in `seq` mode: one interpreter runs every image,
    # so IF branches run again, as in an app (LCE's indirect-BGEMM bug shows only then).
    command = ["bash", str(script), str(path), str(inputs), str(outputs), "opt", "seq", "1"]
    # LCE_RUN_N limits the images run.sh runs; 0 is all of them, whatever the caller set.
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "LCE_RUN_N": "0"}
    )
    if done.returncode != 0:
        raise ArmRunnerError(
            f"LCE's ARM runner {script} failed on {path} (exit status {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()}"
        )
    summary = dict(word.split("=", 1) for word in done.stdout.split() if "=" in word)
    if summary.get("images") != str(len(images)) or "image0_rerun_maxdiff" not in summary:
        raise ArmRunnerError(
            f"The ARM runner {script} printed {done.stdout.strip()!r}, not the summary of "
            f"{len(images)} images in `seq` mode that lce-arm64's run.sh prints. Fix: "
            f"{_GET_A_RUNNER}"
        )
    return np.load(outputs), summary


def arm_parity(
    flatbuffer_or_path: bytes | str | os.PathLike,
    images: np.ndarray,
    runner: str | os.PathLike | None = None,
    model: keras.Model | None = None,
) -> ArmReport:
    """Run a TFLite file on LCE's ARM64 kernels and compare it with LCE's x86 interpreter
    and, given ``model``, with Keras.

    All images go through one ARM process and one interpreter, so IF branches run again
    as in an app; the x86 interpreter runs them image by image. The max errors are
    relative to each image's largest reference logit (the ``parity`` rule); given
    ``model``, they are also taken over the sign-clear images alone (``sign_margins``).

    Args:
        flatbuffer_or_path: the TFLite file's bytes, or its path.
        images: ``(N, *input shape)`` images as the file takes them (float pixels for a
            float file, quantised integers for an int8 input).
        runner: the lce-arm64 folder or its ``run.sh``; default ``$EBN_LCE_ARM_RUNNER``.
        model: the Keras model the file was exported from (float input and output only).

    Returns:
        The report; ``str`` of it reads as a few lines.

    Raises:
        ArmRunnerError: no runner or no qemu (the message says how to get them), or the
            runner failed on the file.
        FileNotFoundError: no file at the path given.
        ValueError: images that do not fit the file, or a model given for a file with
            int8 input or output.
    """
    script = find_arm_runner(runner)
    flatbuffer, path = _read(flatbuffer_or_path)
    images = _checked_images(images, interpreter(flatbuffer), model)
    with tempfile.TemporaryDirectory(prefix="ebn_arm_") as folder:
        if path is None:
            path = Path(folder) / "model.tflite"
            path.write_bytes(flatbuffer)
        logits, summary = _run_on_arm(script, path, images, Path(folder))
    x86 = tflite_outputs(flatbuffer, images)
    clear = None if model is None else sign_margins(model, images) >= SIGN_MARGIN
    return ArmReport(
        images=len(images),
        x86=agreement(logits, x86, clear),
        keras=None if model is None else agreement(logits, model.predict(images, verbose=0), clear),
        near_zero_images=None if clear is None else int((~clear).sum()),
        rerun_maxdiff=float(summary["image0_rerun_maxdiff"]),
        ms_per_image=float(summary["ms_per_image"]),
        outputs=logits,
    )
