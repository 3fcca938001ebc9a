"""Export to LCE-optimised TFLite in which each expert layer runs its selected expert only.

Imports larq-compute-engine; ``import ebn_tf`` does not.
"""

from ebn_tf.export.arm import (
    ARM_RUNNER_ENV,
    ArmReport,
    ArmRunnerError,
    arm_parity,
    arm_runner,
    find_arm_runner,
)
from ebn_tf.export.audit import AuditReport, audit
from ebn_tf.export.convert import (
    TARGETS,
    ExportError,
    convert,
    expected_binary_convs,
    to_float_tflite,
    to_tflite,
)
from ebn_tf.export.graph import ExpertSwitch, inference_model
from ebn_tf.export.parity import (
    SIGN_MARGIN,
    Agreement,
    ParityReport,
    covering_images,
    interpreter,
    latency_ms,
    latency_samples,
    parity,
    parity_images,
    sign_margins,
)
from ebn_tf.export.report import ExportReport, export_report

__all__ = [
    "ARM_RUNNER_ENV",
    "SIGN_MARGIN",
    "TARGETS",
    "Agreement",
    "ArmReport",
    "ArmRunnerError",
    "AuditReport",
    "ExpertSwitch",
    "ExportError",
    "ExportReport",
    "ParityReport",
    "arm_parity",
    "arm_runner",
    "audit",
    "convert",
    "covering_images",
    "expected_binary_convs",
    "export_report",
    "find_arm_runner",
    "inference_model",
    "interpreter",
    "latency_ms",
    "latency_samples",
    "parity",
    "parity_images",
    "sign_margins",
    "to_float_tflite",
    "to_tflite",
]
