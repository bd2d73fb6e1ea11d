"""From a spec's faults to concrete actions on the lab's hosts, and the sweep of leftovers."""

from __future__ import annotations

from typing import Literal

from cdclab.errors import CdclabError
from cdclab.experiment.spec import ExperimentSpec
from cdclab.faults.actions import Endpoint, FaultAction, sweep_script
from cdclab.paths import state_dir
from cdclab.ssh import SSHHost


def process_pidfiles(process: str, arms: list[str]) -> tuple[str, list[str]]:
    """('connect' | 'db', pidfiles) of a kill/pause target."""
    root = state_dir()
    if process == "broker":
        return "connect", [str(root / "kafka" / "run" / "kafka.pid")]
    if process == "db":
        return "db", [str(root / "db" / "run" / "mariadbd.supervised.pid")]
    if process == "workers":
        return "connect", [str(root / "connect" / a / "run" / "connect.pid") for a in arms]
    if process.startswith("worker:"):
        return "connect", [str(root / "connect" / process.split(":", 1)[1] / "run" / "connect.pid")]
    raise ValueError(f"process {process!r}: use broker, db, workers or worker:<arm>")


def plan_faults(
    spec: ExperimentSpec,
    addresses: dict[str, str],
    run_id: str,
    *,
    deadman: Literal["detached", "systemd"] = "detached",
) -> list[FaultAction]:
    """Concrete actions on the target's hosts (host name → address: connect, db)."""
    hosts = {name: Endpoint(name, address) for name, address in addresses.items()}
    arms = list(spec.resolved_arms())
    actions = []
    for fault in spec.all_faults():
        for start, length in fault.occurrences():
            index = len(actions) + 1
            host, pidfiles, peer = fault.host, [], hosts[fault.peer]
            if fault.process:
                host, pidfiles = process_pidfiles(fault.process, arms)
                peer = None
            actions.append(
                FaultAction(
                    fault_id=f"f{index:02d}",
                    run_id=run_id,
                    spec=fault,
                    host=hosts[host],
                    peer=peer,
                    scheduled_at=start,
                    duration=length,
                    pidfiles=pidfiles,
                    deadman=deadman,
                )
            )
    return actions


def all_pidfiles(arms: list[str]) -> list[str]:
    return [p for proc in ("broker", "db", "workers") for p in process_pidfiles(proc, arms)[1]]


def sweep_host(ssh: SSHHost, heal_dir: str, pidfiles: list[str]) -> list[str]:
    """Remove every cdclab fault on one host; return what was there (for the warning).

    A paused process left by a crashed run is resumed too (SIGCONT is harmless otherwise).
    """
    done = ssh.run(sweep_script(heal_dir, pidfiles))
    if not done.ok:
        raise CdclabError(
            f"the fault sweep on {ssh.address} did not finish (exit {done.rc}): "
            f"{done.stderr.strip() or 'no message'}. Run `invoke fault.clear` again, or list "
            "the host's rules with `iptables -S | grep cdclab:`."
        )
    return [line for line in done.stdout.splitlines() if line.strip()]
