"""The silent-failure detector: REST says RUNNING while canaries go overdue.

One detector per arm. It is fed "overdue" (a canary passed its deadline undelivered) in
write order — deadlines fall in write order — and "delivered" (a canary of this arm
arrived, on time or late) in arrival order. Deliveries of later canaries often arrive
before the deadlines of earlier ones, so both are kept in write-time terms:

- a streak is a run of consecutive canaries (by write time) that failed while the
  arm's REST state said RUNNING; `misses` of them open an episode;
- the episode starts at the first failed canary's write time, is detected when the
  misses-th one passes its deadline, and ends at the first arrival after the last failed
  canary was written (delivery resumed). That arrival may precede the detection: a short
  outage is only known to have happened once its canaries are overdue.

Shared by the experiment engine, `invoke report` (replaying checks.jsonl) and the watchdog.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Episode:
    arm: str
    start: float  # write time of the first failed canary (epoch s)
    detected_at: float  # when the misses-th failed canary passed its deadline
    end: float | None = None  # first arrival after the last failed canary was written
    canaries: list[str] = field(default_factory=list)
    witness: str | None = None  # Debezium's own metric at the detection (core.witness)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class Change:
    opened: Episode | None = None
    closed: Episode | None = None


class SilentFailureDetector:
    def __init__(self, arm: str, misses: int):
        self.arm = arm
        self.misses = misses
        self.episode: Episode | None = None  # the open one
        self._streak: list[tuple[str, float]] = []
        self._delivered_written: list[float] = []  # write times of delivered canaries
        self._arrivals: list[float] = []  # arrival times, on time or late
        self._last_failed: float = float("-inf")
        self._last_closed: Episode | None = None

    def delivered(self, written_at: float, seen_at: float) -> Change:
        bisect.insort(self._delivered_written, written_at)
        bisect.insort(self._arrivals, seen_at)
        if self.episode is not None and seen_at > self._last_failed:
            return Change(closed=self._close(seen_at))
        return Change()

    def overdue(self, canary_id: str, written_at: float, running: bool, now: float) -> Change:
        self._prune(written_at)
        if self.episode is not None:
            self.episode.canaries.append(canary_id)
            self._last_failed = written_at
            return Change()
        closed = self._last_closed
        if (
            closed is not None
            and closed.end is not None
            and closed.start <= written_at < closed.end
        ):
            closed.canaries.append(canary_id)  # failed before delivery resumed: same outage
            return Change()
        if not running:
            # A connector that says FAILED/PAUSED is a loud failure, not a silent one.
            self._streak.clear()
            return Change()
        if self._streak and self._delivered_after(self._streak[-1][1], before=written_at):
            self._streak.clear()
        self._streak.append((canary_id, written_at))
        if len(self._streak) < self.misses:
            return Change()
        episode = Episode(
            self.arm,
            start=self._streak[0][1],
            detected_at=now,
            canaries=[cid for cid, _ in self._streak],
        )
        self._streak.clear()
        self._last_failed = written_at
        self.episode = episode
        resumed = self._first_arrival_after(written_at)
        if resumed is not None:
            return Change(opened=episode, closed=self._close(resumed))
        return Change(opened=episode)

    def _close(self, at: float) -> Episode:
        episode, self.episode = self.episode, None
        assert episode is not None
        episode.end = at
        self._last_closed = episode
        return episode

    def _delivered_after(self, after: float, *, before: float) -> bool:
        index = bisect.bisect_right(self._delivered_written, after)
        return index < len(self._delivered_written) and self._delivered_written[index] < before

    def _first_arrival_after(self, after: float) -> float | None:
        index = bisect.bisect_right(self._arrivals, after)
        return self._arrivals[index] if index < len(self._arrivals) else None

    def _prune(self, written_at: float) -> None:
        """Forget what can no longer matter: keeps memory flat over long runs."""
        floor = self._streak[0][1] if self._streak else written_at
        if self.episode is not None:
            floor = min(floor, self._last_failed)
        del self._delivered_written[: bisect.bisect_left(self._delivered_written, floor)]
        del self._arrivals[: bisect.bisect_left(self._arrivals, floor)]
