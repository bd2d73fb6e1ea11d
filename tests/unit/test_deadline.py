"""The learned deadline's rules, as properties (Hypothesis), and the spec that turns it on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.core.deadline import MIN_SAMPLES, DeadlineLearner, LearnSettings, p99
from cdclab.core.spec import CanarySpec
from cdclab.errors import InvalidInputError
from cdclab.experiment.tracker import CanaryTracker

latency = st.floats(min_value=1, max_value=120_000, allow_nan=False)
settings = st.builds(
    LearnSettings,
    warmup=st.integers(MIN_SAMPLES, 40),
    factor=st.floats(1.5, 10),
    floor_s=st.floats(0.5, 10),
    ceiling_s=st.floats(10, 60),
    interval_s=st.floats(0.2, 5),
)


def _learned(s: LearnSettings, per_arm: dict[str, list[float]]):
    learner = DeadlineLearner(list(per_arm), s)
    for arm, values in per_arm.items():
        for value in values:
            learner.add(arm, value)
    return learner


@given(settings, st.lists(latency, min_size=1, max_size=99), st.lists(latency, max_size=99))
def test_the_deadline_stays_between_its_bounds_and_above_every_warmup_latency(s, a, b):
    result = _learned(s, {"a": a, "b": b}).result()
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        assert not result.learned and result.deadline_s == s.ceiling_s
        assert "not learned" in result.rule
        return
    assert result.learned
    assert max(s.floor_s, s.interval_s) - 1e-3 <= result.deadline_s <= s.ceiling_s + 1e-3
    if result.deadline_s < s.ceiling_s:
        # Under 100 samples the p99 is the largest: no warm-up canary is late under it.
        assert all(v / 1000 <= result.deadline_s + 1e-3 for v in a + b)
    assert result.samples == {"a": len(a), "b": len(b)}


@given(settings, st.lists(latency, min_size=MIN_SAMPLES, max_size=60), latency)
def test_a_slower_sample_never_lowers_the_deadline(s, values, extra):
    before = _learned(s, {"a": values}).result().deadline_s
    after = _learned(s, {"a": [*values, max(extra, max(values))]}).result().deadline_s
    assert after >= before


@given(settings, st.integers(0, 60), st.floats(0, 1000), st.booleans())
def test_the_warmup_ends_when_every_arm_is_full_a_fault_begins_or_time_is_up(
    s, delivered, elapsed, fault_on
):
    learner = _learned(s, {"a": [100.0] * delivered, "b": [100.0] * s.warmup})
    expected = (
        delivered >= s.warmup or (fault_on and delivered >= MIN_SAMPLES) or elapsed >= s.max_wait_s
    )
    assert learner.ready(elapsed, fault_on) == expected


def test_p99_is_nearest_rank():
    assert p99([5.0, 1.0, 3.0]) == 5.0
    assert p99([float(v) for v in range(1, 201)]) == 198.0


def test_the_lab_figures_give_the_floor_and_say_why():
    s = LearnSettings(warmup=20, factor=4, floor_s=5, ceiling_s=30, interval_s=1)
    result = _learned(s, {"tls13": [200.0] * 19 + [800.0], "tls12": [400.0] * 20}).result()
    assert result.deadline_s == 5.0
    assert result.rule == (
        "learned: 4 × p99 of the warm-up (tls13: 0.80 s over 20 canaries) = 3.20 s, "
        "raised to the floor 5s"
    )
    slow = _learned(s, {"tls13": [2500.0] * 20}).result()
    assert slow.deadline_s == 10.0 and slow.rule.endswith("= 10.00 s")
    stuck = _learned(s, {"tls13": [20_000.0] * 20}).result()
    assert stuck.deadline_s == 30 and "capped at the ceiling 30s" in stuck.rule


def test_a_spec_without_deadline_learns_and_one_with_a_deadline_keeps_it():
    assert CanarySpec().deadline is None and CanarySpec().first_deadline == 30.0
    assert CanarySpec().interval == 1.0
    assert "learned from the first 20 canaries" in CanarySpec().describe_deadline()
    fixed = CanarySpec.model_validate({"interval": "5s", "deadline": "30s"})
    assert fixed.first_deadline == 30.0 and fixed.describe_deadline() == "deadline 30s"


@pytest.mark.parametrize(
    ("canary", "field"),
    [
        ({"learn": {"floor": "40s"}}, "floor"),
        ({"interval": "40s"}, "learn.ceiling"),
        ({"learn": {"warmup": 2}}, "warmup"),
        ({"learn": {"factor": 1}}, "factor"),
    ],
)
def test_bad_learning_settings_name_the_field(canary, field):
    import json

    from cdclab.core.spec import load_spec

    with pytest.raises(InvalidInputError, match=field):
        load_spec("tls-compare", assignments=[f"canary={json.dumps(canary)}"])


class _Journal:
    def __init__(self):
        self.records: list[dict] = []

    def write(self, record: dict) -> None:
        self.records.append(record)


def test_a_learned_deadline_applies_to_canaries_not_yet_settled():
    from cdclab.canary import Canary

    tracker = CanaryTracker(["a"], deadline_s=30.0, misses=2, checks=_Journal())
    tracker.written(Canary("c1", "r1", 1, 1000.0), {"a": None})
    tracker.tick(1006.0)
    assert tracker.unresolved == 1  # not overdue under 30 s
    tracker.set_deadline(5.0)
    assert tracker.next_deadline == pytest.approx(1005.0)
    tracker.tick(1006.0)
    assert tracker.unresolved == 0 and tracker.counts["a"].missing == 1
