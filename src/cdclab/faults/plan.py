"""From a spec's faults to concrete actions on the lab's hosts, and the sweep of leftovers."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Literal

from cdclab.core.durations import format_duration
from cdclab.core.faults import SECOND_BROKER
from cdclab.core.spec import ExperimentSpec
from cdclab.errors import CdclabError
from cdclab.faults.actions import (
    DEADMAN_GRACE_S,
    DbCertificate,
    Endpoint,
    FaultAction,
    heal_iptables_by_tag,
    sweep_script,
)
from cdclab.lab.access import mariadb_client_argv, ssh_to
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import CDC_USER
from cdclab.paths import fault_heal_dir, state_dir, worker_pidfile
from cdclab.ssh import SSHHost


@dataclass(frozen=True)
class WorkerContainers:
    """The workers as containers: the docker command on the host and arm -> container."""

    cli: str
    names: dict[str, str]

    def named(self, process: str, arms: list[str]) -> list[str]:
        chosen = arms if process == "workers" else [process.split(":", 1)[1]]
        return [self.names[arm] for arm in chosen]


# Each broker process's directory in the lab's state (the kafka_kraft role's base dirs).
BROKER_DIRS = {"broker": "kafka", SECOND_BROKER: "kafka2"}


def process_pidfiles(process: str, arms: list[str]) -> tuple[str, list[str]]:
    """('connect' | 'db', pidfiles) of a kill/pause target."""
    root = state_dir()
    if process in BROKER_DIRS:
        return "connect", [str(root / BROKER_DIRS[process] / "run" / "kafka.pid")]
    if process == "db":
        return "db", [str(root / "db" / "run" / "mariadbd.supervised.pid")]
    if process == "workers":
        return "connect", [worker_pidfile(a) for a in arms]
    if process.startswith("worker:"):
        return "connect", [worker_pidfile(process.split(":", 1)[1])]
    raise ValueError(f"process {process!r}: use broker, broker2, db, workers or worker:<arm>")


def lab_certificate(address: str) -> DbCertificate:
    """The lab database's TLS directory, root client and CDC user (ca-rotation faults)."""
    return DbCertificate(
        tls_dir=str(state_dir() / "db" / "tls"),
        client=mariadb_client_argv(),
        address=address,
        cdc_user=CDC_USER,
    )


def plan_faults(
    spec: ExperimentSpec,
    addresses: dict[str, str],
    run_id: str,
    *,
    deadman: Literal["detached", "systemd"] = "detached",
    workers: WorkerContainers | None = None,
    spare_uid: int | None = None,
) -> list[FaultAction]:
    """Concrete actions on the target's hosts (host name → address: connect, db); with
    `workers`, kill and pause faults on workers act on those containers."""
    hosts = {name: Endpoint(name, address) for name, address in addresses.items()}
    arms = list(spec.resolved_arms())
    actions = []
    for fault in spec.all_faults():
        for start, length in fault.occurrences():
            index = len(actions) + 1
            host, pidfiles, peer, names = fault.host, [], hosts[fault.peer], []
            if fault.kind == "half-open":
                pidfiles = process_pidfiles("db", arms)[1]
            db = None
            if fault.kind == "ca-rotation":  # the database's own certificate: no peer
                db, peer = lab_certificate(addresses["db"]), None
            if fault.process:
                host, pidfiles = process_pidfiles(fault.process, arms)
                peer = None
                if workers and fault.process.startswith("worker"):
                    pidfiles, names = [], workers.named(fault.process, arms)
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
                    containers=names,
                    container_cli=workers.cli if workers else "docker",
                    deadman=deadman,
                    db=db,
                    spare_uid=spare_uid,
                )
            )
    return actions


def all_pidfiles(arms: list[str]) -> list[str]:
    processes = (*BROKER_DIRS, "db", "workers")
    return [p for proc in processes for p in process_pidfiles(proc, arms)[1]]


def sweep_host(
    ssh: SSHHost, heal_dir: str, pidfiles: list[str], workers: WorkerContainers | None = None
) -> list[str]:
    """Remove every cdclab fault on one host; return what was there (for the warning).

    A paused process left by a crashed run is resumed too (SIGCONT is harmless otherwise).
    """
    containers = list(workers.names.values()) if workers else []
    cli = workers.cli if workers else "docker"
    done = ssh.run(sweep_script(heal_dir, pidfiles, containers, cli))
    if not done.ok:
        raise CdclabError(
            f"the fault sweep on {ssh.address} did not finish (exit {done.rc}): "
            f"{done.stderr.strip() or 'no message'}. Run `invoke fault.clear` again, or list "
            "the host's rules with `iptables -S | grep cdclab:`."
        )
    return [line for line in done.stdout.splitlines() if line.strip()]


def lab_sweep(
    config: LabConfig, *, include_root: bool = False, workers: WorkerContainers | None = None
) -> dict[str, list[str]]:
    """Sweep every lab host (host -> what was removed); with include_root, the root
    namespace's tagged rules too; with workers, those containers on the connect host."""
    pidfiles = all_pidfiles([a.name for a in config.arms])
    removed: dict[str, list[str]] = {}
    for host in config.hosts:
        with ssh_to(host) as ssh:
            on_host = workers if host.name == "connect" else None
            removed[host.name] = sweep_host(ssh, str(fault_heal_dir()), pidfiles, on_host)
    if include_root:
        listed = subprocess.run(
            ["iptables", "-w", "-S"], capture_output=True, text=True, check=False
        ).stdout
        removed["root namespace"] = [f"rule: {r}" for r in listed.splitlines() if "cdclab:" in r]
        subprocess.run(["sh", "-c", heal_iptables_by_tag("cdclab:")], check=False)
    return removed


def describe_faults(actions: list[FaultAction]) -> list[str]:
    """--dry-run: each fault with its apply, heal and dead-man times."""
    if not actions:
        return ["faults: none scheduled"]
    return [
        f"fault {a.fault_id}: {a.label} at +{format_duration(a.scheduled_at)}"
        f" (healed at +{format_duration(a.scheduled_at + a.duration)}; dead-man switch on the "
        f"host at +{format_duration(a.scheduled_at + a.duration + DEADMAN_GRACE_S)})"
        for a in actions
    ]
