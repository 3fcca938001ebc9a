"""Run a converted model in the LCE interpreter: numeric parity with Keras, and latency."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

from ebn_tf._keras import keras
from ebn_tf.cost import bits
from ebn_tf.layers import expert_layers, selected_experts


def interpreter(flatbuffer: bytes, threads: int = 1, xnnpack: bool = False) -> Interpreter:
    """LCE's interpreter with its default binary kernel (``xnnpack``: XNNPACK for float ops).

    Not the indirect-BGEMM kernel (faster on x86): run inside an IF branch, it returns
    wrong results from the branch's second run on (LCE 0.16, measured; grouped convs,
    which need it, are exported one conv per group instead).
    """
    return Interpreter(
        flatbuffer, num_threads=threads, use_indirect_bgemm=False, use_xnnpack=xnnpack
    )


# An image whose binarised inputs all lie this far from 0 (relative to each input's RMS)
# cannot flip a sign through float rounding; within it, TFLite must match Keras closely.
SIGN_MARGIN = 1e-5


@dataclass(frozen=True)
class ParityReport:
    """TFLite vs Keras on the same images.

    A trained binary network is discontinuous at 0: TFLite folds BatchNorm in another
    float order than Keras, so a binarised input within float rounding of 0 can take the
    other sign, and one flipped bit moves the logits by ~1e-2 (measured: a 1e-6 relative
    change of the weights alone moves Keras' own logits by up to 0.11). Parity is
    therefore judged on the images whose sign inputs all keep ``SIGN_MARGIN`` from 0.
    (A gate whose two best logits tie within rounding would switch experts the same way;
    it is not screened, and was not seen in the measurements.)

    Args:
        max_relative_error: max over all images of ``max|tflite - keras| / max|keras|``.
        max_relative_error_clear: the same over images whose every binarised input keeps
            ``SIGN_MARGIN`` (times its RMS) from 0 (None if there is none).
        near_zero_images: images with a binarised input closer to 0 than that.
        top1_agreement: share of images with the same top-1 class.
        images: number of images compared.
        uncovered: ``(layer, expert)`` pairs that no image selected.
    """

    max_relative_error: float
    max_relative_error_clear: float | None
    near_zero_images: int
    top1_agreement: float
    images: int
    uncovered: list[tuple[str, int]]

    def __str__(self) -> str:
        coverage = (
            "every expert of every layer selected"
            if not self.uncovered
            else (
                f"{len(self.uncovered)} (layer, expert) pairs never selected: {self.uncovered[:4]}"
            )
        )
        clear = (
            f"{self.max_relative_error_clear:.2e}"
            if self.max_relative_error_clear is not None
            else "n/a"
        )
        return (
            f"parity on {self.images} images: max relative error {clear} on the "
            f"{self.images - self.near_zero_images} whose sign inputs keep {SIGN_MARGIN:g} x RMS "
            f"from 0 ({self.max_relative_error:.2e} on all), top-1 agreement "
            f"{100 * self.top1_agreement:.2f}%; {coverage}"
        )


def sign_margins(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Per image, the smallest ``|x| / rms(x)`` over the binarised inputs of every expert
    and larq layer: how near float rounding comes to flipping one of its signs. Exact
    zeros are left out: they come from zero terms (an untrained BatchNorm after a ReLU),
    which TFLite computes as zero too."""
    binarised = [layer for layer in model.layers if bits(layer)[0] == 1]
    if not binarised:
        return np.full(len(images), np.inf)
    probe = keras.Model(model.inputs, [layer.input for layer in binarised])
    inputs = probe.predict(images, verbose=0)
    inputs = inputs if isinstance(inputs, list) else [inputs]
    margins = []
    for x in inputs:
        flat = np.abs(x.reshape(len(x), -1))
        rms = np.sqrt((flat**2).mean(axis=1, keepdims=True))
        relative = np.where(flat > 0, flat / np.maximum(rms, 1e-30), np.inf)
        margins.append(relative.min(axis=1))
    return np.min(margins, axis=0)


def covering_images(model: keras.Model, pool: np.ndarray, limit: int = 64) -> np.ndarray:
    """Up to ``limit`` images of ``pool`` that together select every expert of every layer
    where the pool does (greedy set cover), topped up with the first images."""
    chosen = selected_experts(model, pool)
    needed = {(name, int(e)) for name, experts in chosen.items() for e in experts}
    picked: list[int] = []
    while needed and len(picked) < limit:
        gains = [
            len({(name, int(experts[i])) for name, experts in chosen.items()} & needed)
            for i in range(len(pool))
        ]
        best = int(np.argmax(gains))
        picked.append(best)
        needed -= {(name, int(experts[best])) for name, experts in chosen.items()}
    rest = [i for i in range(len(pool)) if i not in picked][: max(limit - len(picked), 0)]
    return pool[picked + rest]


def parity_images(
    model: keras.Model, pool: np.ndarray | None = None, limit: int = 64
) -> np.ndarray:
    """Up to ``limit`` images of ``pool`` covering every expert the pool reaches (see
    ``covering_images``); uniform random pixels when there is no pool (dataset unknown)."""
    if pool is None:
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, (limit, *model.input_shape[1:])).astype("float32")
    return covering_images(model, pool, limit)


def tflite_outputs(flatbuffer: bytes, images: np.ndarray) -> np.ndarray:
    """Output 0 of ``flatbuffer`` on each of ``images`` in LCE's x86 interpreter: one
    interpreter, image by image (batch 1, as exported), so IF branches run again."""
    runner = interpreter(flatbuffer)
    return np.concatenate([runner.predict(image[None]) for image in images])


@dataclass(frozen=True)
class Agreement:
    """Logits against reference logits of the same images.

    Args:
        max_relative_error: max over all images of ``max|logits - reference| /
            max|reference|``.
        max_relative_error_clear: the same over the images marked sign-clear (None if
            there is none).
        top1_agreement: share of images with the same top-1 class.
    """

    max_relative_error: float
    max_relative_error_clear: float | None
    top1_agreement: float


def agreement(
    logits: np.ndarray, reference: np.ndarray, clear: np.ndarray | None = None
) -> Agreement:
    """``logits`` against ``reference`` (both ``(images, classes)``), the sign-clear images
    marked by the boolean ``clear`` (None: not known, no sign-clear figure)."""
    # In float64: int8 outputs would wrap around when subtracted.
    logits, reference = logits.astype(np.float64), reference.astype(np.float64)
    scale = np.abs(reference).max(axis=1)
    relative = np.abs(logits - reference).max(axis=1) / np.maximum(scale, 1e-12)
    return Agreement(
        float(relative.max()),
        float(relative[clear].max()) if clear is not None and clear.any() else None,
        float(np.mean(logits.argmax(1) == reference.argmax(1))),
    )


def parity(model: keras.Model, flatbuffer: bytes, images: np.ndarray) -> ParityReport:
    """Compare ``flatbuffer`` (run image by image) with ``model`` on ``images``."""
    converted = tflite_outputs(flatbuffer, images)
    chosen = selected_experts(model, images)
    uncovered = [
        (layer.name, e)
        for layer in expert_layers(model)
        if layer.force_expert is None
        for e in range(layer.num_experts)
        if e not in set(chosen[layer.name].tolist())
    ]
    clear = sign_margins(model, images) >= SIGN_MARGIN
    found = agreement(converted, model.predict(images, verbose=0), clear)
    return ParityReport(
        found.max_relative_error,
        found.max_relative_error_clear,
        int((~clear).sum()),
        found.top1_agreement,
        len(images),
        uncovered,
    )


def latency_ms(flatbuffer: bytes, threads: int = 1, runs: int = 50, xnnpack: bool = False) -> float:
    """Median time of one batch-1 inference in LCE's interpreter, in milliseconds."""
    return float(np.median(latency_samples(interpreter(flatbuffer, threads, xnnpack), runs)))


def latency_samples(runner: Interpreter, runs: int) -> list[float]:
    """``runs`` timings (ms) of one inference of ``runner`` on a zero image, after a warm-up."""
    image = np.zeros(runner.input_shapes[0], runner.input_types[0])
    runner.predict(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.predict(image)
        times.append(1000 * (time.perf_counter() - start))
    return times
