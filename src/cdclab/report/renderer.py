"""The process that draws the report's plots.

The report draws its two PNGs in a second Python started before the journals are read:
importing matplotlib and drawing take about as long as reading and summarising two hours
of 1 s canaries, so the two overlap instead of adding up. This module imports nothing
heavy, so the drawing process can start before the report process loads its own models.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from cdclab.errors import CdclabError

if TYPE_CHECKING:
    from cdclab.report.figures import PlotData

DRAW_TIMEOUT_S = 300
# A process that lives a second and frees nothing: the cyclic collector only costs it time.
DRAWING_PROCESS = "import gc; gc.disable(); from cdclab.report.plots import main; main()"


class PlotRenderer:
    """cdclab.report.plots in a Python of its own, started at once so that it imports
    matplotlib while this process reads the journals; start() hands it the data, finish() waits
    for both files. A fresh interpreter, not a fork: the report is also written at the end
    of a run, whose threads a fork would copy mid-lock. A context manager, so that an error
    ends the process."""

    def __init__(self) -> None:
        source = str(Path(__file__).resolve().parents[2])  # where this cdclab lives
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (source, os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-c", DRAWING_PROCESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._payload: Path | None = None

    def start(self, data: PlotData, timeline: Path, latency: Path) -> None:
        """Hand the data over and return at once: the data goes through a file, as a pipe
        would block this process until the other has finished importing matplotlib."""
        handle, name = tempfile.mkstemp(prefix="cdclab-plots-", suffix=".pickle")
        self._payload = Path(name)
        with os.fdopen(handle, "wb") as out:
            pickle.dump((data, str(timeline), str(latency)), out)
        assert self._process.stdin is not None
        self._process.stdin.write(name.encode() + b"\n")
        self._process.stdin.flush()  # finish() closes it, through communicate

    def finish(self) -> None:
        """Wait for both files; a failure names what the drawing process said."""
        # communicate, not wait-then-read: a chatty child would fill the stderr pipe and
        # block on it while this process waited for it to exit.
        _, err = self._process.communicate(timeout=DRAW_TIMEOUT_S)
        if self._process.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-5:]
            raise CdclabError(
                "drawing the report's plots failed (the rest of the report is written): "
                + " / ".join(tail)
            )

    def __enter__(self) -> PlotRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stderr):
            if stream:
                stream.close()
        if self._payload:
            self._payload.unlink(missing_ok=True)
