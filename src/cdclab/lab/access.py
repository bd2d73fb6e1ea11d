"""How the orchestrator reaches a running lab: SSH to its hosts, its config, its secrets."""

from __future__ import annotations

from cdclab.errors import LabNotUpError
from cdclab.lab import config as lab_config
from cdclab.lab.config import Host, LabConfig
from cdclab.paths import state_dir
from cdclab.ssh import SSHHost


def running_config() -> LabConfig:
    config = lab_config.load_saved()
    if config is None:
        raise LabNotUpError(
            f"no lab is up (no {lab_config.saved_config_path()}). Start it with `invoke lab.up`."
        )
    return config


def ssh_to(host: Host) -> SSHHost:
    ssh_dir = state_dir() / "ssh"
    return SSHHost(
        host.address, key_file=ssh_dir / "id_ed25519", known_hosts=ssh_dir / "known_hosts"
    )


def db_ca_file():
    return state_dir() / "db" / "tls" / "ca.pem"


def mariadb_client_argv() -> list[str]:
    """The root client on the db host (unix socket auth: no password anywhere)."""
    return ["mariadb", f"--defaults-file={state_dir() / 'db' / 'my.cnf'}", "-N", "-B", "-e"]


def worker_pidfile(arm_name: str) -> str:
    return str(state_dir() / "connect" / arm_name / "run" / "connect.pid")
