"""The fault sweep, run as the real script in a real shell, the way sshd runs it
(`bash -c <script>`): it must reach its end, stop pending dead-man timers, resume paused
processes and exit 0. A sweep that matched its own command line killed itself (exit 143)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cdclab.core.faults import FaultSpec
from cdclab.faults.actions import (
    Endpoint,
    FaultAction,
    deadman_pidfile,
    sweep_deadman_script,
    sweep_script,
)
from tests.conftest import group_alive

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables"),
    reason="the whole sweep runs iptables in a network namespace of its own (root)",
)


def _arm_deadman(heal_dir: Path, delay: str = "60s") -> tuple[int, Path]:
    """A dead-man timer armed exactly as a fault arms it; returns its pid and marker file."""
    heal_dir.mkdir(parents=True, exist_ok=True)
    marker = heal_dir / "healed"
    heal = heal_dir / "f01.heal.sh"
    heal.write_text(f"#!/bin/sh\ntouch {marker}\n")
    action = FaultAction(
        fault_id="f01",
        run_id="r1",
        spec=FaultSpec.model_validate({"kind": "drop", "at": "1s", "for": delay}),
        host=Endpoint("connect", "127.0.0.1"),
        peer=Endpoint("db", "127.0.0.2"),
        scheduled_at=1.0,
        duration=float(delay.rstrip("s")),
    )
    done = subprocess.run(
        ["bash", "-c", action.deadman_command(str(heal), grace=0)],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(done.stdout.split()[0])
    assert Path(deadman_pidfile(str(heal))).read_text().strip() == str(pid)
    # Once arming returns, the pid is the timer under its mark, not a process between execs
    # (a sweep right after arming once found no command line and missed the timer).
    assert b"cdclab-deadman-f01" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return pid, marker


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("shell", ["bash", "sh"])  # sh: dash on Debian, the lab's hosts
def test_the_timer_sweep_reaches_its_end_in_a_shell_that_names_the_mark(tmp_path, shell):
    pid, marker = _arm_deadman(tmp_path / "faults")
    assert _alive(pid)
    # The script's own text contains the mark, as the old `pkill -f` did.
    done = subprocess.run(
        [shell, "-c", sweep_deadman_script(str(tmp_path / "faults")) + "\necho reached-the-end"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "reached-the-end" in done.stdout
    assert "dead-man timer: f01.deadman.pid" in done.stdout
    time.sleep(0.2)
    assert not _alive(pid)
    assert group_alive(pid) == []  # its sleep too: the whole group
    assert not list((tmp_path / "faults").glob("*.deadman.pid"))
    assert not marker.exists()  # stopped, not fired


def test_a_stale_pid_file_never_kills_an_unrelated_process(tmp_path):
    heal_dir = tmp_path / "faults"
    heal_dir.mkdir()
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (heal_dir / "f09.deadman.pid").write_text(f"{bystander.pid}\n")  # a reused pid
        done = subprocess.run(
            ["bash", "-c", sweep_deadman_script(str(heal_dir))], capture_output=True, text=True
        )
        assert done.returncode == 0 and done.stdout == ""
        assert bystander.poll() is None
        assert not (heal_dir / "f09.deadman.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_fired_timer_heals_and_removes_its_pid_file(tmp_path):
    pid, marker = _arm_deadman(tmp_path / "faults", delay="1s")
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    assert not list((tmp_path / "faults").glob("*.deadman.pid"))


@needs_root
def test_the_whole_sweep_resumes_a_paused_process_stops_timers_and_exits_0(tmp_path):
    heal_dir = tmp_path / "faults"
    timer, marker = _arm_deadman(heal_dir)
    worker = subprocess.Popen(["sleep", "120"])
    try:
        os.kill(worker.pid, signal.SIGSTOP)
        time.sleep(0.1)
        assert _state(worker.pid) == "T"
        pidfile = tmp_path / "connect.pid"
        pidfile.write_text(f"{worker.pid}\n")
        script = sweep_script(str(heal_dir), [str(pidfile), str(tmp_path / "absent.pid")])
        # A network namespace of its own: the sweep's iptables and tc touch nothing real.
        done = subprocess.run(
            ["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        assert "dead-man timer: f01.deadman.pid" in done.stdout
        time.sleep(0.2)
        assert not _alive(timer) and not marker.exists()
        assert _state(worker.pid) in ("S", "R")  # resumed
    finally:
        worker.kill()
        worker.wait()


@needs_root
def test_the_sweep_fails_loudly_when_a_tagged_rule_survives(tmp_path):
    # iptables that lists a rule it never deletes: the sweep must say so, not exit 0.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "iptables").write_text(
        "#!/bin/sh\necho '-A OUTPUT -m comment --comment cdclab:r:f1 -j DROP'\n"
    )
    (fake / "iptables").chmod(0o755)
    done = subprocess.run(
        ["unshare", "--net", "bash", "-c", sweep_script(str(tmp_path / "faults"))],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert done.returncode == 1
    assert "still there" in done.stderr
