"""The one rule that names a canary's outcome, used live (tracker) and after (report).

An outcome is a function of the journalled write time, arrival time and the deadline, in
whole milliseconds as the journal stores them, so a rebuilt report always agrees with the
live run: delivered when it arrived less than the deadline after it was written, late when
it arrived at or after the deadline, missing when it never arrived.
"""

from __future__ import annotations

from typing import Literal

from cdclab.core.journal import parse_iso, utc_iso

Outcome = Literal["delivered", "late", "missing"]
FAILED: tuple[Outcome, ...] = ("late", "missing")


def iso_ms(text: str | None) -> int | None:
    """A journalled instant ('2026-11-25T03:04:05.123Z') in whole epoch milliseconds."""
    epoch = parse_iso(text)
    return None if epoch is None else round(epoch * 1000)


def epoch_ms(epoch: float) -> int:
    """An instant as the journal keeps it: UTC, whole milliseconds."""
    return iso_ms(utc_iso(epoch))  # type: ignore[return-value]


def latency_ms(written_ms: int, seen_ms: int | None) -> int | None:
    return None if seen_ms is None else seen_ms - written_ms


def is_overdue(written_ms: int, now_ms: int, deadline_s: float) -> bool:
    """True from the deadline on: the deadline instant itself is already too late."""
    return now_ms - written_ms >= deadline_s * 1000


def outcome_of(written_ms: int, seen_ms: int | None, deadline_s: float) -> Outcome:
    if seen_ms is None:
        return "missing"
    return "late" if is_overdue(written_ms, seen_ms, deadline_s) else "delivered"
