"""Paired statistics for comparing two models on the same test images, and seeds' margins.

Two models scored on the same images are paired: an image both get right (or both get
wrong) says nothing about which is better, only the discordant images do. McNemar's exact
test asks whether the discordant images split more unevenly than a fair coin would; it
measures the noise of the finite test set for these two trained models, not the noise of
training (another seed gives other models). For that, ``mean_interval`` gives the mean
margin over seeds with a Student-t interval.

    from ebn_tf.analysis.paired import compare_models, mean_interval
    result = compare_models(model_a, model_b, test_batches)   # unshuffled (images, labels)
    result.margin, result.p_value                             # points A minus B, two-sided p
    mean, low, high = mean_interval([0.31, -0.12, 0.20])      # margins of 3 seeds

Only numpy and the standard library: the binomial tail is summed in exact integers and the
t quantile inverts the closed-form t distribution of integer degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ebn_tf._keras import keras


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test of two models A and B on the same images.

    Args:
        a_only: images only A classifies correctly.
        b_only: images only B classifies correctly.
        both: images both classify correctly.
        neither: images neither classifies correctly.
        p_value: two-sided exact binomial test of the discordant images,
            ``min(1, 2 P[X <= min(a_only, b_only)])`` with ``X ~ Binomial(a_only + b_only,
            1/2)``; 1.0 without discordant images.
    """

    a_only: int
    b_only: int
    both: int
    neither: int
    p_value: float

    @property
    def images(self) -> int:
        return self.a_only + self.b_only + self.both + self.neither

    @property
    def discordant(self) -> int:
        return self.a_only + self.b_only

    @property
    def top1_a(self) -> float:
        """A's top-1, in %."""
        return 100 * (self.both + self.a_only) / self.images

    @property
    def top1_b(self) -> float:
        """B's top-1, in %."""
        return 100 * (self.both + self.b_only) / self.images

    @property
    def margin(self) -> float:
        """A's top-1 minus B's, in percentage points."""
        return 100 * (self.a_only - self.b_only) / self.images


def binomial_half_cdf(k: int, n: int) -> float:
    """``P[X <= k]`` for ``X ~ Binomial(n, 1/2)``, exact up to the final rounding.

    Args:
        k: the largest count of the tail (negative: an empty tail).
        n: the number of trials.

    Returns:
        The probability, a float (below about 1e-308 it underflows to 0.0).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    # Exact integers: C(n, i) grows to thousands of digits for n ~ 10,000, which floats
    # cannot hold, but Python ints can, and int / int rounds the quotient correctly once.
    total, term = 0, 1
    for i in range(k + 1):
        total += term
        term = term * (n - i) // (i + 1)
    return total / (1 << n)


def mcnemar_exact(
    correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray
) -> McNemar:
    """McNemar's exact test of two models' per-image correctness on the same images.

    Args:
        correct_a: whether model A classifies each image correctly.
        correct_b: the same for model B, image for image in the same order.

    Returns:
        The ``McNemar`` counts and two-sided p-value.

    Raises:
        ValueError: the two do not have the same, nonzero number of images.
    """
    a = np.asarray(correct_a, bool).ravel()
    b = np.asarray(correct_b, bool).ravel()
    if a.shape != b.shape or not a.size:
        raise ValueError(
            f"Need per-image correctness of the same images for both models, got {a.size} "
            f"and {b.size} images."
        )
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = a_only + b_only
    p_value = 1.0 if n == 0 else min(1.0, 2 * binomial_half_cdf(min(a_only, b_only), n))
    return McNemar(
        a_only=a_only,
        b_only=b_only,
        both=int(np.sum(a & b)),
        neither=int(np.sum(~a & ~b)),
        p_value=p_value,
    )


def _t_central(theta: float, df: int) -> float:
    """``P[|T| <= t]`` for Student's t with ``df`` degrees of freedom, where
    ``theta = atan(t / sqrt(df))`` (the finite series of Abramowitz & Stegun 26.7.3-4)."""
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:  # sin(theta) (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ... + cos^(df-2) term)
        total = term = 1.0
        for j in range(1, df // 2):
            term *= (2 * j - 1) / (2 * j) * c2
            total += term
        return s * total
    if df == 1:
        return 2 * theta / math.pi
    # Odd df: 2/pi (theta + sin(theta) (cos + 2/3 cos^3 + ... + cos^(df-2) term)).
    total = term = math.cos(theta)
    for j in range(1, (df - 1) // 2):
        term *= (2 * j) / (2 * j + 1) * c2
        total += term
    return 2 / math.pi * (theta + s * total)


def t_critical(df: int, confidence: float = 0.95) -> float:
    """The two-sided critical value of Student's t: ``t`` with ``P[|T| <= t] = confidence``,
    i.e. the ``(1 + confidence) / 2`` quantile (df 1: 12.706, df 4: 2.776 at 95%).

    Args:
        df: degrees of freedom, a whole number >= 1 (seeds minus one).
        confidence: the two-sided coverage, in (0, 1).

    Returns:
        The critical value.
    """
    if int(df) != df or df < 1:
        raise ValueError(f"df must be a whole number >= 1, got {df}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}.")
    # Bisection on theta in (0, pi/2) rather than on t: the interval is bounded however
    # heavy the tail (df 1 at 99.9% needs t ~ 637), and P is increasing in theta.
    low, high = 0.0, math.pi / 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if _t_central(middle, int(df)) < confidence:
            low = middle
        else:
            high = middle
    return math.sqrt(df) * math.tan((low + high) / 2)


def mean_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The mean of ``values`` (e.g. one margin per seed) with its Student-t interval.

    Args:
        values: the independent measurements, at least one.
        confidence: two-sided coverage of the interval.

    Returns:
        ``(mean, low, high)``. With a single value the spread is unknown, so ``low`` and
        ``high`` are nan.
    """
    values = np.asarray(list(values), float).ravel()
    if not values.size:
        raise ValueError("mean_interval needs at least one value.")
    mean = float(values.mean())
    if values.size == 1:
        return mean, math.nan, math.nan
    half = t_critical(values.size - 1, confidence) * values.std(ddof=1) / math.sqrt(values.size)
    return mean, mean - half, mean + half


def _correct(models: Sequence[keras.Model], dataset) -> list[np.ndarray]:
    """Per-image correctness of each of ``models``, all scored in one pass over the batches,
    so the images are paired even if the dataset's order changed between passes."""
    correct = [[] for _ in models]
    for images, labels in dataset:
        labels = np.asarray(labels).reshape(-1)
        for model, out in zip(models, correct):
            # The compiled predict function (inference mode), as evaluate and predict run
            # the model: an eager call can round differently, and in a binary network a
            # pre-activation near zero then flips sign and the logits move (seen: 2 of
            # 10,000 argmaxes of a kernel_mix EBNet), so the counts would not be the run's.
            logits = np.asarray(model.predict_on_batch(images))
            out.append(np.argmax(logits, -1).reshape(-1) == labels)
    return [np.concatenate(c) if c else np.zeros(0, bool) for c in correct]


def predictions_correct(model: keras.Model, dataset) -> np.ndarray:
    """Whether ``model`` classifies each image correctly (argmax of its outputs equals the
    label), in the dataset's order.

    Args:
        model: a classifier returning logits or probabilities, run in inference mode
            through its compiled predict function (``predict_on_batch``).
        dataset: batches of ``(images, labels)`` (a tf.data dataset or any iterable); to
            pair with another model's result later, its order must be fixed
            (``shuffle=False``).

    Returns:
        A bool array, one entry per image.
    """
    return _correct([model], dataset)[0]


def compare_models(model_a: keras.Model, model_b: keras.Model, dataset) -> McNemar:
    """McNemar's exact test of ``model_a`` against ``model_b`` on the images of ``dataset``.

    Args:
        model_a: model A (``margin`` is A minus B).
        model_b: model B.
        dataset: batches of ``(images, labels)``; both models score each batch in turn, so
            the images are paired whatever the dataset's order.

    Returns:
        The ``McNemar`` counts, top-1 of both and the two-sided p-value.
    """
    correct_a, correct_b = _correct([model_a, model_b], dataset)
    return mcnemar_exact(correct_a, correct_b)
