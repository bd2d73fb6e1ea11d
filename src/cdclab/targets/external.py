"""The user's own database and Kafka (`external.*`), as every container target reaches them.

The arms run as containers (on an EC2 host, or on the lab's engine with `--target docker`);
what they capture is the user's: the canaries are written to that database and read from
that Kafka by this machine, the connectors are rendered for it, and its passwords are read
from their references (env:, secretsmanager:, ssm:) only at the moment they are needed.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import boto3

from cdclab.aws.secrets import kafka_client, resolve_secret
from cdclab.aws.settings import AwsSettings, aws_session
from cdclab.canary import CanaryWatcher, CanaryWriter, DbAccount
from cdclab.core.kafka_security import WORKER_PREFIXES, KafkaSecurity, prefixed
from cdclab.core.spec import ExternalSpec, LoadSpec
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.load import LoadWriter
from cdclab.reachability import check_canary_table, check_kafka
from cdclab.ssh import SSHHost
from cdclab.targets.compose import CONTAINER_KAFKA_CA, CONTAINER_SECRETS_FILE, CONTAINER_TRUST
from cdclab.templating import render_connector_config


def needs_aws(external: ExternalSpec) -> bool:
    """Whether reading this source needs AWS credentials (a secret in AWS, MSK IAM)."""
    references = (external.db_password_from, external.writer_password_from)
    stored = [r for r in (*references, external.kafka_password_from) if r]
    return (
        any(r.split(":", 1)[0] not in ("env", "file") for r in stored)
        or external.kafka_sasl_mechanism == "AWS_MSK_IAM"
    )


def resolve_from(ssh: SSHHost, name: str, where: str) -> str:
    """`name`'s address as the host behind `ssh` resolves it (private endpoints included):
    fault rules name an address, not a DNS name that could re-resolve mid-run."""
    done = ssh.run(f"getent ahostsv4 {shlex.quote(name)} | head -n 1")
    address = done.stdout.split()[0] if done.ok and done.stdout.split() else ""
    if not address:
        raise CdclabError(
            f"external.db_host: {where} cannot resolve {name!r}; check the name and that "
            f"{where} reaches it"
        )
    return address


def check_ca_files(external: ExternalSpec) -> None:
    """The CA bundles named in external.* exist here (they are copied to the containers)."""
    ca_file = Path(external.db_ca_file or "").expanduser()
    if not ca_file.is_file():
        raise InvalidInputError(
            f"external.db_ca_file: {ca_file} is not a file; give the CA bundle that signed "
            "the database's certificate (Aurora: RDS's global-bundle.pem)"
        )
    kafka_ca = external.kafka_ca_file
    if kafka_ca is not None and not Path(kafka_ca).expanduser().is_file():
        raise InvalidInputError(
            f"external.kafka_ca_file: {kafka_ca} is not a file; give the CA bundle (PEM) "
            "that signed the brokers' certificates, or leave it out for the system's"
        )


@dataclasses.dataclass
class ExternalSource:
    """One run's view of the user's database and Kafka."""

    external: ExternalSpec
    # For secrets in AWS and MSK IAM tokens: the caller's session, or one made from `aws`
    # the first time a reference or the mechanism needs it (env: and file: never do).
    session: boto3.session.Session | None = None
    aws: AwsSettings | None = None

    def _session(self) -> boto3.session.Session | None:
        if self.session is None and self.aws is not None and needs_aws(self.external):
            self.session = aws_session(self.aws)
        return self.session

    # -- before anything exists -----------------------------------------------------------
    def preflight(self) -> None:
        self.check_settings()
        self.check_reachable()

    @property
    def db_host(self) -> str:
        return self.external.db_host or ""

    @property
    def connector_class(self) -> str:
        return self.external.connector_class

    def describe(self) -> str:
        ext = self.external
        return (
            f"source: your database {ext.db_host}:{ext.db_port} ({ext.db_flavour}, as "
            f"{ext.db_user}) and Kafka {ext.kafka_bootstrap} ({ext.kafka_security})"
        )

    def check_settings(self) -> None:
        """The CA files and every secret (read, then dropped)."""
        check_ca_files(self.external)
        ext = self.external
        for reference in {ext.db_password_from, ext.writer_password_from, ext.kafka_password_from}:
            if reference:
                resolve_secret(reference, self._session())

    def check_reachable(self) -> None:
        """Canaries are written and their topics read from this machine: the database and
        Kafka must answer here before anything exists."""
        check_canary_table(self.writer())
        check_kafka(self.external.kafka_bootstrap or "", self.kafka_client())

    @property
    def secret_env_names(self) -> list[str]:
        """Environment variables the spec's env: references name: kept from playbooks."""
        ext = self.external
        references = (ext.db_password_from, ext.writer_password_from, ext.kafka_password_from)
        return [r.split(":", 1)[1] for r in references if r and r.startswith("env:")]

    def deploy_secrets(self) -> dict[str, str]:
        """The containers' passwords (the CDC user's, the Kafka SCRAM user's), read now."""
        values = {"db": resolve_secret(self.external.db_password_from or "", self._session())}
        if self.external.kafka_password_from:
            values["kafka"] = resolve_secret(self.external.kafka_password_from, self._session())
        return values

    def deploy_vars(self, files: dict[str, Path | str]) -> dict[str, Any]:
        """The compose role's view of the source: the containers' Kafka, its security (the
        secrets as files the play copies and cdclab removes right after), the CA bundle."""
        return {
            "cdclab_kafka_bootstrap": self.external.kafka_bootstrap,
            "cdclab_db_password_file": str(files["db"]),
            # Absolute: Ansible reads a relative src inside the role.
            "cdclab_db_ca_file": str(Path(self.external.db_ca_file or "").expanduser().resolve()),
            "cdclab_kafka_properties": prefixed(self.kafka_java(), WORKER_PREFIXES),
            "cdclab_kafka_ca_file": self.kafka.ca_file or "",
            "cdclab_kafka_password_file": str(files.get("kafka") or ""),
        }

    def db_peer(self, ssh: SSHHost, where: str) -> str:
        """The database's address for the fault rules, as the arms' host resolves it."""
        return resolve_from(ssh, self.db_host, where)

    def tls(self, worker_pids: dict[int, str]) -> dict[str, Any]:
        """The server's view of the handshakes needs rights on the user's database that
        cdclab does not ask for; the client's (ssl-debug) is in the collected logs."""
        return {}

    # -- Kafka ------------------------------------------------------------------------------
    @property
    def kafka(self) -> KafkaSecurity:
        session = self._session()
        return self.external.kafka(session.region_name if session else None)

    def kafka_client(self) -> dict[str, Any]:
        """librdkafka's settings for this machine's canary consumer and admin."""
        return kafka_client(self.kafka, self.external.kafka_password_from, self._session())

    def kafka_java(self) -> dict[str, str]:
        """The Java clients' settings, as the containers see the secrets file and the CA."""
        ca_file = CONTAINER_KAFKA_CA if self.kafka.ca_file else None
        return self.kafka.java(secrets_file=CONTAINER_SECRETS_FILE, ca_file=ca_file)

    def kafka_record(self) -> dict[str, Any]:
        """The run's Kafka for later tasks (`invoke watch --run-id`): its bootstrap, its
        security and the password's reference, never the password."""
        return {
            "bootstrap": self.external.kafka_bootstrap,
            **dataclasses.asdict(self.kafka),
            "password_from": self.external.kafka_password_from,
        }

    # -- the connectors ----------------------------------------------------------------------
    def connector_config(
        self, name: str, server_id: int, topic_prefix: str, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        """One arm's connector, as a container sees the secrets and the truststore; the
        connector class by the source's flavour (MySqlConnector for Aurora MySQL)."""
        ext = self.external
        return render_connector_config(
            name=name,
            connector_class=self.connector_class,
            db_host=ext.db_host or "",
            db_port=ext.db_port,
            db_user=ext.db_user,
            secrets_file=CONTAINER_SECRETS_FILE,
            server_id=server_id,
            topic_prefix=topic_prefix,
            database=ext.database,
            table=ext.canary_table,
            bootstrap_servers=ext.kafka_bootstrap or "",
            trust=CONTAINER_TRUST,
            kafka_client=self.kafka_java(),
            overrides=overrides,
        )

    def topic(self, topic_prefix: str) -> str:
        return f"{topic_prefix}.{self.external.database}.{self.external.canary_table}"

    # -- what the clock uses ----------------------------------------------------------------
    def account(self) -> DbAccount:
        ext = self.external
        reference = ext.writer_password_from or ext.db_password_from or ""
        return DbAccount(
            host=ext.db_host or "",
            port=ext.db_port,
            user=ext.writer_user or ext.db_user,
            password=resolve_secret(reference, self._session()),
            ca_file=Path(ext.db_ca_file or "").expanduser(),
            database=ext.database,
            connect_timeout=3.0,
        )

    def writer(self) -> CanaryWriter:
        return CanaryWriter(self.account(), self.external.canary_table)

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter:
        return LoadWriter(self.account(), "write_load", load, on_error=on_error)

    def watcher(self, topics: dict[str, str]) -> CanaryWatcher:
        return CanaryWatcher(
            self.external.kafka_bootstrap or "", topics, security=self.kafka_client()
        )

    def db_version(self) -> str | None:
        """The source's `SELECT VERSION()`, for the manifest (a fact, not a precondition)."""
        writer = self.writer()
        try:
            return writer.query_one("SELECT VERSION()")[0]
        except Exception:
            return None
        finally:
            writer.close()
