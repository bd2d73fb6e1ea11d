"""Take the lab down: every step is tried even if another fails (ducktape/Jepsen style).

Teardown is a sweep by name, not a replay of lab.up: it removes whatever carries the
cdclab- prefix, so it also cleans up after a crashed or half-finished lab.up.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cdclab.lab.docker_engine import remove_engine
from cdclab.lab.processes import alive, pidfile_process
from cdclab.paths import cache_dir, state_dir, worker_pidfile

PREFIX = "cdclab-"
# Which state directory the machine's lab belongs to: namespaces are machine-wide, state
# directories are not, and two of them must never drive one lab (their keys differ).
OWNER_FILE = Path("/run/cdclab/lab-owner")


def lab_owner() -> Path | None:
    try:
        return Path(OWNER_FILE.read_text().strip())
    except OSError:
        return None


def claim_lab(root: Path) -> None:
    OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(f"{root}\n")


# Runtime state removed by every lab.down; data (db, kafka, jars) only by --purge.
RUNTIME_ENTRIES = ("ssh", "run", "ansible-private", "lab.json")


@dataclass
class TeardownReport:
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.removed.append(what)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def lab_namespaces() -> list[str]:
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir():
        return []
    return sorted(p.name for p in netns_dir.iterdir() if p.name.startswith(PREFIX))


def lab_links() -> list[str]:
    out = _run(["ip", "-o", "link", "show"]).stdout
    names = []
    for line in out.splitlines():
        # "12: cdclab-db@if11: <BROADCAST,...": the name ends at '@' or ':'
        name = line.split(":", 2)[1].strip().split("@", 1)[0]
        if name.startswith(PREFIX):
            names.append(name)
    return names


def namespace_pids(namespace: str) -> list[int]:
    out = _run(["ip", "netns", "pids", namespace]).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def stop_pids(pids: list[int], grace_seconds: float = 30.0) -> list[int]:
    """SIGTERM, wait up to grace_seconds, then SIGKILL. Returns the pids that were killed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    killed = [p for p in pids if alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def _remove_root_iptables_rules(report: TeardownReport) -> None:
    """Rules in the root namespace tagged cdclab (namespaced rules die with their namespace):
    a run's leftovers, and the egress of the docker target's connect host (filter, nat)."""
    if shutil.which("iptables") is None:
        return
    for table in ("filter", "nat"):
        rules = _run(["iptables", "-w", "-t", table, "-S"]).stdout.splitlines()
        for rule in rules:
            if "cdclab" in rule and rule.startswith("-A "):
                # iptables -S quotes comments; the argv wants them bare
                argv = ["iptables", "-w", "-t", table, "-D", *shlex.split(rule)[1:]]
                done = _run(argv)
                if done.returncode == 0:
                    report.note(f"iptables rule ({table}): {rule}")
                else:
                    report.errors.append(f"could not remove iptables rule {rule!r}: {done.stderr}")


def _restore_ip_forward(report: TeardownReport) -> None:
    """The egress turned forwarding on: put back what it found."""
    saved = state_dir() / "run" / "ip_forward.before"
    if not saved.is_file():
        return
    before = saved.read_text().strip()
    if before in ("0", "1"):
        Path("/proc/sys/net/ipv4/ip_forward").write_text(before + "\n")
        report.note(f"net.ipv4.ip_forward restored to {before}")
    saved.unlink()


def stop_workers(arm_names: list[str], grace_seconds: float = 30.0) -> list[str]:
    """Stop the Connect workers of these arms (pid files); the arms that had one running.
    Their start scripts go too: the lab's proof expects a process for every one it finds."""
    stopped = []
    for name in arm_names:
        pid = pidfile_process(Path(worker_pidfile(name)))
        if pid:
            stop_pids([pid], grace_seconds)
            stopped.append(name)
        Path(worker_pidfile(name)).unlink(missing_ok=True)
        Path(worker_pidfile(name) + ".start").unlink(missing_ok=True)
    return stopped


def _stop_services_in_order(report: TeardownReport, grace_seconds: float) -> None:
    """Workers before the broker, the broker before the database.

    A Connect worker that loses its broker first waits out its timeouts before it exits;
    in this order each leaves cleanly and quickly.
    """
    root = state_dir()
    stages = (
        sorted(root.glob("connect/*/run/connect.pid")),
        [root / "kafka2" / "run" / "kafka.pid", root / "kafka" / "run" / "kafka.pid"],
        [root / "db" / "run" / "mariadbd.supervised.pid"],
    )
    for stage in stages:
        running = {p: pid for p in stage if (pid := pidfile_process(p))}
        if running:
            stop_pids(list(running.values()), grace_seconds)
            report.note(
                f"{len(running)} service(s): " + ", ".join(p.parent.parent.name for p in running)
            )
        # Stale once the process is gone: its pid will be another process's one day.
        for pidfile in stage:
            pidfile.unlink(missing_ok=True)


def teardown(*, purge: bool = False, grace_seconds: float = 30.0) -> TeardownReport:
    report = TeardownReport()
    # Containers first: they are the docker target's workers. The engine of the state
    # directory that drove the lab too, if another one did (its mounts outlive its processes).
    for state in dict.fromkeys([state_dir(), lab_owner() or state_dir()]):
        removed, errors = remove_engine(state)
        report.removed += [f"docker engine: {item}" for item in removed]
        report.errors += errors
    _stop_services_in_order(report, grace_seconds)
    for namespace in lab_namespaces():
        pids = namespace_pids(namespace)
        if pids:
            killed = stop_pids(pids, grace_seconds)
            report.note(
                f"{len(pids)} process(es) in {namespace}"
                + (f" ({len(killed)} needed SIGKILL)" if killed else "")
            )
        done = _run(["ip", "netns", "delete", namespace])
        if done.returncode == 0:
            report.note(f"namespace {namespace}")
        else:
            report.errors.append(f"could not delete namespace {namespace}: {done.stderr.strip()}")
    for link in lab_links():
        done = _run(["ip", "link", "delete", link])
        # A veth's root end disappears with its namespace; only report real failures.
        if done.returncode == 0:
            report.note(f"link {link}")
        elif link in lab_links():
            report.errors.append(f"could not delete link {link}: {done.stderr.strip()}")
    _remove_root_iptables_rules(report)
    _restore_ip_forward(report)
    OWNER_FILE.unlink(missing_ok=True)

    root = state_dir()
    targets = [root] if purge else [root / entry for entry in RUNTIME_ENTRIES]
    if purge:
        targets.append(cache_dir())
    for target in targets:
        if not target.exists():
            continue
        try:
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
            report.note(str(target))
        except OSError as exc:
            report.errors.append(f"could not remove {target}: {exc}")
    return report
