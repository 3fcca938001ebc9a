"""Export to LCE-optimised TFLite in which each expert layer runs its selected expert only.

Imports larq-compute-engine; ``import ebn_tf`` does not.
"""

from ebn_tf.export.audit import AuditReport, audit
from ebn_tf.export.convert import ExportError, expected_binary_convs, to_tflite
from ebn_tf.export.graph import ExpertSwitch, inference_model
from ebn_tf.export.parity import ParityReport, covering_images, latency_ms, parity

__all__ = [
    "AuditReport",
    "ExpertSwitch",
    "ExportError",
    "ParityReport",
    "audit",
    "covering_images",
    "expected_binary_convs",
    "inference_model",
    "latency_ms",
    "parity",
    "to_tflite",
]
