"""The canary deadline learned from the run's own warm-up, when a spec does not set one.

A fixed 30 s deadline was a guess 50 times the latency it guarded (0.2 to 0.8 s on the lab, p99
0.8 s under a 1 MB/s write load), and it made detection take ~40 s. Instead: the first
`warmup` canaries delivered on each arm while no fault was on give each arm's p99; the
deadline is `factor` times the slowest arm's p99 — one deadline for every arm, so arms are
compared under one rule — never under `floor` (a 2 s stop-the-world pause of a worker
must not look like an outage) nor the interval, never over `ceiling`. Until it is learned,
and if too few canaries arrive to learn from, the ceiling applies.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cdclab.core.durations import format_duration

MIN_SAMPLES = 5  # fewer delivered canaries on an arm say nothing about its tail
MIN_WAIT_S = 60.0  # the warm-up's time limit is at least this


@dataclass(frozen=True)
class LearnSettings:
    warmup: int  # delivered canaries per arm
    factor: float
    floor_s: float
    ceiling_s: float
    interval_s: float

    @property
    def max_wait_s(self) -> float:
        """The warm-up ends by then, learned or not (an arm that delivers nothing)."""
        return max(MIN_WAIT_S, 3 * self.warmup * self.interval_s)


@dataclass(frozen=True)
class LearnedDeadline:
    deadline_s: float
    learned: bool
    rule: str  # one sentence for the report: how this deadline was chosen
    p99_ms: dict[str, float]
    samples: dict[str, int]

    def as_record(self) -> dict[str, object]:
        return asdict(self)


def p99(latencies_ms: list[float]) -> float:
    """Nearest-rank 99th percentile: for fewer than 100 samples, the largest."""
    ordered = sorted(latencies_ms)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class DeadlineLearner:
    def __init__(self, arms: list[str], settings: LearnSettings):
        self.settings = settings
        self._latencies: dict[str, list[float]] = {arm: [] for arm in arms}

    def add(self, arm: str, latency_ms: float) -> None:
        # Every on-time arrival until the deadline is learned, not only the first `warmup`:
        # with fewer than 100 the p99 is the largest, so none of them is late under it.
        self._latencies[arm].append(latency_ms)

    def ready(self, elapsed_s: float, fault_on: bool = False) -> bool:
        """Full on every arm, or out of time; or a fault began and every arm has enough to
        learn from (the rest of the warm-up would be the fault's, not the pipeline's)."""
        counts = [len(s) for s in self._latencies.values()]
        if all(n >= self.settings.warmup for n in counts):
            return True
        if fault_on and all(n >= MIN_SAMPLES for n in counts):
            return True
        return elapsed_s >= self.settings.max_wait_s

    def result(self) -> LearnedDeadline:
        s = self.settings
        samples = {arm: len(v) for arm, v in self._latencies.items()}
        tails = {arm: p99(v) for arm, v in self._latencies.items() if len(v) >= MIN_SAMPLES}
        if len(tails) < len(self._latencies):
            short = ", ".join(a for a, n in samples.items() if n < MIN_SAMPLES)
            rule = (
                f"not learned: {short} delivered fewer than {MIN_SAMPLES} canaries in the "
                f"{format_duration(s.max_wait_s)} warm-up; the ceiling "
                f"{format_duration(s.ceiling_s)}"
            )
            return LearnedDeadline(s.ceiling_s, False, rule, tails, samples)
        slowest = max(tails, key=tails.__getitem__)
        wanted = s.factor * tails[slowest] / 1000
        # Whole milliseconds, rounded up: never below a warm-up latency.
        deadline = min(s.ceiling_s, math.ceil(max(s.floor_s, s.interval_s, wanted) * 1000) / 1000)
        rule = (
            f"learned: {s.factor:g} × p99 of the warm-up ({slowest}: "
            f"{tails[slowest] / 1000:.2f} s over {samples[slowest]} canaries) = {wanted:.2f} s"
        )
        if deadline > wanted:
            least = "floor" if s.floor_s >= s.interval_s else "interval"
            rule += f", raised to the {least} {format_duration(deadline)}"
        elif deadline < wanted:
            rule += f", capped at the ceiling {format_duration(deadline)}"
        return LearnedDeadline(deadline, True, rule, tails, samples)
