import math
from fractions import Fraction

import numpy as np
import pytest

import ebn_tf  # noqa: F401  (binds legacy Keras first)
from ebn_tf._keras import keras, tf
from ebn_tf.analysis import paired


def pair(a_only: int, b_only: int, both: int = 0, neither: int = 0) -> tuple[list, list]:
    """Per-image correctness of A and B with the given contingency counts."""
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


def test_mcnemar_matches_the_hand_computed_binomial_tail():
    result = paired.mcnemar_exact(*pair(10, 2, both=80, neither=8))
    # 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096
    assert result.p_value == pytest.approx(2 * 79 / 4096) == pytest.approx(0.0385742, abs=1e-7)
    assert (result.a_only, result.b_only, result.both, result.neither) == (10, 2, 80, 8)
    assert result.images == 100 and result.discordant == 12
    assert result.top1_a == pytest.approx(90.0) and result.top1_b == pytest.approx(82.0)
    assert result.margin == pytest.approx(8.0)
    # Swapping A and B swaps the counts and the sign of the margin, not the p-value.
    swapped = paired.mcnemar_exact(*reversed(pair(10, 2, both=80, neither=8)))
    assert (swapped.a_only, swapped.b_only) == (2, 10) and swapped.margin == pytest.approx(-8)
    assert swapped.p_value == result.p_value


def test_mcnemar_is_one_when_symmetric_or_without_discordant_images():
    assert paired.mcnemar_exact(*pair(7, 7, both=5)).p_value == 1.0
    none = paired.mcnemar_exact(*pair(0, 0, both=9, neither=1))
    assert none.p_value == 1.0 and none.margin == 0.0
    # One discordant image: p = 2 * P[X <= 0] = 2 * 1/2, capped at 1.
    assert paired.mcnemar_exact(*pair(1, 0)).p_value == 1.0


def test_mcnemar_is_exact_and_stable_for_thousands_of_discordant_images():
    result = paired.mcnemar_exact(*pair(600, 500, both=8900))
    exact = 2 * Fraction(sum(math.comb(1100, k) for k in range(501)), 2**1100)
    assert result.p_value == pytest.approx(float(exact), rel=1e-12)
    # Normal approximation with continuity correction: z = 99 / sqrt(1100) -> p ~ 0.0028.
    assert 0.002 < result.p_value < 0.004
    # The whole 10,000 images discordant, split 4,900 : 5,100 (no overflow, a sane p).
    assert 0.04 < paired.mcnemar_exact(*pair(4900, 5100)).p_value < 0.05
    assert paired.mcnemar_exact(*pair(1000, 9000)).p_value == 0.0  # below the float range


def test_mcnemar_rejects_unpaired_inputs():
    with pytest.raises(ValueError, match="same"):
        paired.mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError, match="same"):
        paired.mcnemar_exact([], [])


def test_binomial_half_cdf_edges():
    assert paired.binomial_half_cdf(-1, 5) == 0.0
    assert paired.binomial_half_cdf(5, 5) == 1.0
    assert paired.binomial_half_cdf(0, 3) == 1 / 8
    assert paired.binomial_half_cdf(1, 4) == 5 / 16


@pytest.mark.parametrize(
    "df, confidence, expected",
    [
        (1, 0.95, 12.706),
        (2, 0.95, 4.303),
        (3, 0.95, 3.182),
        (4, 0.95, 2.776),
        (9, 0.95, 2.262),
        (30, 0.95, 2.042),
        (10, 0.99, 3.169),
        (5, 0.90, 2.015),
    ],
)
def test_t_critical_matches_the_tables(df, confidence, expected):
    assert paired.t_critical(df, confidence) == pytest.approx(expected, abs=5e-4)


def test_t_critical_tends_to_the_normal_quantile():
    assert paired.t_critical(10_000) == pytest.approx(1.95996, abs=5e-4)


def test_t_critical_rejects_bad_arguments():
    with pytest.raises(ValueError, match="df"):
        paired.t_critical(0)
    with pytest.raises(ValueError, match="confidence"):
        paired.t_critical(3, 1.0)


def test_mean_interval_of_known_values():
    mean, low, high = paired.mean_interval([1.0, 2.0, 3.0])
    # sd 1, n 3: half width 4.303 / sqrt(3)
    assert mean == 2.0
    assert (low, high) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    mean, low, high = paired.mean_interval([0.5, -0.5], confidence=0.95)
    assert mean == 0.0 and high == pytest.approx(12.706205 * 0.5, rel=1e-6) and low == -high
    assert paired.mean_interval([4.0, 4.0, 4.0]) == (4.0, 4.0, 4.0)


def test_mean_interval_of_one_value_has_no_bounds():
    mean, low, high = paired.mean_interval([0.25])
    assert mean == 0.25 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        paired.mean_interval([])


@pytest.fixture(scope="module")
def models_and_batches():
    """Two linear models whose argmax is known: the identity and its negation, on 6
    three-feature images batched 4 + 2 (so the order across batches is checked)."""
    images = np.array(
        [[3, 1, 0], [0, 2, 1], [1, 0, 5], [4, 0, 1], [0, 0, 2], [0, 3, 1]], np.float32
    )
    labels = np.array([0, 1, 0, 2, 2, 0], np.int32)
    built = []
    for sign in (1, -1):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, use_bias=False)])
        model.layers[-1].set_weights([sign * np.eye(3, dtype=np.float32)])
        built.append(model)
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    return built, batches


def test_predictions_correct_in_dataset_order(models_and_batches):
    (identity, negated), batches = models_and_batches
    # Identity predicts [0, 1, 2, 0, 2, 1]; negated predicts the smallest: [2, 0, 1, 1, 0, 0].
    np.testing.assert_array_equal(
        paired.predictions_correct(identity, batches), [True, True, False, False, True, False]
    )
    np.testing.assert_array_equal(
        paired.predictions_correct(negated, batches), [False, False, False, False, False, True]
    )


def test_compare_models_pairs_the_images(models_and_batches):
    (identity, negated), batches = models_and_batches
    result = paired.compare_models(identity, negated, batches)
    assert (result.a_only, result.b_only, result.both, result.neither) == (3, 1, 0, 2)
    assert result.p_value == pytest.approx(2 * 5 / 16)  # 2 * (C(4,0) + C(4,1)) / 2^4
    assert result.top1_a == pytest.approx(50.0) and result.margin == pytest.approx(200 / 6)
