"""What the plots show, as arrays: what the report process hands the drawing process
(renderer.py). Free of matplotlib and of the summary's models, so that the drawing process
imports only what it draws with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cdclab.core.journal import parse_iso

if TYPE_CHECKING:
    from cdclab.report.summary import Check, Summary


@dataclass(slots=True)
class ArmSeries:
    """One arm's canaries as the plots need them: epoch seconds and milliseconds."""

    arm: str
    delivered: tuple[np.ndarray, np.ndarray]  # (written at, latency ms)
    late: tuple[np.ndarray, np.ndarray]
    missing_at: np.ndarray
    latencies_ms: np.ndarray  # every canary with a latency, for the distribution
    since_last_event: tuple[np.ndarray, np.ndarray]  # (written at, seconds), when sampled
    episodes: list[tuple[float, float, float]] = field(default_factory=list)  # start, end, detected


@dataclass(slots=True)
class PlotData:
    arms: list[ArmSeries]
    fault_windows: list[tuple[float, float, str]]
    stall_after_s: float
    deadline_s: float
    missing_mark_ms: float  # where missing canaries are marked: above every latency seen


def fault_windows(summary: Summary) -> list[tuple[float, float, str]]:
    """(applied, healed, label) from faults.jsonl, when the run had faults."""
    applied: dict[str, tuple[float, str]] = {}
    windows = []
    for record in summary.faults:
        key = str(record.get("fault_id"))
        at = parse_iso(record.get("at"))
        if at is None:
            continue
        if record.get("event") == "fault-applied":
            applied[key] = (at, str(record.get("label", record.get("kind", "fault"))))
        elif record.get("event") == "fault-healed" and key in applied:
            start, label = applied.pop(key)
            windows.append((start, at, label))
    end = summary.ended_at or 0.0
    windows += [(start, end, label) for start, label in applied.values()]
    return windows


def _pairs(rows: list[Check], outcome: str) -> tuple[np.ndarray, np.ndarray]:
    picked = [(c.written_at, c.latency_ms) for c in rows if c.outcome == outcome and c.latency_ms]
    return _columns(picked)


def _columns(pairs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(pairs, dtype=float).reshape(-1, 2)
    return array[:, 0], array[:, 1]


def _arm_series(summary: Summary, arm: str, rows: list[Check]) -> ArmSeries:
    since = [
        (c.written_at, max(ms, 0) / 1000)
        for c in rows
        if (ms := c.metric("ms_since_last_event")) is not None
    ]
    episodes = [
        (e.start, e.end or summary.ended_at or e.detected_at, e.detected_at)
        for a in summary.arms
        if a.arm == arm
        for e in a.episodes
    ]
    return ArmSeries(
        arm=arm,
        delivered=_pairs(rows, "delivered"),
        late=_pairs(rows, "late"),
        missing_at=np.asarray([c.written_at for c in rows if c.outcome == "missing"], float),
        latencies_ms=np.sort(np.asarray([c.latency_ms for c in rows if c.latency_ms], float)),
        since_last_event=_columns(since),
        episodes=episodes,
    )


def plot_data(summary: Summary, checks: list[Check]) -> PlotData:
    by_arm: dict[str, list[Check]] = {a.arm: [] for a in summary.arms}
    for check in checks:
        by_arm.setdefault(check.arm, []).append(check)
    arms = [_arm_series(summary, a.arm, by_arm[a.arm]) for a in summary.arms]
    # Each arm's latencies are sorted: the last is its highest.
    top = max((float(a.latencies_ms[-1]) for a in arms if len(a.latencies_ms)), default=None)
    return PlotData(
        arms=arms,
        fault_windows=fault_windows(summary),
        stall_after_s=summary.stall_after_s,
        deadline_s=summary.deadline_s,
        missing_mark_ms=top * 3 if top is not None else 1000.0,
    )
