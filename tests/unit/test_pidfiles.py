"""A pid file names its process only while the pid is still that process's.

Pids wrap (32768 by default) and a pid file outlives its process: after a lab.down or a
reboot, the old pid may belong to anything. Then lab.up must start the real process (not
believe it runs; a CI run lost a Connect worker this way) and lab.down must not signal the
stranger. Python (cdclab.lab.processes) and the lab_process role's shell check
(roles/lab_process/files/ours.sh) must agree; both are run here on real processes.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cdclab.lab import teardown
from cdclab.lab.processes import alive, pidfile_process
from cdclab.paths import ROLES_DIR

OURS_SH = ROLES_DIR / "lab_process" / "files" / "ours.sh"


@pytest.fixture
def sleeper():
    child = subprocess.Popen(["sleep", "300"])
    yield child
    child.kill()
    child.wait()


def _write(path: Path, pid: int, age_seconds: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return path


def _shell(path: Path) -> int:
    return subprocess.run(["sh", str(OURS_SH), str(path)], check=False).returncode


def test_a_process_started_with_its_pid_file_is_its_own(tmp_path, sleeper):
    path = _write(tmp_path / "x.pid", sleeper.pid)
    assert pidfile_process(path) == sleeper.pid
    assert _shell(path) == 0


def test_a_pid_reused_by_a_later_process_is_not_the_files(tmp_path, sleeper):
    # The file was written an hour before this process started: its pid was another's.
    path = _write(tmp_path / "x.pid", sleeper.pid, age_seconds=3600)
    assert pidfile_process(path) is None
    assert _shell(path) == 1


def test_missing_garbage_and_dead_pid_files(tmp_path):
    assert pidfile_process(tmp_path / "none.pid") is None
    assert _shell(tmp_path / "none.pid") == 3
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not a pid\n")
    assert pidfile_process(garbage) is None
    assert _shell(garbage) == 3
    done = subprocess.Popen(["true"])
    done.wait()
    dead = _write(tmp_path / "dead.pid", done.pid)
    assert pidfile_process(dead) is None
    assert _shell(dead) == 1


def test_a_zombie_is_not_running(tmp_path):
    child = subprocess.Popen(["true"])
    path = _write(tmp_path / "z.pid", child.pid)
    deadline = time.monotonic() + 10
    while alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Path(f"/proc/{child.pid}").exists()  # exited, not yet reaped
    assert pidfile_process(path) is None
    assert _shell(path) == 1
    child.wait()


def test_lab_down_spares_a_stranger_holding_a_stale_pid_and_forgets_the_file(
    tmp_path, monkeypatch, sleeper
):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    stale = _write(tmp_path / "connect" / "tls12" / "run" / "connect.pid", sleeper.pid, 3600)
    report = teardown.TeardownReport()
    teardown._stop_services_in_order(report, grace_seconds=1)
    assert alive(sleeper.pid)
    assert not stale.exists()
    assert report.removed == []


def test_lab_down_stops_the_real_service_and_forgets_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    service = subprocess.Popen(["sleep", "300"])
    path = _write(tmp_path / "kafka" / "run" / "kafka.pid", service.pid)
    report = teardown.TeardownReport()
    teardown._stop_services_in_order(report, grace_seconds=5)
    assert service.wait(timeout=10) is not None
    assert not path.exists()
    assert report.removed == ["1 service(s): kafka"]
