"""Mixup (Zhang et al., 2018) as the released EBNet training applies it, one batch at a time."""

from __future__ import annotations

from ebn_tf._keras import tf


def mix(
    images: tf.Tensor, labels: tf.Tensor, alpha: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Blend a batch with a shuffled copy of itself by one ``lam ~ Beta(alpha, alpha)``.

    The loss is then ``lam * loss(labels) + (1 - lam) * loss(partners)``.

    Args:
        images: ``[batch, ...]`` images.
        labels: ``[batch]`` integer labels.
        alpha: the Beta distribution's parameter (the release's default is 0.2), > 0.
        seed: ``[2]`` integer seed; the same seed gives the same ``lam`` and partners.

    Returns:
        ``(mixed images, the partners' labels, lam)``.
    """
    lam_seed, order_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    # Beta(a, a) is X / (X + Y) for X, Y ~ Gamma(a).
    gammas = tf.random.stateless_gamma([2], lam_seed, alpha=alpha)
    lam = tf.math.divide_no_nan(gammas[0], gammas[0] + gammas[1])
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(labels)[:1], order_seed))
    mixed = lam * images + (1.0 - lam) * tf.gather(images, order)
    return mixed, tf.gather(labels, order), lam
