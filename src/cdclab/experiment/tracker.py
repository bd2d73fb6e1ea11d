"""Canary bookkeeping: which arm saw which canary when, and the outcome of each.

Outcomes are journalled as soon as they are known: `delivered` on arrival within the
deadline; `missing` when the deadline passes; `late` (a second line for the same canary and
arm, which supersedes the first) if it arrives after all. Readers keep the last line per
(canary_id, arm). So checks.jsonl is complete at any instant a run may be killed.

Every outcome comes from `outcomes.outcome_of` on the journalled timestamps, and events are
taken in time order: before an arrival is counted, every deadline that fell before it is
settled, so an arrival processed late (a slow REST poll) is `late`, never `delivered`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cdclab.canary import Canary, Sighting
from cdclab.connect_rest import ConnectorState
from cdclab.core.detector import Change, Episode, SilentFailureDetector
from cdclab.core.journal import Journal, utc_iso
from cdclab.core.outcomes import Outcome, epoch_ms, is_overdue, latency_ms, outcome_of
from cdclab.core.witness import witness
from cdclab.metrics import StreamingMetrics

# A canary missing for this long is forgotten (a late arrival after it is not journalled),
# so a week-long watch keeps bounded memory.
LATE_WINDOW_S = 3600.0
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
    written_ms: int  # as journalled
    states: dict[str, ConnectorState | None]
    metrics: dict[str, StreamingMetrics] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # arm -> arrival, ms as journalled

    def deadline_at(self, deadline_s: float) -> float:
        return self.written_ms / 1000 + deadline_s


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
        on_delivered: Callable[[str, str, float], None] = lambda arm, canary_id, ms: None,
        late_window_s: float = LATE_WINDOW_S,
        interval_s: float = 5.0,
    ):
        self.arms = arms
        self.deadline_s = deadline_s
        self.late_window_s = late_window_s
        self.checks = checks
        self.detectors = {arm: SilentFailureDetector(arm, misses) for arm in arms}
        self.counts = {arm: ArmCounts() for arm in arms}
        self._pending: dict[str, _Pending] = {}  # deadline not yet reached
        self._overdue: dict[str, _Pending] = {}  # missing on some arm: may still come late
        self._on_open = on_episode_open
        self._on_close = on_episode_close
        self._on_solo = on_solo_failure
        self._on_delivered = on_delivered  # (arm, canary_id, latency ms): on time only
        self.interval_s = interval_s
        self._latest_metrics: dict[str, StreamingMetrics] = {}  # read before the last write

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
            canary, epoch_ms(canary.written_at), states, metrics or {}
        )
        self._latest_metrics.update(metrics or {})
        for arm in self.arms:
            self.counts[arm].written += 1

    def sighted(self, sighting: Sighting) -> None:
        seen_ms = epoch_ms(sighting.seen_at)
        # Deadlines that fell before this arrival come first, whenever it is processed.
        self._settle(seen_ms, sighting.seen_at)
        arm = sighting.arm
        entry = self._pending.get(sighting.canary_id)
        if entry is not None and arm not in entry.seen:
            self._arrived(entry, arm, seen_ms)
            if len(entry.seen) == len(self.arms):
                del self._pending[sighting.canary_id]  # settled on every arm
            return
        entry = self._overdue.get(sighting.canary_id)
        if entry is not None and arm not in entry.seen:
            self.counts[arm].missing -= 1  # superseded by the arrival's own line
            self._arrived(entry, arm, seen_ms)
            if len(entry.seen) == len(self.arms):
                del self._overdue[sighting.canary_id]

    def tick(self, now: float) -> None:
        """Settle every canary whose deadline has passed; forget long-missing ones."""
        now_ms = epoch_ms(now)
        self._settle(now_ms, now)
        horizon = now_ms - self.late_window_s * 1000
        for canary_id in [c for c, p in self._overdue.items() if p.written_ms < horizon]:
            del self._overdue[canary_id]

    # -- state --------------------------------------------------------------------------
    @property
    def unresolved(self) -> int:
        return len(self._pending)

    @property
    def awaiting_late(self) -> int:
        """Canaries missing on some arm that may still arrive late (bounded by the window)."""
        return len(self._overdue)

    def set_deadline(self, deadline_s: float) -> None:
        """A learned deadline: it applies to every canary not yet settled."""
        self.deadline_s = deadline_s

    @property
    def next_deadline(self) -> float | None:
        return min((p.deadline_at(self.deadline_s) for p in self._pending.values()), default=None)

    def open_episodes(self) -> list[Episode]:
        return [d.episode for d in self.detectors.values() if d.episode is not None]

    # -- internals ----------------------------------------------------------------------
    def _settle(self, now_ms: int, now: float) -> None:
        due = [
            p for p in self._pending.values() if is_overdue(p.written_ms, now_ms, self.deadline_s)
        ]
        for entry in sorted(due, key=lambda p: p.written_ms):
            canary_id = entry.canary.canary_id
            del self._pending[canary_id]
            failed = [arm for arm in self.arms if arm not in entry.seen]
            for arm in failed:
                self._journal(entry, arm, None)
                state = entry.states.get(arm)
                running = state is not None and state.connector == state.task == RUNNING
                self._report(
                    self.detectors[arm].overdue(canary_id, entry.written_ms / 1000, running, now)
                )
            if failed:
                self._overdue[canary_id] = entry
                delivered = [arm for arm in self.arms if arm in entry.seen]
                if delivered:
                    for arm in failed:
                        self._on_solo(SoloFailure(canary_id, arm, delivered, now))

    def _arrived(self, entry: _Pending, arm: str, seen_ms: int) -> None:
        entry.seen[arm] = seen_ms
        if self._journal(entry, arm, seen_ms) == "delivered":
            self._on_delivered(arm, entry.canary.canary_id, seen_ms - entry.written_ms)
        change = self.detectors[arm].delivered(entry.written_ms / 1000, seen_ms / 1000)
        self._report(change)

    def _report(self, change: Change) -> None:
        if change.opened is not None:
            latest = self._latest_metrics.get(change.opened.arm)
            record = latest.as_record() if latest is not None else None
            change.opened.witness = witness(record, self.interval_s)
            self._on_open(change.opened)
        if change.closed is not None:
            self._on_close(change.closed)

    def _journal(self, entry: _Pending, arm: str, seen_ms: int | None) -> Outcome:
        outcome = outcome_of(entry.written_ms, seen_ms, self.deadline_s)
        latency = latency_ms(entry.written_ms, seen_ms)
        counts = self.counts[arm]
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        if latency is not None:
            counts.latencies_ms.append(latency)
        state = entry.states.get(arm)
        record = {
            "canary_id": entry.canary.canary_id,
            "seq": entry.canary.seq,
            "arm": arm,
            "written_at": utc_iso(entry.written_ms / 1000),
            "seen_at": utc_iso(None if seen_ms is None else seen_ms / 1000),
            "latency_ms": latency,
            "outcome": outcome,
            "connector_state": state.connector if state else None,
            "task_state": state.task if state else None,
        }
        if entry.canary.commit_ms is not None:
            record["commit_ms"] = entry.canary.commit_ms
        if state is not None and state.error:
            record["rest_error"] = state.error
        metrics = entry.metrics.get(arm)
        if metrics is not None:
            record["metrics"] = metrics.as_record()
        self.checks.write(record)
        return outcome
