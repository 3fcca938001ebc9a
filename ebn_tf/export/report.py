"""The export pipeline of the convert app and of zoo publishing: convert (with its audit),
parity with Keras, the check on LCE's ARM kernels, latency, and a printable report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.export.arm import ArmReport, ArmRunnerError, arm_parity, find_arm_runner
from ebn_tf.export.audit import AuditReport
from ebn_tf.export.convert import convert
from ebn_tf.export.parity import ParityReport, latency_ms, parity


@dataclass(frozen=True)
class ExportReport:
    """A converted model and what was measured on it.

    Args:
        flatbuffer: the TFLite file.
        audit: its audit (see ``ebn_tf.export.audit``).
        parity: TFLite against Keras on the images given, or None (no images, or int8
            input or output, which the float images cannot be compared with).
        latency_ms: median batch-1 latency in LCE's interpreter with ``threads`` threads.
        threads: interpreter threads of the latency.
        arm: the file on LCE's ARM64 kernels against x86 and Keras on the same images
            (see ``arm_parity``), or None when it was not run.
        arm_not_run: why ``arm`` is None (no runner, no images, int8 input or output).
    """

    flatbuffer: bytes
    audit: AuditReport
    parity: ParityReport | None
    latency_ms: float
    threads: int
    arm: ArmReport | None
    arm_not_run: str | None

    def __str__(self) -> str:
        lines = [str(self.audit)]
        if self.parity is not None:
            lines.append(str(self.parity))
        lines.append(
            str(self.arm) if self.arm is not None else f"ARM check: not run ({self.arm_not_run})"
        )
        lines.append(
            f"size: {len(self.flatbuffer) / 1024:.1f} KiB; latency (LCE interpreter, "
            f"{self.threads} thread(s), median): {self.latency_ms:.2f} ms"
        )
        return "\n".join(lines)


def export_report(
    model: keras.Model, images: np.ndarray | None = None, threads: int = 1, **options
) -> ExportReport:
    """Convert ``model`` (``options`` as for ``convert``; its audit must pass unless
    ``strict=False``), compare the file with ``model`` on ``images`` (e.g.
    ``parity_images(model, test_images)``), on LCE's x86 interpreter and, when a runner is
    available (``find_arm_runner``), on its ARM kernels, and time it with ``threads``
    threads. A runner that fails on the file raises ``ArmRunnerError``.

    Example:
        >>> report = ebn_tf.export.export_report(model, images)
        >>> print(report)  # audit, parity, size and latency
        >>> Path("model.tflite").write_bytes(report.flatbuffer)
    """
    flatbuffer, audit = convert(model, **options)
    float_io = all(
        options.get(name, "float32") == "float32"
        for name in ("inference_input_type", "inference_output_type")
    )
    report = parity(model, flatbuffer, images) if images is not None and float_io else None
    return ExportReport(
        flatbuffer,
        audit,
        report,
        latency_ms(flatbuffer, threads),
        threads,
        *_arm_check(model, flatbuffer, images, float_io),
    )


def _arm_check(
    model: keras.Model, flatbuffer: bytes, images: np.ndarray | None, float_io: bool
) -> tuple[ArmReport | None, str | None]:
    """The ARM check of ``flatbuffer`` on ``images``, or None and why it was not run."""
    if images is None:
        return None, "no images given"
    if not float_io:
        return None, "int8 input or output; export.arm_parity takes quantised images"
    try:
        runner = find_arm_runner()
    except ArmRunnerError as missing:
        return None, str(missing)
    return arm_parity(flatbuffer, images, runner, model), None
