"""Live progress on the terminal: elapsed/remaining, per-arm outcomes, open episodes.

On a terminal, a rich table redrawn every second; elsewhere (CI, a pipe), one line every
30 seconds, so logs stay readable.
"""

from __future__ import annotations

import statistics
import time

from rich.live import Live
from rich.table import Table

from cdclab.core.durations import format_duration
from cdclab.progress import console


def _table(clock, end: float) -> Table:
    now = time.time()
    elapsed = now - clock.started_at
    remaining = max(0.0, end - now)
    title = (
        f"{clock.spec.name} · run {clock.run_id} · {format_duration(int(elapsed))} elapsed"
        f" · {format_duration(int(remaining))} left"
        f" · deadline {format_duration(clock.tracker.deadline_s)}"
        f"{' (learning)' if clock.learner is not None else ''}"
    )
    table = Table(title=title)
    for column in ("arm", "canaries", "delivered", "late", "missing", "p50 ms", "episode"):
        table.add_column(column)
    open_arms = {e.arm: e for e in clock.tracker.open_episodes()}
    for arm, counts in clock.tracker.counts.items():
        p50 = statistics.median(counts.latencies_ms[-500:]) if counts.latencies_ms else None
        episode = open_arms.get(arm)
        table.add_row(
            arm,
            str(counts.written),
            str(counts.delivered),
            str(counts.late),
            f"[red]{counts.missing}[/red]" if counts.missing else "0",
            f"{p50:.0f}" if p50 is not None else "-",
            f"[red]SILENT since {time.strftime('%H:%M:%S', time.gmtime(episode.start))}[/red]"
            if episode
            else "",
        )
    return table


class LiveProgress:
    def __init__(self):
        self.interactive = console.is_terminal
        self._live: Live | None = None
        self._last_line = 0.0

    def __enter__(self) -> LiveProgress:
        if self.interactive:
            self._live = Live(console=console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def __call__(self, clock, end: float) -> None:
        if self._live is not None:
            self._live.update(_table(clock, end))
        elif time.time() - self._last_line >= 30:
            self._last_line = time.time()
            parts = [
                f"{arm}: {c.written} written, {c.delivered} delivered, {c.late} late, "
                f"{c.missing} missing"
                for arm, c in clock.tracker.counts.items()
            ]
            episodes = len(clock.tracker.open_episodes())
            console.print(
                f"[{format_duration(int(time.time() - clock.started_at))}] "
                + "; ".join(parts)
                + (f"; {episodes} open episode(s)" if episodes else "")
            )
