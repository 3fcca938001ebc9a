"""ebn_tf: Expert Binary Networks in Keras, trained with larq and exported with LCE."""

from ebn_tf import (
    _keras,  # noqa: F401  (binds legacy Keras before anything else)
    cost,
    larq_summary,  # noqa: F401  (teaches larq.models.summary to count EBConv2D)
    layers,
    models,
)

__version__ = "0.1.0"

__all__ = ["cost", "layers", "models"]
