"""Model-level switches of the four-step training policy (docs/design/method.md section 5)."""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras, tf
from ebn_tf.layers.ebconv import EBConv2D
from ebn_tf.layers.router import ExpertRouter

# The layer that ends the stem of a model built with ``routing="stem"`` (``hold_stem``).
STEM_OUTPUT = "stem_output"


def expert_layers(model: keras.Model) -> list[EBConv2D]:
    """Every ``EBConv2D`` of ``model``, in layer order."""
    return [layer for layer in model.layers if isinstance(layer, EBConv2D)]


def router_of(model: keras.Model) -> ExpertRouter | None:
    """The ``ExpertRouter`` of ``model`` (a model has at most one), or None."""
    routers = [layer for layer in model.layers if isinstance(layer, ExpertRouter)]
    if len(routers) > 1:
        raise ValueError(
            f"{model.name} has {len(routers)} ExpertRouters; one at most is supported."
        )
    return routers[0] if routers else None


def gate_layers(model: keras.Model) -> list[EBConv2D | ExpertRouter]:
    """Every layer of ``model`` that holds a gate: its router and the expert layers with
    their own gate, in layer order."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, ExpertRouter)
        or (isinstance(layer, EBConv2D) and layer.num_experts > 1 and not layer.routed)
    ]


def hold_stem(model: keras.Model, held: bool = True) -> None:
    """Hold (``held``) or release the stem of a model built with ``routing="stem"``:
    every layer up to its ``stem_output`` and its ``ExpertRouter`` (if it has experts)
    stop or resume training, and their BatchNorms run on their moving statistics, so each
    image keeps its expert in every layer; a 1-expert model holds its stem alike, as the
    twin trained the same way. The trainer holds them from step 3 on; call it before your
    own ``fit`` of such a model's gated stages. No-op for other models."""
    ends = [layer.output for layer in model.layers if layer.name == STEM_OUTPUT]
    router = router_of(model)
    if router is not None:
        ends.append(router.output)
    if not ends:
        return
    for layer in keras.Model(model.inputs, ends).layers:
        layer.trainable = not held
    _drop_traced_functions(model)


def _drop_traced_functions(model: keras.Model) -> None:
    # fit/evaluate/predict cache graphs traced with the old switch values.
    model.train_function = model.test_function = model.predict_function = None


def set_binary_weights(model: keras.Model, binary: bool) -> None:
    """Binarise (step 4) or release (steps 1-3) the kernels of every expert layer."""
    for layer in expert_layers(model):
        layer.binary_weights = binary
    _drop_traced_functions(model)


def absorb_kernel_magnitudes(model: keras.Model) -> None:
    """Before binarising real-trained kernels: fold each layer's mean ``|W|`` into its scale.

    Call it once, on kernels trained real-valued (it multiplies the scale each time).
    Measured on Fashion-MNIST (ebnet_fmnist after step 3, 89.8% validation): binarising
    alone gives 9.5%; with this fold, and the BatchNorm moving statistics re-estimated on
    30 training batches (as step 4's first epoch does anyway), 84.8% before any training.
    """
    for layer in expert_layers(model):
        layer.absorb_kernel_magnitude()


def set_forced_expert(model: keras.Model, index: int | None) -> None:
    """Send every sample to expert ``index`` (step 1 uses 0), or let the gates decide (None)."""
    for layer in expert_layers(model):
        layer.force_expert = index
    _drop_traced_functions(model)


def replicate_first_expert(model: keras.Model) -> None:
    """Copy expert 0 into the other experts of every expert layer (step 2)."""
    for layer in expert_layers(model):
        layer.replicate_expert(0)


def pooled_inputs(
    model: keras.Model, layers, images, batch_size: int = 256, training: bool = False
) -> dict[str, np.ndarray]:
    """What each of ``layers`` (layers of ``model``) gets as input over ``images``,
    spatially averaged as a gate reads it: ``{layer name: (num_images, channels)}``.

    Args:
        model: the model ``layers`` belong to.
        layers: its layers whose inputs are wanted.
        images: the images, as the model takes them.
        batch_size: images per forward pass (called eagerly: no function is traced).
        training: compute as a training step does (BatchNorm on each batch's statistics,
            so an image's result can depend on the other images of its batch), else as
            inference does (the moving statistics). The moving statistics such a pass
            updates are put back afterwards.
    """
    kept = [w.numpy() for w in model.non_trainable_weights] if training else []
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    parts: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    for start in range(0, len(images), batch_size):
        layer_inputs = probe(images[start : start + batch_size], training=training)
        if len(layers) == 1:
            layer_inputs = [layer_inputs]
        for layer, x in zip(layers, layer_inputs):
            parts[layer.name].append(tf.reduce_mean(x, axis=[1, 2]).numpy())
    for weight, value in zip(model.non_trainable_weights, kept):
        weight.assign(value)
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def selected_experts(
    model: keras.Model, images, batch_size: int = 256, training: bool = False
) -> dict[str, np.ndarray]:
    """The expert each image is sent to, per expert layer.

    Args:
        model: a model with expert layers.
        images, batch_size, training: as for ``pooled_inputs`` (with ``training``, an
            image's expert can depend on the other images of its batch).

    Returns:
        ``{layer name: int array (num_images,)}``; a routed layer's are its router's.
    """
    layers = expert_layers(model)
    router = router_of(model)
    readers = [layer for layer in layers if not layer.routed] + ([router] if router else [])
    pooled = pooled_inputs(model, readers, images, batch_size, training)
    chosen = {layer.name: pooled_routes(layer, pooled[layer.name]) for layer in readers}
    return {
        layer.name: chosen[router.name]
        if layer.routed and layer.force_expert is None
        else chosen.get(layer.name, np.full(len(images), layer.force_expert or 0))
        for layer in layers
    }


def pooled_routes(layer: EBConv2D | ExpertRouter, pooled: np.ndarray) -> np.ndarray:
    """The expert ``layer`` sends each of its pooled inputs ``(M, C)`` to (as
    ``pooled_inputs`` gives them)."""
    # A gate reads the spatial mean of its input: the pooled input as a 1x1 image.
    return layer.selected_experts(pooled[:, None, None, :]).numpy()


def usage_entropy_bits(counts) -> float:
    """Entropy in bits of a gate's usage (samples per expert): ``log2(N)`` when every
    expert gets the same share, 0 when one expert gets every sample."""
    counts = np.asarray(counts, np.float64)
    shares = counts[counts > 0] / max(counts.sum(), 1)
    return float(-(shares * np.log2(shares)).sum())


def load_first_expert(target: keras.Model, source: keras.Model) -> None:
    """Copy ``source``'s weights into ``target`` of the same topology, whatever either's
    number of experts: each expert layer of ``target`` gets ``source``'s expert 0 in every
    expert (step 2's replication) and keeps its own gates and router.

    Step 1 trains expert 0 alone, so one step-1 checkpoint (e.g. of a 1-expert run) starts
    the step 3 of runs with any number of experts.
    """
    for layer in target.layers:
        if not layer.weights or isinstance(layer, ExpertRouter):
            continue
        try:
            donor = source.get_layer(layer.name)
            if isinstance(layer, EBConv2D):
                layer.kernel.assign(np.repeat(donor.kernel.numpy()[:1], layer.num_experts, 0))
                for name in ("scale", "scaling_kernel1", "scaling_kernel2"):
                    if hasattr(layer, name):
                        getattr(layer, name).assign(getattr(donor, name))
            else:
                layer.set_weights(donor.get_weights())
        except (ValueError, AttributeError) as error:
            raise ValueError(
                f"Layer {layer.name!r} of {target.name!r} does not match {source.name!r} "
                f"({error}); both must be the same topology, differing only in experts."
            ) from error
