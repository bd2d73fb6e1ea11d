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
    """(line number, record) of every complete record, streamed; see the module's rules.

    A line that is not a record is held until the next one tells what it is: torn if it
    ended the file unfinished, or if the resume marker follows it; damage otherwise."""
    if not path.exists():
        return
    whole = _whole_file(path)
    if whole is not None:
        yield from whole
        return
    suspect: tuple[int, str] | None = None
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        for number, line in enumerate(handle, start=1):
            record = _decode(line) if line.strip() else None
            if suspect is not None:
                if not _is_resume_marker(record):
                    raise _damaged(path, *suspect)
                _torn(path, suspect[0], warnings)
                suspect = None
            if isinstance(record, dict):
                if not _is_resume_marker(record):
                    yield number, record
            elif line.strip():
                suspect = (number, line)
    if suspect is not None:
        if suspect[1].endswith("\n"):  # a whole line, newline and all: not torn
            raise _damaged(path, *suspect)
        _torn(path, suspect[0], warnings)


WHOLE_FILE_BYTES = 64 * 2**20  # larger journals are streamed line by line (memory)


def _whole_file(path: Path) -> list[tuple[int, dict[str, Any]]] | None:
    """A journal with nothing to warn about, decoded in one call (a report reads tens of
    thousands of lines: a third of the per-line time); None for anything else, which the
    line-by-line reader then judges with its rules."""
    if path.stat().st_size > WHOLE_FILE_BYTES:
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.endswith("\n"):
        return None  # empty, or a torn last line
    lines = text.split("\n")[:-1]
    if not all(line.strip() for line in lines):
        return None
    try:
        records = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        return None
    if len(records) != len(lines) or not all(isinstance(r, dict) for r in records):
        return None  # e.g. two records on one line: the line reader names it
    return [(n, r) for n, r in enumerate(records, start=1) if not _is_resume_marker(r)]


def _is_resume_marker(record: Any) -> bool:
    return isinstance(record, dict) and RESUMED_KEY in record


def _torn(path: Path, number: int, warnings: list[str] | None) -> None:
    if warnings is not None:
        warnings.append(f"{path}: line {number} is torn (a write cut short); skipped")


def _damaged(path: Path, number: int, line: str) -> JournalError:
    return JournalError(
        f"{path}: line {number} is not a JSON record ({line.strip()[:60]!r}…); "
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
