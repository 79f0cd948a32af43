"""The statistics against known values."""

from __future__ import annotations

import math
import random

import pytest

from loco.evals import stats


def table(n11: int, n10: int, n01: int, n00: int) -> tuple[list[int], list[int]]:
    """Paired binary outcomes (a, b) realising a 2x2 table."""
    a = [1] * n11 + [1] * n10 + [0] * n01 + [0] * n00
    b = [1] * n11 + [0] * n10 + [1] * n01 + [0] * n00
    return a, b


def test_mcnemar_exact_on_a_fixed_table():
    # Discordant pairs 2 and 10: p = 2 * P[Bin(12, .5) <= 2] = 2 * 79 / 4096.
    a, b = table(30, 10, 2, 8)
    assert stats.mcnemar_exact(a, b) == pytest.approx(2 * 79 / 4096)
    assert stats.mcnemar_exact(a, b) == pytest.approx(0.0385742, abs=1e-6)
    # Symmetric in the two models, and the concordant cells do not matter.
    assert stats.mcnemar_exact(b, a) == pytest.approx(stats.mcnemar_exact(a, b))
    a2, b2 = table(0, 10, 2, 0)
    assert stats.mcnemar_exact(a2, b2) == pytest.approx(stats.mcnemar_exact(a, b))


def test_mcnemar_edge_cases():
    assert stats.mcnemar_exact([1, 0, 1], [1, 0, 1]) == 1.0  # no discordant pair
    assert stats.mcnemar_from_counts(5, 5) == 1.0
    assert stats.mcnemar_from_counts(0, 6) == pytest.approx(2 / 64)
    with pytest.raises(ValueError):
        stats.mcnemar_exact([1, 0], [1])


def test_bootstrap_interval_covers_the_true_difference():
    rng = random.Random(7)
    true_diff = 0.15
    covered = 0
    trials = 40
    for t in range(trials):
        base = [1 if rng.random() < 0.4 else 0 for _ in range(120)]
        adapter = [1 if rng.random() < 0.4 + true_diff else 0 for _ in range(120)]
        low, high = stats.paired_bootstrap_ci(adapter, base, n_resamples=2000, seed=t)
        assert low <= high
        covered += low <= true_diff <= high
    # A 95 % interval: about 38 of 40; allow for sampling error.
    assert covered >= 34


def test_bootstrap_interval_of_a_constant_difference_is_that_difference():
    low, high = stats.paired_bootstrap_ci([0.7] * 10, [0.2] * 10)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_bootstrap_is_reproducible_with_a_seed():
    a = [random.Random(1).random() for _ in range(30)]
    b = [x * 0.9 for x in a]
    assert stats.paired_bootstrap_ci(a, b, seed=3) == stats.paired_bootstrap_ci(a, b, seed=3)


def test_permutation_test_exact_small_case():
    # Differences +1, +1, +1: of the 8 sign patterns only all-plus and all-minus
    # reach |sum| >= 3, so p = 2/8.
    assert stats.paired_permutation_test([1, 1, 1], [0, 0, 0]) == pytest.approx(0.25)
    assert stats.paired_permutation_test([0.5, 0.5], [0.5, 0.5]) == 1.0


def test_permutation_test_monte_carlo_detects_a_shift_and_not_noise():
    rng = random.Random(3)
    base = [rng.random() for _ in range(80)]
    shifted = [min(1.0, x + 0.2 + rng.gauss(0, 0.05)) for x in base]
    assert stats.paired_permutation_test(shifted, base, n_resamples=4000) < 0.001
    noise = [x + rng.gauss(0, 0.05) for x in base]
    assert stats.paired_permutation_test(noise, base, n_resamples=4000) > 0.01


def test_pass_at_k_known_values():
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,2)/C(10,2) = 1 - 21/45
    assert stats.pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)
    assert stats.pass_at_k(5, 0, 3) == 0.0
    assert stats.pass_at_k(5, 3, 3) == 1.0  # fewer than k failures: always a pass
    assert stats.pass_at_k(20, 5, 10) == pytest.approx(1 - math.comb(15, 10) / math.comb(20, 10))
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 4, 1)


def test_compare_picks_the_test_by_score_kind():
    binary = stats.compare([1, 1, 0, 1], [0, 1, 0, 0])
    assert binary.test == "mcnemar-exact"
    assert binary.difference == pytest.approx(0.5)
    graded = stats.compare([0.9, 0.8, 0.7], [0.5, 0.6, 0.7])
    assert graded.test == "paired-permutation"
    assert graded.relative == pytest.approx((0.8 - 0.6) / 0.6)
    empty = stats.compare([], [])
    assert empty.n == 0 and empty.p_value is None
