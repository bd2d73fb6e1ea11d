"""Canary bookkeeping: which arm saw which canary when, and the outcome of each.

Outcomes are journalled as soon as they are known: `delivered` on arrival within the
deadline; `missing` when the deadline passes; `late` (a second line for the same canary and
arm, which supersedes the first) if it arrives after all. Readers keep the last line per
(canary_id, arm). So checks.jsonl is complete at any instant a run may be killed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cdclab.canary import Canary, Sighting
from cdclab.connect_rest import ConnectorState
from cdclab.experiment.detector import Change, Episode, SilentFailureDetector
from cdclab.experiment.journal import Journal, utc_iso
from cdclab.metrics import StreamingMetrics

RUNNING = "RUNNING"


@dataclass
class ArmCounts:
    written: int = 0
    delivered: int = 0
    late: int = 0
    missing: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class _Pending:
    canary: Canary
    deadline_at: float
    states: dict[str, ConnectorState | None]
    metrics: dict[str, StreamingMetrics] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)


@dataclass
class SoloFailure:
    canary_id: str
    failed_arm: str
    delivered_arms: list[str]
    at: float


class CanaryTracker:
    def __init__(
        self,
        arms: list[str],
        *,
        deadline_s: float,
        misses: int,
        checks: Journal,
        on_episode_open: Callable[[Episode], None] = lambda e: None,
        on_episode_close: Callable[[Episode], None] = lambda e: None,
        on_solo_failure: Callable[[SoloFailure], None] = lambda s: None,
    ):
        self.arms = arms
        self.deadline_s = deadline_s
        self.checks = checks
        self.detectors = {arm: SilentFailureDetector(arm, misses) for arm in arms}
        self.counts = {arm: ArmCounts() for arm in arms}
        self._pending: dict[str, _Pending] = {}  # deadline not yet reached
        self._overdue: dict[str, _Pending] = {}  # missing on some arm: may still come late
        self._on_open = on_episode_open
        self._on_close = on_episode_close
        self._on_solo = on_solo_failure

    # -- inputs -------------------------------------------------------------------------
    def written(
        self,
        canary: Canary,
        states: dict[str, ConnectorState | None],
        metrics: dict[str, StreamingMetrics] | None = None,
    ) -> None:
        """A canary was written; `states`/`metrics` are each arm's REST state and streaming
        metrics read just before the write, journalled with the canary's outcome."""
        self._pending[canary.canary_id] = _Pending(
            canary, canary.written_at + self.deadline_s, states, metrics or {}
        )
        for arm in self.arms:
            self.counts[arm].written += 1

    def record_states(self, canary_id: str, states: dict[str, ConnectorState | None]) -> None:
        """REST states arrive from a worker thread a little after the write."""
        entry = self._pending.get(canary_id)
        if entry is not None:
            entry.states.update(states)

    def sighted(self, sighting: Sighting) -> None:
        entry = self._pending.get(sighting.canary_id)
        if entry is not None and sighting.arm not in entry.seen:
            entry.seen[sighting.arm] = sighting.seen_at
            self._journal(entry, sighting.arm, "delivered", sighting.seen_at)
            self._delivered(sighting.arm, entry, sighting.seen_at)
            if len(entry.seen) == len(self.arms):
                del self._pending[sighting.canary_id]  # settled on every arm
            return
        entry = self._overdue.get(sighting.canary_id)
        if entry is not None and sighting.arm not in entry.seen:
            entry.seen[sighting.arm] = sighting.seen_at
            self.counts[sighting.arm].missing -= 1
            self._journal(entry, sighting.arm, "late", sighting.seen_at)
            self._delivered(sighting.arm, entry, sighting.seen_at)
            if len(entry.seen) == len(self.arms):
                del self._overdue[sighting.canary_id]

    def tick(self, now: float) -> None:
        """Settle every canary whose deadline has passed."""
        due = [cid for cid, p in self._pending.items() if p.deadline_at <= now]
        for canary_id in sorted(due, key=lambda cid: self._pending[cid].deadline_at):
            entry = self._pending.pop(canary_id)
            failed = [arm for arm in self.arms if arm not in entry.seen]
            for arm in failed:
                self._journal(entry, arm, "missing", None)
                state = entry.states.get(arm)
                running = state is not None and state.connector == state.task == RUNNING
                self._report(
                    self.detectors[arm].overdue(canary_id, entry.canary.written_at, running, now)
                )
            if failed:
                self._overdue[canary_id] = entry
                delivered = [arm for arm in self.arms if arm in entry.seen]
                if delivered:
                    for arm in failed:
                        self._on_solo(SoloFailure(canary_id, arm, delivered, now))

    # -- state --------------------------------------------------------------------------
    @property
    def unresolved(self) -> int:
        return len(self._pending)

    @property
    def next_deadline(self) -> float | None:
        return min((p.deadline_at for p in self._pending.values()), default=None)

    def open_episodes(self) -> list[Episode]:
        return [d.episode for d in self.detectors.values() if d.episode is not None]

    # -- internals ----------------------------------------------------------------------
    def _delivered(self, arm: str, entry: _Pending, seen_at: float) -> None:
        self._report(self.detectors[arm].delivered(entry.canary.written_at, seen_at))

    def _report(self, change: Change) -> None:
        if change.opened is not None:
            self._on_open(change.opened)
        if change.closed is not None:
            self._on_close(change.closed)

    def _journal(self, entry: _Pending, arm: str, outcome: str, seen_at: float | None) -> None:
        counts = self.counts[arm]
        latency = None if seen_at is None else round((seen_at - entry.canary.written_at) * 1000, 1)
        if outcome == "delivered":
            counts.delivered += 1
        elif outcome == "late":
            counts.late += 1
        else:
            counts.missing += 1
        if latency is not None:
            counts.latencies_ms.append(latency)
        state = entry.states.get(arm)
        record = {
            "canary_id": entry.canary.canary_id,
            "seq": entry.canary.seq,
            "arm": arm,
            "written_at": utc_iso(entry.canary.written_at),
            "seen_at": utc_iso(seen_at),
            "latency_ms": latency,
            "outcome": outcome,
            "connector_state": state.connector if state else None,
            "task_state": state.task if state else None,
        }
        if state is not None and state.error:
            record["rest_error"] = state.error
        metrics = entry.metrics.get(arm)
        if metrics is not None:
            record["metrics"] = metrics.as_record()
        self.checks.write(record)
