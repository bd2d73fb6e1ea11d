"""Running a cdclab command as a child and measuring it: wall time, CPU, peak RSS.

CPU and RSS of the command's own process come from /proc while it runs (its ansible and
JVM children are not the orchestrator); the peaks of its direct children are kept beside
it, for commands that split their work across processes (the report's drawing process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cdclab.paths import PROJECT_ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSample:
    at: float
    cpu_s: float  # utime + stime of the process itself


@dataclass
class Measured:
    argv: list[str]
    rc: int
    wall_s: float
    stdout: str
    stderr: str
    peak_rss_mb: float  # VmHWM of the process itself
    samples: list[CpuSample] = field(default_factory=list)
    started_at: float = 0.0  # epoch seconds at spawn
    children_peak_rss_mb: float = 0.0  # sum of its direct children's VmHWM, as last seen

    def cpu_percent_between(self, start: float, end: float) -> float | None:
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2 or inside[-1].at <= inside[0].at:
            return None
        used = inside[-1].cpu_s - inside[0].cpu_s
        return 100.0 * used / (inside[-1].at - inside[0].at)


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run_measured(
    args: list[str],
    env: dict[str, str] | None = None,
    timeout=3600,
    cwd: Path = PROJECT_ROOT,
    sample_every: float = 0.5,
) -> Measured:
    argv = [INVOKE, *args]
    started = time.time()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[CpuSample] = []
    peak = [0.0]
    children: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            cpu = _cpu_seconds(child.pid)
            rss = _peak_rss_mb(child.pid)
            if cpu is not None:
                samples.append(CpuSample(time.time(), cpu))
            if rss is not None:
                peak[0] = max(peak[0], rss)
            for pid in _children(child.pid):
                children[pid] = max(children.get(pid, 0.0), _peak_rss_mb(pid) or 0.0)
            done.wait(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    return Measured(
        argv=args,
        rc=child.returncode,
        wall_s=time.time() - started,
        stdout=stdout,
        stderr=stderr,
        peak_rss_mb=round(peak[0], 1),
        children_peak_rss_mb=round(sum(children.values()), 1),
        started_at=started,
        samples=samples,
    )


def spread(values: list[float]) -> dict[str, float | int]:
    """median, min, max of repeated runs."""
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {
        "runs": n,
        "median": round(median, 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }
