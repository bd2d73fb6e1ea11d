"""The silent-failure detector: REST says RUNNING while canaries go overdue.

One detector per arm, fed in time order with "overdue" (a canary passed its deadline
undelivered) and "delivered" (any canary of this arm arrived). Shared by the experiment
engine, `invoke report` (replaying checks.jsonl) and the watchdog.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Episode:
    arm: str
    start: float  # written_at of the first overdue canary of the streak (epoch s)
    detected_at: float  # when the misses-th overdue canary was observed
    end: float | None = None  # first delivery after it, None while open
    canaries: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start


class SilentFailureDetector:
    def __init__(self, arm: str, misses: int):
        self.arm = arm
        self.misses = misses
        self._streak: list[tuple[str, float]] = []
        self.episode: Episode | None = None

    def overdue(
        self, canary_id: str, written_at: float, running: bool, now: float
    ) -> Episode | None:
        """A canary passed its deadline. Returns the episode if this one opened it."""
        if self.episode is not None:
            self.episode.canaries.append(canary_id)
            return None
        if not running:
            # A connector that says FAILED/PAUSED is a loud failure, not a silent one.
            self._streak.clear()
            return None
        self._streak.append((canary_id, written_at))
        if len(self._streak) < self.misses:
            return None
        self.episode = Episode(
            arm=self.arm,
            start=self._streak[0][1],
            detected_at=now,
            canaries=[cid for cid, _ in self._streak],
        )
        self._streak.clear()
        return self.episode

    def delivered(self, now: float) -> Episode | None:
        """A canary arrived on this arm. Returns the episode if this closed it."""
        self._streak.clear()
        if self.episode is None:
            return None
        closed, self.episode = self.episode, None
        closed.end = now
        return closed
