"""Keras EBNet -> LCE-optimised TFLite, audited before it is returned."""

from __future__ import annotations

import warnings

import larq_compute_engine as lce

from ebn_tf._keras import keras, tf
from ebn_tf.export.audit import AuditReport, audit
from ebn_tf.export.graph import inference_model
from ebn_tf.layers import EBConv2D

TARGETS = ("arm", "xcore")
IO_TYPES = {"float32": tf.float32, "int8": tf.int8}


class ExportError(ValueError):
    """The model cannot be exported as a binary TFLite model, or its audit failed."""


def _check_exportable(model: keras.Model) -> None:
    for layer in model.layers:
        if isinstance(layer, EBConv2D):
            if not (layer.binary_weights and layer.binary_activations):
                raise ExportError(
                    f"Layer {layer.name!r} still has real-valued weights or activations (a "
                    "real-weight training stage); its export would be float, not binary. Fix: "
                    "finish step 4, or call ebn_tf.layers.set_binary_weights(model, True)."
                )
        elif not type(layer).__module__.startswith("tf_keras."):
            raise ExportError(
                f"Layer {layer.name!r} ({type(layer).__name__}) is not a Keras layer or an "
                "EBConv2D, so the export cannot tell how to make it binary. Fix: build the model "
                "from ebn_tf layers and plain Keras layers."
            )


def expected_binary_convs(model: keras.Model) -> int:
    """LceBconv2d ops the export of ``model`` holds: one per expert and group of every
    expert layer (a forced expert is the only one exported)."""
    return sum(
        (1 if layer.force_expert is not None else layer.num_experts) * layer.groups
        for layer in model.layers
        if isinstance(layer, EBConv2D)
    )


def to_tflite(model: keras.Model, **options) -> bytes:
    """Convert ``model`` with LCE so that only the selected expert of each layer runs;
    ``options`` as for ``convert``. Returns the flatbuffer."""
    return convert(model, **options)[0]


def convert(
    model: keras.Model,
    *,
    inference_input_type: str = "float32",
    inference_output_type: str = "float32",
    target: str = "arm",
    int8_range: tuple[float, float] | None = None,
    strict: bool = True,
    conditional: bool = True,
    allow_float: bool = False,
) -> tuple[bytes, AuditReport]:
    """Convert ``model`` with LCE so that only the selected expert of each layer runs.

    The converted model has batch size 1. Its audit (``ebn_tf.export.audit``) must pass:
    every binary conv fused, no float conv on binarised data, no GraphDef fallback.

    Args:
        model: a trained EBNet (binary weights and activations).
        inference_input_type, inference_output_type: ``"float32"`` or ``"int8"``; int8 I/O
            needs ``int8_range`` (LCE's dummy quantisation of the float parts).
        target: LCE target, ``"arm"`` (Android, 64-bit ARM and x86) or ``"xcore"``.
        int8_range: ``(min, max)`` given to every float array (int8 conversion). These
            ranges are not calibrated: such a file is for size and latency measurements
            only (measured: ebnet_fmnist falls from 91.8% to 9.5% top-1 on 1,000 test
            images; 0-255 pixels do not fit a range like (-6, 6)). Accurate int8 needs
            fake-quantisation ops trained into the model, which ebn_tf does not add.
        strict: raise ``ExportError`` when the audit fails (else warn).
        conditional: one IF tree per expert layer (else every expert runs and a one-hot
            mask keeps one: the N-fold baseline of the benchmarks).
        allow_float: convert a model without any binary conv too (a float file); by
            default it is refused, as its audit would pass with 0 ``LceBconv2d``.

    Returns:
        The flatbuffer and its audit.
    """
    if target not in TARGETS:
        raise ExportError(f"target={target!r} is not one of {TARGETS}.")
    for name, value in (
        ("inference_input_type", inference_input_type),
        ("inference_output_type", inference_output_type),
    ):
        if value not in IO_TYPES:
            raise ExportError(f"{name}={value!r} is not one of {tuple(IO_TYPES)}.")
        if value == "int8" and int8_range is None:
            raise ExportError(f"{name}='int8' needs int8_range=(min, max) for the float parts.")
    _check_exportable(model)
    if not allow_float and not expected_binary_convs(model):
        raise ExportError(
            f"Model {model.name!r} has no binary conv: its export would be a float TFLite file "
            "(0 LceBconv2d), not a binary network. Fix: export the binary model (a finished "
            "run's step 4), or pass allow_float=True (convert app: --allow_float) if a float "
            "file is meant."
        )
    if int8_range is not None:
        warnings.warn(
            f"int8_range={int8_range} quantises every float array to an uncalibrated range: "
            "the file is for size and latency measurements, not for predictions.",
            stacklevel=2,
        )
    graph = inference_model(model, conditional)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flatbuffer = lce.convert_keras_model(
            graph,
            inference_input_type=IO_TYPES[inference_input_type],
            inference_output_type=IO_TYPES[inference_output_type],
            target=target,
            experimental_default_int8_range=int8_range,
        )
    fallback = any("falling back to graphdef" in str(w.message) for w in caught)
    report = audit(flatbuffer, expected_binary_convs(model), graphdef_fallback=fallback)
    if not report.ok:
        if strict:
            raise ExportError(f"The converted model failed its audit:\n{report}")
        warnings.warn(f"The converted model failed its audit:\n{report}", stacklevel=2)
    return flatbuffer, report


def to_float_tflite(model: keras.Model) -> bytes:
    """Convert a real-valued model (e.g. the teacher twin) to float TFLite, for comparison."""
    return lce.convert_keras_model(model)
