"""A kill fault's heal, run as the real script in a real shell on real processes: it starts
the process again only once the one it killed is gone (a zombie counts as gone), and a
second heal does nothing. A 1 s kill of a Connect worker used to leave it dead for good:
the heal ran while the JVM was still exiting and start-stop-daemon saw it "running"."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from cdclab.core.faults import FaultSpec
from cdclab.faults.actions import Endpoint, FaultAction


def _kill_action(pidfile: Path) -> FaultAction:
    spec = FaultSpec.model_validate(
        {"kind": "kill", "at": "1s", "for": "1s", "process": "worker:tls13"}
    )
    return FaultAction(
        "f01", "r1", spec, Endpoint("connect", "127.0.0.1"), None, 1.0, 1.0, [str(pidfile)]
    )


def _start_script(pidfile: Path, starts: Path) -> None:
    """What lab.up writes: start a long-lived process, detached, with a pid file."""
    Path(f"{pidfile}.start").write_text(
        f"echo started >> {starts}\n"
        f"start-stop-daemon --start --background --make-pidfile --pidfile {pidfile} "
        "--startas /bin/sleep -- 300\n"
    )


def _sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


def _stop(pidfile: Path) -> None:
    _sh(f"start-stop-daemon --stop --quiet --pidfile {pidfile} --retry 5 || true")


def test_the_heal_waits_for_the_killed_process_then_starts_it_again(tmp_path):
    pidfile, starts = tmp_path / "w.pid", tmp_path / "starts"
    _start_script(pidfile, starts)
    # The victim takes 1.5 s to die, like a JVM tearing down a large heap.
    dying = subprocess.Popen(["sleep", "1.5"])
    pidfile.write_text(f"{dying.pid}\n")
    Path(f"{pidfile}.killed").write_text(f"{dying.pid}\n")
    action = _kill_action(pidfile)
    try:
        began = time.monotonic()
        healed = _sh(action.heal_script())
        assert healed.returncode == 0, healed.stderr
        assert time.monotonic() - began >= 1.0  # it waited for the victim to exit
        assert starts.read_text().count("started") == 1
        new_pid = int(pidfile.read_text())
        assert new_pid != dying.pid and Path(f"/proc/{new_pid}").exists()
        assert not Path(f"{pidfile}.killed").exists()
        # Idempotent: a second heal (the dead-man switch) leaves the new process alone.
        assert _sh(action.heal_script()).returncode == 0
        assert starts.read_text().count("started") == 1
        assert int(pidfile.read_text()) == new_pid
    finally:
        dying.wait()
        _stop(pidfile)


def test_a_zombie_victim_is_dead_and_its_pid_file_does_not_block_the_start(tmp_path):
    pidfile, starts = tmp_path / "w.pid", tmp_path / "starts"
    _start_script(pidfile, starts)
    victim = subprocess.Popen(["sleep", "300"])
    action = _kill_action(pidfile)
    pidfile.write_text(f"{victim.pid}\n")
    try:
        # The apply script itself sends the SIGKILL; nobody reaps the victim: a zombie.
        applied = _sh(action.apply_script())
        assert applied.returncode == 0, applied.stderr
        time.sleep(0.3)
        status = Path(f"/proc/{victim.pid}/status").read_text()
        assert "State:\tZ" in status
        assert _sh(action.heal_script()).returncode == 0
        assert starts.read_text().count("started") == 1
        assert int(pidfile.read_text()) != victim.pid
    finally:
        victim.wait()
        _stop(pidfile)
