"""How the orchestrator reaches a running lab: SSH to its hosts, its config, its secrets."""

from __future__ import annotations

from cdclab.canary import DbAccount
from cdclab.errors import LabNotUpError
from cdclab.lab import config as lab_config
from cdclab.lab.config import Host, LabConfig
from cdclab.lab.extravars import WRITER_USER
from cdclab.paths import state_dir
from cdclab.secrets import DB_WRITER_PASSWORD, read_secret
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


def kafka_ca_file():
    """The CA of the broker's SASL_SSL listener (kafka_kraft makes its own)."""
    return state_dir() / "kafka" / "tls" / "ca.pem"


def writer_account(config: LabConfig, connect_timeout: float = 5.0) -> DbAccount:
    """The least-privilege writer (canaries, write load), over verified TLS."""
    return DbAccount(
        host=config.db.address,
        port=config.db_port,
        user=WRITER_USER,
        password=read_secret(DB_WRITER_PASSWORD),
        ca_file=db_ca_file(),
        database=config.database,
        connect_timeout=connect_timeout,
    )


def mariadb_client_argv() -> list[str]:
    """The root client on the db host (unix socket auth: no password anywhere)."""
    return ["mariadb", f"--defaults-file={state_dir() / 'db' / 'my.cnf'}", "-N", "-B", "-e"]
