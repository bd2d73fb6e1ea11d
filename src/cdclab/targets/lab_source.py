"""The lab's own MariaDB and Kafka as the source of containerised arms (`--target docker`
without external.*): a targets.sourced.Source like targets.external.ExternalSource, so the
docker target asks its source, never which source it has."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.core.spec import LoadSpec
from cdclab.lab.access import db_ca_file, mariadb_client_argv, ssh_to, writer_account
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import CDC_USER
from cdclab.lab.tls_evidence import collect_tls_evidence
from cdclab.load import LoadWriter
from cdclab.secrets import DB_CDC_PASSWORD, read_secret
from cdclab.ssh import SSHHost
from cdclab.targets.compose import CONTAINER_SECRETS_FILE, CONTAINER_TRUST
from cdclab.templating import render_connector_config
from cdclab.versions import load_versions


@dataclass
class LabSource:
    config: LabConfig

    @property
    def secret_env_names(self) -> list[str]:
        return []  # the lab's secrets are files, not env: references

    @property
    def db_host(self) -> str:
        return self.config.db.address

    @property
    def connector_class(self) -> str:
        return load_versions().debezium_connector_class

    def preflight(self) -> None:
        """The lab is checked by the target (it must match the running one)."""

    def describe(self) -> str:
        config = self.config
        return f"source: the lab's MariaDB {config.db.address} and Kafka {config.kafka_bootstrap}"

    def topic(self, topic_prefix: str) -> str:
        return f"{topic_prefix}.{self.config.database}.{self.config.canary_table}"

    def connector_config(
        self, name: str, server_id: int, topic_prefix: str, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        config = self.config
        return render_connector_config(
            name=name,
            connector_class=self.connector_class,
            db_host=config.db.address,
            db_port=config.db_port,
            db_user=CDC_USER,
            secrets_file=CONTAINER_SECRETS_FILE,
            server_id=server_id,
            topic_prefix=topic_prefix,
            database=config.database,
            table=config.canary_table,
            bootstrap_servers=config.kafka_bootstrap,
            trust=CONTAINER_TRUST,
            overrides=overrides,
        )

    def deploy_secrets(self) -> dict[str, str]:
        return {"db": read_secret(DB_CDC_PASSWORD)}

    def deploy_vars(self, files: dict[str, Path | str]) -> dict[str, Any]:
        return {
            "cdclab_kafka_bootstrap": self.config.kafka_bootstrap,
            "cdclab_db_password_file": str(files["db"]),
            "cdclab_db_ca_file": str(db_ca_file()),
            "cdclab_kafka_properties": {},  # the lab's PLAINTEXT listener
            "cdclab_kafka_ca_file": "",
            "cdclab_kafka_password_file": "",
        }

    def db_peer(self, ssh: SSHHost, where: str) -> str:
        return self.config.db.address

    def writer(self) -> CanaryWriter:
        account = writer_account(self.config, connect_timeout=3.0)
        return CanaryWriter(account, self.config.canary_table)

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter:
        account = writer_account(self.config, connect_timeout=3.0)
        return LoadWriter(account, self.config.load_table, load, on_error=on_error)

    def watcher(self, topics: dict[str, str]) -> CanaryWatcher:
        return CanaryWatcher(self.config.kafka_bootstrap, topics)

    def db_version(self) -> str | None:
        with ssh_to(self.config.db) as ssh:
            version = ssh.run([*mariadb_client_argv(), "SELECT VERSION()"])
        return version.stdout.strip() if version.ok else None

    def tls(self, worker_pids: dict[int, str]) -> dict[str, Any]:
        """Negotiated TLS per arm, as the lab's server saw each container's connections."""
        evidence = collect_tls_evidence(self.config, worker_pids=worker_pids)
        return {name: tls.model_dump() for name, tls in evidence.items()}
