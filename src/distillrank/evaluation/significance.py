"""Paired significance tests on per-query metric values of two systems.

Both tests take the per-query values ``a`` and ``b`` of two systems over the same queries, in the same
order, and test whether the mean of the differences ``d_i = a_i - b_i`` is zero (two-sided). Smucker,
Allan & Carterette (2007) compare the tests used in IR and recommend the randomisation (permutation) test;
they find that the paired t-test agrees with it closely on typical TREC data, while the sign and
Wilcoxon tests do not.

Reference:
    M. D. Smucker, J. Allan and B. Carterette. *A comparison of statistical significance tests for
    information retrieval evaluation.* CIKM 2007, pp. 623-632.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

ArrayLike = Sequence[float] | np.ndarray


def _differences(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"expected two 1-d sequences of per-query values, got shapes {x.shape}, {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {len(x)} and {len(y)} queries")
    if len(x) < 2:
        raise ValueError(f"a paired test needs at least 2 queries, got {len(x)}")
    d = x - y
    if not np.all(np.isfinite(d)):
        raise ValueError("per-query values must be finite (found NaN or infinity)")
    return d


def paired_t_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided paired Student t-test of ``mean(a - b) = 0``; returns the p-value.

    With ``d_i = a_i - b_i`` over ``n`` queries, ``t = mean(d) / (sd(d) / sqrt(n))`` (``sd`` with
    ``n - 1`` degrees of freedom) and ``p = 2 * P(T_{n-1} >= |t|)``, as :func:`scipy.stats.ttest_rel`.
    Degenerate cases never give NaN: ``p = 1`` when every difference is zero, and ``p = 0`` when the
    differences are all equal and non-zero (zero variance, ``|t| = inf``).

    Args:
        a, b: per-query values of the two systems, paired by position; at least 2 queries.

    Raises:
        ValueError: unequal lengths, fewer than 2 queries, or non-finite values.

    Reference: Smucker, Allan & Carterette, CIKM 2007.

    >>> round(paired_t_test([0.5, 0.6, 0.7, 0.9], [0.4, 0.6, 0.5, 0.6]), 4)
    0.1027
    >>> paired_t_test([0.3, 0.2], [0.3, 0.2])
    1.0
    """
    d = _differences(a, b)
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0
    p = float(stats.ttest_rel(a, b).pvalue)
    return 1.0 if np.isnan(p) else p


def permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    n_resamples: int = 10_000,
    seed: int | np.random.Generator | None = 0,
) -> float:
    """Two-sided paired randomisation (sign-flip) test of ``mean(a - b) = 0``; returns the p-value.

    Under the null hypothesis the two systems are exchangeable on every query, so each difference
    ``d_i = a_i - b_i`` is as likely to have the opposite sign. The test draws ``B = n_resamples``
    random sign vectors ``s`` (each ``s_i = ±1`` with probability 1/2) and counts the resamples whose
    statistic is at least as extreme as the observed one:

        p = (1 + #{k : |sum_i s_ki d_i| >= |sum_i d_i|}) / (1 + B)

    The ``+1`` counts the observed assignment itself, which keeps ``p`` a valid p-value, never 0
    (Phipson & Smyth 2010). Comparisons allow a relative tolerance of 1e-12 so that floating-point
    rounding does not decide ties; identical systems give ``p = 1``.

    Args:
        a, b: per-query values of the two systems, paired by position; at least 2 queries.
        n_resamples: number of random sign vectors ``B`` (10,000 gives p to about ±0.005 near 0.05).
        seed: seed or generator; the same seed gives the same p-value.

    Raises:
        ValueError: unequal lengths, fewer than 2 queries, non-finite values or ``n_resamples < 1``.

    References:
        Smucker, Allan & Carterette, CIKM 2007 (the randomisation test for IR evaluation);
        B. Phipson and G. K. Smyth, *Permutation p-values should never be zero*, Stat. Appl. Genet.
        Mol. Biol. 9(1), 2010.

    >>> permutation_test([0.3, 0.2, 0.5], [0.3, 0.2, 0.5])
    1.0
    """
    d = _differences(a, b)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    total = float(d.sum())
    threshold = abs(total) - 1e-12 * float(np.abs(d).sum())
    n = len(d)
    chunk = max(1, min(n_resamples, 4_000_000 // n))
    hits = 0
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        flipped = rng.random((size, n)) < 0.5
        # Flipping the signs of a subset F turns sum(d) into sum(d) - 2 * sum_{i in F} d_i.
        resampled = total - 2.0 * (flipped.astype(np.float64) @ d)
        hits += int(np.count_nonzero(np.abs(resampled) >= threshold))
        done += size
    return (hits + 1) / (n_resamples + 1)
