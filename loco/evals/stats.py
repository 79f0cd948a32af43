"""Statistics for paired comparisons of two models on the same items.

* :func:`paired_bootstrap_ci` — percentile interval of the mean difference,
  resampling items (pairs) with replacement;
* :func:`mcnemar_exact` — exact (binomial) McNemar test for binary scores;
* :func:`paired_permutation_test` — sign-flip permutation test of the mean
  difference for graded scores (exact when the pairs are few);
* :func:`pass_at_k` — the unbiased pass@k estimator (Chen et al., 2021).

numpy is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

#: Below this many non-zero differences the permutation test enumerates every sign pattern.
EXACT_PERMUTATION_MAX = 16


def _pairs(a: Sequence[float], b: Sequence[float]) -> tuple[list[float], list[float]]:
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length ({len(a)} != {len(b)})")
    return [float(x) for x in a], [float(y) for y in b]


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, or None for no values."""
    return sum(values) / len(values) if values else None


def is_binary(values: Sequence[float]) -> bool:
    """True when every value is 0 or 1."""
    return all(v in (0, 1, 0.0, 1.0, True, False) for v in values)


def paired_bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for ``mean(a) - mean(b)`` over paired items.

    Items are resampled with replacement (the pair stays together), so the
    interval reflects the correlation between the two models' scores.
    """
    import numpy as np

    x, y = _pairs(a, b)
    if not x:
        raise ValueError("no pairs to compare")
    diffs = np.asarray(x) - np.asarray(y)
    n = len(diffs)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 2_000_000 // max(n, 1)))
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact McNemar p-value for paired binary outcomes.

    Only discordant pairs count: ``n01`` (b right, a wrong) and ``n10``
    (a right, b wrong). Under the null each discordant pair is a fair coin, so
    p = min(1, 2 * P[Binomial(n01 + n10, 1/2) <= min(n01, n10)]).
    """
    x, y = _pairs(a, b)
    n10 = sum(1 for i, j in zip(x, y) if i >= 0.5 and j < 0.5)
    n01 = sum(1 for i, j in zip(x, y) if i < 0.5 and j >= 0.5)
    return mcnemar_from_counts(n01, n10)


def mcnemar_from_counts(n01: int, n10: int) -> float:
    """Exact McNemar p-value from the two discordant counts of a 2x2 table."""
    n = n01 + n10
    if n == 0:
        return 1.0
    k = min(n01, n10)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def paired_permutation_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided sign-flip permutation p-value for ``mean(a - b) != 0``.

    Exact (every sign pattern) when at most :data:`EXACT_PERMUTATION_MAX`
    differences are non-zero; otherwise Monte Carlo with the
    ``(hits + 1) / (resamples + 1)`` correction, so p is never 0.
    """
    import numpy as np

    x, y = _pairs(a, b)
    d = np.asarray(x) - np.asarray(y)
    d = d[np.abs(d) > 1e-12]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    eps = 1e-9 * max(1.0, observed)
    m = d.size
    if m <= EXACT_PERMUTATION_MAX:
        patterns = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1) * 2 - 1
        sums = np.abs(patterns @ d)
        return float(np.mean(sums >= observed - eps))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, min(n_resamples, 2_000_000 // m))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        signs = rng.choice((-1.0, 1.0), size=(size, m))
        hits += int(np.sum(np.abs(signs @ d) >= observed - eps))
    return (hits + 1) / (n_resamples + 1)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n (c={c}, n={n})")
    if k < 1 or k > n:
        raise ValueError(f"need 1 <= k <= n (k={k}, n={n})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


@dataclass(frozen=True)
class Comparison:
    """Two models compared on the same items."""

    n: int
    a: float | None
    b: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    test: str  # "mcnemar-exact", "paired-permutation" or "none"
    relative: float | None = None  # difference / b

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 else None
        return out

    def test_fields(self) -> dict[str, Any]:
        """The paired-test fields every report carries: difference, ci95, p_value, test."""
        return {
            "difference": self.difference,
            "ci95": list(self.ci95) if self.ci95 else None,
            "p_value": self.p_value,
            "test": self.test,
        }


def compare(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """Means, difference, bootstrap interval and the right significance test.

    McNemar when both score lists are binary, the permutation test otherwise.
    """
    x, y = _pairs(a, b)
    n = len(x)
    if n == 0:
        return Comparison(0, None, None, None, None, None, "none")
    ma, mb = mean(x), mean(y)
    diff = ma - mb
    ci = paired_bootstrap_ci(x, y, confidence=confidence, seed=seed)
    if is_binary(x) and is_binary(y):
        p, test = mcnemar_exact(x, y), "mcnemar-exact"
    else:
        p, test = paired_permutation_test(x, y, seed=seed), "paired-permutation"
    rel = diff / mb if mb else None
    return Comparison(n, ma, mb, diff, ci, p, test, rel)
