"""Append-only JSON-lines journals, flushed per line: a run killed at any moment keeps every
line it wrote. Readers tolerate a torn last line (a kill in the middle of a write)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_iso(epoch: float | None) -> str | None:
    """Epoch seconds -> '2026-11-25T03:04:05.123Z' (UTC, milliseconds)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Journal:
    """One JSONL file opened for append. Thread-safe; each line is flushed to the kernel
    before write() returns, so SIGKILL of this process loses nothing already written."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: even two writers could not interleave inside a line.
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (long-lived)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def sync(self) -> None:
        """fsync: survive a machine crash too (called at phase ends, not per line)."""
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record; a torn final line is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return  # torn by a kill mid-write
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue
