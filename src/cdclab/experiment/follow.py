"""A run whose clock runs elsewhere (on the EC2 instance), followed from its journals.

The journals a run writes (checks, events, faults) are read as they grow; this prints what
the local run's progress shows: per arm, canaries delivered, late and missing, open silent
failures, and each fault and episode as it happens.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

from cdclab.progress import console

NOTABLE = {
    "fault-applied": "fault {fault_id} applied: {label}",
    "fault-healed": "fault {fault_id} healed ({healed_by})",
    "silent_failure_open": "[red]{arm}: silent failure[/red] (REST says {connector_state})",
    "silent_failure_close": "{arm}: delivering again",
    "deadline_learned": "deadline {deadline_s}s: {rule}",
    "dump": "{arm}: thread dump ({trigger})",
    "run_end": "run ended: {status}",
}


@dataclass
class FollowedRun:
    """What the journals said so far; `line()` takes each new journal line."""

    every_s: float = 15.0
    outcomes: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    open_arms: set[str] = field(default_factory=set)
    _last: float = 0.0

    def line(self, journal: str, text: str) -> None:
        try:
            record = json.loads(text)
        except ValueError:
            return  # a line cut by a crash; the report says what the journal holds
        if journal == "checks.jsonl":
            self.outcomes[record["arm"]][record["canary_id"]] = record["outcome"]
        else:
            self._notable(record)
        if time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            console.print(self.summary())

    def _notable(self, record: dict) -> None:
        kind = record.get("event", "")
        if kind == "silent_failure_open":
            self.open_arms.add(record.get("arm", ""))
        if kind == "silent_failure_close":
            self.open_arms.discard(record.get("arm", ""))
        template = NOTABLE.get(kind)
        if template:
            try:
                console.print(template.format_map(defaultdict(str, record)))
            except (ValueError, KeyError):
                console.print(kind)

    def summary(self) -> str:
        parts = []
        for arm, outcomes in sorted(self.outcomes.items()):
            counts = defaultdict(int)
            for outcome in outcomes.values():
                counts[outcome] += 1
            parts.append(
                f"{arm}: {len(outcomes)} canaries, {counts['delivered']} delivered, "
                f"{counts['late']} late, {counts['missing']} missing"
            )
        silent = f"; silent: {', '.join(sorted(self.open_arms))}" if self.open_arms else ""
        return "; ".join(parts or ["no canary yet"]) + silent
