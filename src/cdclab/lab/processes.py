"""The lab's processes, known by their pid files, and only while the pid is really theirs.

A pid file outlives its process (a crash, a reboot, a lab.down that keeps data) and pids
wrap (32768 by default): a busy machine hands the old pid to another process within the
hour. A process is the pid file's only if it runs and started when the file was written
(start-stop-daemon writes it as it starts the process); otherwise cdclab would neither
start the real one nor should it signal the stranger. The lab_process role applies the same
rule in shell (roles/lab_process/files/ours.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

# Between the process's start and its pid file's write: well under a second; a loaded
# machine may take a few. A reused pid started after its predecessor died, far later.
START_TOLERANCE_SECONDS = 10.0


def pidfile_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (the state) on; the command name may contain spaces."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting for a parent to reap it)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("/proc/stat has no btime")


def _started(fields: list[str]) -> float:
    """A process's start from its stat fields, seconds since the epoch (to a clock tick)."""
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def pidfile_process(path: Path) -> int | None:
    """The running process the pid file names, or None if it has none any more."""
    pid = pidfile_pid(path)
    fields = None if pid is None else _stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None
    try:
        written = path.stat().st_mtime
    except OSError:
        return None
    return pid if abs(_started(fields) - written) <= START_TOLERANCE_SECONDS else None
