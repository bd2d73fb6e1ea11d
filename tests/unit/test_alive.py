"""alive(): a pid file's process counts as running only while it really runs."""

from __future__ import annotations

import os
import subprocess
import time

from cdclab.lab.processes import alive


def test_a_running_process_is_alive():
    assert alive(os.getpid())


def test_a_zombie_is_not_alive_and_a_reaped_process_neither():
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    # Exited but not yet waited for: a zombie, whose pid still exists.
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child.pid}"):
        if not alive(child.pid):
            break
        time.sleep(0.05)
    assert os.path.exists(f"/proc/{child.pid}")
    assert not alive(child.pid)
    child.wait()
    assert not alive(child.pid)
