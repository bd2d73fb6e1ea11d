"""Append-only JSON-lines journals, flushed per line: a run killed at any moment keeps every
line it wrote.

Reading is strict: a torn *last* line (a kill in the middle of a write) is skipped with a
warning; any other line that is not a JSON object is an error naming the file and line. A
journal reopened after a torn line (a resumed watch) starts on a new line and marks the spot,
so the torn line stays recognisable and no two records merge.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdclab.errors import CdclabError

RESUMED_KEY = "_journal"  # the marker line written after a torn line when a journal reopens


class JournalError(CdclabError):
    """A journal line in the middle of a file is not a record: it was edited or damaged."""


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
        torn = _ends_torn(path)
        # O_APPEND: even two writers could not interleave inside a line.
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (long-lived)
        self._lock = threading.Lock()
        if torn:
            self._file.write("\n" + json.dumps({RESUMED_KEY: "resumed after a torn line"}) + "\n")
            self._file.flush()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def _ends_torn(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def numbered_records(
    path: Path, warnings: list[str] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every complete record; see the module's rules."""
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().split("\n")
    # The text after the last newline is the last line ('' when the file ends cleanly).
    last = len(lines)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _decode(line)
        if isinstance(record, dict) and RESUMED_KEY not in record:
            yield number, record
            continue
        if isinstance(record, dict):
            continue  # the resume marker itself
        follows = lines[number] if number < last else ""
        if number == last or RESUMED_KEY in (_decode(follows) or {}):
            if warnings is not None:
                warnings.append(f"{path}: line {number} is torn (a write cut short); skipped")
            continue
        raise JournalError(
            f"{path}: line {number} is not a JSON record ({line[:60]!r}…); "
            "the journal was edited or damaged. Remove or repair that line and try again."
        )


def read_journal(path: Path, warnings: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every complete record, in order."""
    for _, record in numbered_records(path, warnings):
        yield record


def _decode(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
