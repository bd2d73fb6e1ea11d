"""The statistics the report relies on, with the reasoning spelled out; scipy is their
oracle in the unit tests, not an import of every report (a second of start-up)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

ALPHA = 0.05


@dataclass(frozen=True)
class Proportion:
    k: int
    n: int
    low: float  # Wilson 95% interval
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan


def wilson(k: int, n: int, confidence: float = 0.95) -> Proportion:
    """k successes of n, with the Wilson score interval (good at small n and rates near 0)."""
    if n == 0:
        return Proportion(0, 0, math.nan, math.nan)
    # scipy's binomtest(k, n).proportion_ci(method="wilson"), in its own arithmetic (the unit
    # tests hold them equal); scipy.stats costs a second of import on every report.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 2 * (n + z**2)
    centre = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    low = 0.0 if k == 0 else centre - delta
    high = 1.0 if k == n else centre + delta
    return Proportion(k, n, low, high)


@dataclass(frozen=True)
class McNemar:
    both_ok: int
    only_a_failed: int
    only_b_failed: int
    both_failed: int
    p_value: float  # exact, two-sided: binomial test of the discordant pairs against 1/2

    @property
    def discordant(self) -> int:
        return self.only_a_failed + self.only_b_failed

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def min_p_possible(self) -> float:
        """The smallest p these many discordant pairs could ever give (all one way)."""
        return min(1.0, 2 * 0.5**self.discordant) if self.discordant else 1.0


def mcnemar_exact(both_ok: int, only_a: int, only_b: int, both_failed: int) -> McNemar:
    """Exact two-sided binomial test of the discordant pairs against 1/2: with p = 1/2 the
    distribution is symmetric, so it is twice the smaller tail (scipy's binomtest agrees:
    unit tests), in exact integers."""
    n = only_a + only_b
    if n == 0:
        return McNemar(both_ok, only_a, only_b, both_failed, 1.0)
    tail, term = 0, 1  # term = C(n, i), stepped from C(n, i - 1)
    for i in range(min(only_a, only_b) + 1):
        tail += term
        term = term * (n - i) // (i + 1)
    p = min(1.0, 2 * tail / 2**n)
    return McNemar(both_ok, only_a, only_b, both_failed, p)


def discordant_pairs_needed(alpha: float = ALPHA) -> int:
    """Fewest discordant pairs, all in one direction, that can reach p < alpha."""
    n = 1
    while 2 * 0.5**n >= alpha:
        n += 1
    return n


def percentiles(values: list[float], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    if not values:
        return {f"p{q}": math.nan for q in qs} | {"max": math.nan}
    array = np.asarray(values, dtype=float)
    result = {f"p{q}": float(np.percentile(array, q)) for q in qs}
    result["max"] = float(array.max())
    return result
