"""Keras EBNet -> LCE-optimised TFLite, audited before it is returned."""

from __future__ import annotations

import warnings

import larq as lq
import larq_compute_engine as lce

from ebn_tf._keras import keras, tf
from ebn_tf.export.audit import AuditReport, audit
from ebn_tf.export.graph import border_form, inference_model
from ebn_tf.layers import EBConv2D, ExpertRouter

TARGETS = ("arm", "xcore")
IO_TYPES = {"float32": tf.float32, "int8": tf.int8}
# The quantizers LCE's converter fuses into LceBconv2d on a conv's input and kernel
# (docs/design/lce.md section 1); their forward is sign(x). Others (ste_heaviside,
# DoReFa, ...) stay float ops.
LCE_SIGN_QUANTIZERS = (lq.quantizers.SteSign, lq.quantizers.ApproxSign, lq.quantizers.SwishSign)
LARQ_LAYERS = (lq.layers.QuantConv2D, lq.layers.QuantDepthwiseConv2D, lq.layers.QuantDense)


class ExportError(ValueError):
    """The model cannot be exported as a binary TFLite model, or its audit failed."""


def _quantizers(layer) -> dict:
    """The input and kernel quantizers of an expert or larq layer, by argument name."""
    kernel = (
        "depthwise_quantizer"
        if isinstance(layer, lq.layers.QuantDepthwiseConv2D)
        else "kernel_quantizer"
    )
    return {"input_quantizer": layer.input_quantizer, kernel: getattr(layer, kernel)}


def _is_binary_larq_conv(layer) -> bool:
    return isinstance(layer, lq.layers.QuantConv2D) and all(
        isinstance(q, LCE_SIGN_QUANTIZERS) for q in _quantizers(layer).values()
    )


def _describe(quantizer) -> str:
    if isinstance(quantizer, keras.layers.Layer):
        return type(quantizer).__name__
    if quantizer is None:
        return "None"
    # A plain function carries no precision: larq's summary cannot count it either.
    return f"the function {getattr(quantizer, '__name__', quantizer)} (give it by name)"


def _check_sign_quantizers(layer, allow_none: bool) -> None:
    """Refuse quantizers that LCE cannot run as binary ops (None too, unless allowed)."""
    others = {
        arg: q
        for arg, q in _quantizers(layer).items()
        if not (isinstance(q, LCE_SIGN_QUANTIZERS) or (allow_none and q is None))
    }
    if others:
        found = ", ".join(f"{arg}={_describe(q)}" for arg, q in others.items())
        raise ExportError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has {found}, which LCE cannot run "
            "as a binary op: its converter fuses only the sign quantizers SteSign, ApproxSign "
            "and SwishSign (multi-bit ones such as DoReFa stay float ops). Fix: train it with "
            "'ste_sign', 'approx_sign' or 'swish_sign' (by name or object)"
            + (", or with no quantizers as a float layer." if allow_none else ".")
        )


def _check_larq_layer(layer) -> None:
    """Refuse a larq layer that LCE would run as a float op on binarised data, or not at
    all; warn where it runs float with the same outputs (no speed-up)."""
    _check_sign_quantizers(layer, allow_none=True)
    binary_input, binary_kernel = (q is not None for q in _quantizers(layer).values())
    where = f"Layer {layer.name!r} ({type(layer).__name__})"
    depthwise = isinstance(layer, lq.layers.QuantDepthwiseConv2D)
    if isinstance(layer, lq.layers.QuantDense):
        if binary_input or binary_kernel:
            warnings.warn(
                f"{where}: LCE has no binary dense op, so it runs as a float FULLY_CONNECTED "
                "(same outputs, no speed-up). A binary 1x1 QuantConv2D runs as LceBconv2d.",
                stacklevel=4,
            )
    elif binary_input and depthwise:
        raise ExportError(
            f"{where} binarises its input but LCE has no binary depthwise conv: it would run "
            "as a float conv on binarised data. Fix: drop its input_quantizer (a float "
            "depthwise conv), or use a binary QuantConv2D."
        )
    elif binary_input and not binary_kernel:
        raise ExportError(
            f"{where} binarises its input but has no kernel_quantizer: LCE would run it as a "
            "float conv on binarised data. Fix: give it a kernel_quantizer ('ste_sign'), or "
            "drop its input_quantizer."
        )
    elif binary_kernel and not binary_input:
        warnings.warn(
            f"{where} has binary weights on a real-valued input: LCE runs it as a float conv "
            "(same outputs, no speed-up).",
            stacklevel=4,
        )
    elif binary_kernel and layer.groups > 1:
        raise ExportError(
            f"{where} is a grouped binary conv: LCE runs those only with its indirect-BGEMM "
            "kernel, which the export avoids (wrong results inside IF branches). Fix: use "
            f"EBConv2D(num_experts=1, groups={layer.groups}), which the export runs as one "
            "binary conv per group, or groups=1."
        )


def _check_exportable(model: keras.Model) -> None:
    for layer in model.layers:
        if isinstance(layer, EBConv2D):
            if not (layer.binary_weights and layer.binary_activations):
                raise ExportError(
                    f"Layer {layer.name!r} still has real-valued weights or activations (a "
                    "real-weight training stage); its export would be float, not binary. Fix: "
                    "finish step 4, or call ebn_tf.layers.set_binary_weights(model, True)."
                )
            _check_sign_quantizers(layer, allow_none=False)
            if border_form(layer) is None:
                raise ExportError(
                    f"Layer {layer.name!r} has the border {layer.spatial_padding}, which is "
                    "neither SAME's nor SAME's reversed: LCE would run it float or fuse it "
                    "into SAME and move its grid. Fix: padding 'same' or 'symmetric'."
                )
        elif isinstance(layer, LARQ_LAYERS):
            _check_larq_layer(layer)
        elif not (
            isinstance(layer, ExpertRouter) or type(layer).__module__.startswith("tf_keras.")
        ):
            raise ExportError(
                f"Layer {layer.name!r} ({type(layer).__name__}) is not a Keras layer, an "
                "EBConv2D, an ExpertRouter or one of larq's QuantConv2D, QuantDepthwiseConv2D "
                "and QuantDense, so the export cannot tell how to make it binary. Fix: build "
                "the model from those layers."
            )


def expected_binary_convs(model: keras.Model) -> int:
    """LceBconv2d ops the export of ``model`` holds: one per expert and group of every
    expert layer (a forced expert is the only one exported), and one per binary
    ``QuantConv2D``."""
    return sum(
        (1 if layer.force_expert is not None else layer.num_experts) * layer.groups
        for layer in model.layers
        if isinstance(layer, EBConv2D)
    ) + sum(1 for layer in model.layers if _is_binary_larq_conv(layer))


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
        model: a trained EBNet (binary weights and activations), or any model of Keras
            layers, ``EBConv2D`` and larq's ``QuantConv2D``, ``QuantDepthwiseConv2D`` and
            ``QuantDense``; a larq layer with sign quantizers on input and kernel becomes an
            ``LceBconv2d`` (quantizers LCE cannot run binary raise ``ExportError``).
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
