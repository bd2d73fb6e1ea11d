"""The report's statistics against values computed by hand."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdclab.report.stats import discordant_pairs_needed, mcnemar_exact, percentiles, wilson

Z = 1.959963984540054  # the 97.5% normal quantile


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),  # textbook values
        (0, 10, 0.0, 0.2775),
        (7, 41, 0.0853, 0.3126),  # the field report's 1-hour TLS 1.3 failures
        (29, 60, 0.3618, 0.6069),  # its final run
    ],
)
def test_wilson_interval(k, n, low, high):
    ci = wilson(k, n)
    assert ci.low == pytest.approx(low, abs=5e-4)
    assert ci.high == pytest.approx(high, abs=5e-4)
    assert (ci.low, ci.high) == pytest.approx(wilson_by_hand(k, n), abs=1e-9)


def test_wilson_of_nothing_is_undefined():
    assert math.isnan(wilson(0, 0).low)


@pytest.mark.parametrize(
    ("only_a", "only_b", "p"),
    [
        (3, 0, 0.25),  # the field report's 3 vs 0: 2 * 0.5**3
        (25, 0, 2 * 0.5**25),  # its 25 vs 0, ~6e-8
        (4, 1, 2 * (1 + 5) / 32),  # 2 * P(X <= 1), X ~ Bin(5, 1/2)
        (1, 1, 1.0),
        (0, 0, 1.0),
    ],
)
def test_exact_mcnemar(only_a, only_b, p):
    test = mcnemar_exact(10, only_a, only_b, 2)
    assert test.p_value == pytest.approx(p, rel=1e-9)
    assert test.discordant == only_a + only_b


def test_significance_and_the_smallest_possible_p():
    assert not mcnemar_exact(38, 3, 0, 0).significant
    assert mcnemar_exact(38, 3, 0, 0).min_p_possible == 0.25
    assert mcnemar_exact(35, 25, 0, 0).significant
    assert discordant_pairs_needed() == 6  # 2 * 0.5**6 = 0.031 < 0.05 <= 2 * 0.5**5


def test_percentiles():
    values = list(range(1, 101))
    result = percentiles([float(v) for v in values])
    assert result["p50"] == pytest.approx(50.5)
    assert result["max"] == 100
    assert math.isnan(percentiles([])["p50"])


# scipy is the oracle: the report computes these without importing scipy.stats (a second
# of start-up on every `invoke report`); they must stay what scipy's binomtest says.
@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=20_000).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_wilson_is_scipys(kn):
    from scipy.stats import binomtest

    k, n = kn
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    ours = wilson(k, n)
    assert (ours.low, ours.high) == pytest.approx((ci.low, ci.high), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3_000), st.integers(0, 3_000))
def test_exact_mcnemar_is_scipys_binomial_test(only_a, only_b):
    from scipy.stats import binomtest

    ours = mcnemar_exact(0, only_a, only_b, 0).p_value
    if only_a + only_b == 0:
        assert ours == 1.0
        return
    theirs = binomtest(only_a, only_a + only_b, 0.5).pvalue
    # scipy underflows to 0 below ~1e-300 where the exact integers do not
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-200)
