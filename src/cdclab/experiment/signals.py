"""Ctrl-C and SIGTERM during a clock: stop it cleanly, so the report is still written."""

from __future__ import annotations

import signal
import threading

from cdclab.progress import console


class StopOnSignals:
    """SIGINT/SIGTERM during the clock stop it cleanly; a second SIGINT aborts the drain."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        console.print(
            f"[yellow]{signal.Signals(signum).name}: stopping, writing the report…[/yellow]"
        )
        self.stop.set()

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
