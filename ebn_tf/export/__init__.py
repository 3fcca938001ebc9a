"""Export to LCE-optimised TFLite in which each expert layer runs its selected expert only.

Imports larq-compute-engine; ``import ebn_tf`` does not.
"""

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
    "SIGN_MARGIN",
    "TARGETS",
    "AuditReport",
    "ExpertSwitch",
    "ExportError",
    "ExportReport",
    "ParityReport",
    "audit",
    "convert",
    "covering_images",
    "expected_binary_convs",
    "export_report",
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
