"""Paired significance tests: agreement with scipy, degenerate cases, seeding and calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillrank.evaluation import paired_t_test, permutation_test


def paired_sample(seed: int, n: int = 50, shift: float = 0.0, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.2, 0.8, size=n)
    return b + shift + rng.normal(0, noise, size=n), b


@pytest.mark.parametrize("seed", range(5))
def test_t_test_equals_scipy(seed: int) -> None:
    a, b = paired_sample(seed, shift=0.01 * seed)
    assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_t_test(a, b) == pytest.approx(paired_t_test(b, a))  # two-sided


@pytest.mark.parametrize("seed", range(5))
def test_permutation_close_to_t_test_on_normal_differences(seed: int) -> None:
    a, b = paired_sample(seed, n=60, shift=0.02)
    assert permutation_test(a, b, seed=seed) == pytest.approx(paired_t_test(a, b), abs=0.03)


def test_identical_systems() -> None:
    a = [0.1, 0.5, 0.3, 0.9]
    assert paired_t_test(a, a) == 1.0
    assert permutation_test(a, a) == 1.0
    assert permutation_test(a, np.array(a) + 1e-17) == 1.0  # rounding noise is no difference


def test_clearly_better_system() -> None:
    a, b = paired_sample(0, n=50, shift=0.1, noise=0.02)
    assert paired_t_test(a, b) < 1e-10
    p = permutation_test(a, b, n_resamples=10_000)
    assert p == pytest.approx(1 / 10_001)  # no resample is as extreme: the +1 correction's floor
    assert p > 0


def test_constant_nonzero_difference_is_not_nan() -> None:
    a, b = np.full(10, 0.6), np.full(10, 0.5)
    assert paired_t_test(a, b) == 0.0
    assert permutation_test(a, b) < 0.01


def test_permutation_is_seeded() -> None:
    a, b = paired_sample(3, shift=0.015)
    assert permutation_test(a, b, seed=1) == permutation_test(a, b, seed=1)
    assert permutation_test(a, b, seed=1) != permutation_test(a, b, seed=2)
    gen = np.random.default_rng(9)
    assert permutation_test(a, b, seed=gen) == permutation_test(a, b, seed=np.random.default_rng(9))


def test_permutation_chunking_does_not_change_the_count() -> None:
    # Many queries force several chunks of resamples; the p-value stays within Monte Carlo error of the
    # t-test and is a multiple of 1 / (B + 1).
    a, b = paired_sample(4, n=5000, shift=0.002, noise=0.1)
    p = permutation_test(a, b, n_resamples=2000)
    assert round(p * 2001) == pytest.approx(p * 2001)
    assert p == pytest.approx(paired_t_test(a, b), abs=0.05)


def test_false_positive_rate_under_the_null() -> None:
    # 200 seeded null comparisons: about 5% below 0.05 (binomial sd ≈ 1.5%); bound at 10%.
    t_hits = perm_hits = 0
    for seed in range(200):
        a, b = paired_sample(1000 + seed, n=30)
        t_hits += paired_t_test(a, b) < 0.05
        perm_hits += permutation_test(a, b, n_resamples=1000, seed=seed) < 0.05
    assert t_hits / 200 <= 0.10
    assert perm_hits / 200 <= 0.10


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "error"),
    [
        ([0.1, 0.2], [0.1], {}, "differ in length: 2 and 1"),
        ([0.1], [0.2], {}, "at least 2 queries, got 1"),
        ([], [], {}, "at least 2 queries, got 0"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {}, "1-d sequences"),
        ([0.1, float("nan")], [0.1, 0.2], {}, "finite"),
    ],
)
def test_invalid_inputs(a, b, kwargs, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        paired_t_test(a, b)
    with pytest.raises(ValueError, match=error):
        permutation_test(a, b, **kwargs)


def test_invalid_n_resamples() -> None:
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        permutation_test([0.1, 0.2], [0.2, 0.1], n_resamples=0)
