"""The AWS target: the original investigation's EC2 host, provisioned, deployed and driven over SSH.

One instance per run (or one kept from `aws.up` / `--keep`, named by `aws.run_id`) runs one
`quay.io/debezium/connect` container per arm against the user's database and Kafka.

Where things run, and what that does to the numbers:
- Canaries are written to the user's database and read from the user's Kafka **from where
  cdclab runs** (as the original investigation's operators did from their own shell). A canary's
  latency therefore includes this machine's round trips to both; run cdclab in the same
  region/VPC (e.g. on a bastion) when the endpoints are private, or when latency matters.
- Connect REST and Jolokia listen on 127.0.0.1 of the instance and are reached through SSH
  forwards; registration runs on the instance (the same register.yml as the lab).
- Faults are iptables rules on the instance (tagged, both directions) with a transient
  systemd timer as dead-man switch; dumps and logs come from the containers over SSH.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cdclab.ansible import run_playbook
from cdclab.aws import containers
from cdclab.aws.arms import write_arms_file
from cdclab.aws.aurora import SourceAccess, with_cluster
from cdclab.aws.inventory import instance_route, ssh_from_inventory, write_inventory
from cdclab.aws.lifecycle import aws_down, aws_up
from cdclab.aws.provision import AwsHost, caller_cidr, run_state_dir
from cdclab.aws.secrets import kafka_client, resolve_secret
from cdclab.aws.settings import aws_session
from cdclab.canary import CanaryWatcher, CanaryWriter, DbAccount
from cdclab.connect_rest import ConnectRest
from cdclab.core.kafka_security import WORKER_PREFIXES, KafkaSecurity, prefixed
from cdclab.core.spec import LoadSpec
from cdclab.errors import CdclabError, InvalidInputError, PrerequisiteError
from cdclab.faults.actions import FaultAction
from cdclab.faults.plan import plan_faults, sweep_host
from cdclab.images.connect import choose_image
from cdclab.load import LoadWriter
from cdclab.metrics import JolokiaMetrics, StreamingMetrics
from cdclab.paths import cache_dir
from cdclab.prereqs import APT, Program, missing_programs
from cdclab.progress import console
from cdclab.reachability import check_canary_table, check_kafka
from cdclab.secrets import secret_files
from cdclab.ssh import SSHHost
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.aws_plan import describe_aws_plan
from cdclab.targets.base import BaseTarget, spec_arms
from cdclab.targets.compose import (
    CONTAINER_KAFKA_CA,
    CONTAINER_SECRETS_FILE,
    CONTAINER_TRUST,
    close_forwards,
    compose_arms,
    forward_arms,
)
from cdclab.targets.places import write_place_file
from cdclab.targets.run_connectors import (
    RunArm,
    delete_run_connectors,
    sweep_run_connectors,
)
from cdclab.templating import render_connector_config
from cdclab.versions import jolokia_agent_jar, load_versions

# What fetching the Jolokia agent from Maven Central takes on this machine.
JOLOKIA_FETCH = (
    Program("mvn", "fetching the Jolokia agent", f"{APT} maven"),
    Program("java", "running Maven", f"{APT} openjdk-17-jdk-headless"),
)


def check_jolokia_source(metrics: bool, which: Callable[[str], str | None] = shutil.which) -> None:
    """The Jolokia agent is fetched here with Maven before the deploy copies it over: with
    metrics on, it must be in the cache already or Maven and Java must be here to get it."""
    if not metrics:
        return
    if jolokia_agent_jar(cache_dir() / "aws-dist").is_file():
        return
    missing = missing_programs(JOLOKIA_FETCH, which=which)
    if missing:
        version = load_versions().jolokia
        needs = "; ".join(f"{p.name}, for {p.purpose} ({p.fix})" for p in missing)
        raise PrerequisiteError(
            f"metrics: the Jolokia agent (org.jolokia:jolokia-agent-jvm:{version}) is fetched "
            f"on this machine before the deploy, which needs {needs}. Install them, or run "
            "without metrics (--set metrics.enabled=false)"
        )


class AwsTarget(BaseTarget):
    kind = "aws"
    substrate = "ec2"

    def setup(self) -> None:
        spec, run_id = self.spec, self.run_id
        self.settings = spec.aws
        self.external = spec.external
        self.aws_run_id = self.settings.run_id or run_id
        self.workers = spec_arms(spec)  # REST / metrics ports on the instance
        table = f"{self.external.database}.{self.external.canary_table}"
        for index, worker in enumerate(self.workers):
            # On the instance's loopback; its workers run only this run's connectors.
            self.add_arm(
                index,
                worker.name,
                rest_url=f"http://127.0.0.1:{worker.rest_port}",
                metrics_url=f"http://127.0.0.1:{worker.metrics_port}/jolokia/",
                topic=f"{self.topic_prefix(worker.name)}.{table}",
            )
        self.host: AwsHost | None = None
        self.inventory: Path | None = None
        self.db_address: str | None = None
        self._provisioned = False  # this run created the instance: it removes it too
        self._ssh: SSHHost | None = None
        self._forwards: list[LocalForward] = []
        self._registered: list[RunArm] = []
        self._session = None
        self._source: SourceAccess | None = None
        self._started_at = time.time()
        self.remote_dir = containers.REMOTE_DIR  # compose project, logs, heal scripts
        self.compose_project = containers.COMPOSE_PROJECT  # container names, worker groups
        # The original investigation's image, pulled by the instance, unless docker.image
        # names another; the one `invoke docker.image` built is imported from its tarball.
        self.image, self.tarball = (
            choose_image(spec.docker.image)
            if spec.docker.image
            else (load_versions().debezium_image, None)
        )

    # -- before anything exists ---------------------------------------------------------
    def describe_plan(self) -> list[str]:
        return describe_aws_plan(self.spec)

    @property
    def preparing(self) -> str:
        return "provisioning and deploying the AWS host, registering this run's connectors…"

    # -- set up and tear down -----------------------------------------------------------
    def preflight(self) -> None:
        """Everything that can be checked without creating anything: credentials, region,
        the kept host, the CA file, the secrets (read, then dropped)."""
        self._session = aws_session(self.settings)
        # external.aurora_cluster: endpoint, port, VPC (and the groups to open) looked up.
        self.spec, self._source = with_cluster(self.spec, self._session)
        self.settings, self.external = self.spec.aws, self.spec.external
        if self.settings.run_id:
            self.host = AwsHost.load(self.settings.run_id)
        elif not self.settings.allow_cidr:  # fail closed now, not after the results exist
            self.settings = self.settings.model_copy(update={"allow_cidr": caller_cidr()})
        ca_file = Path(self.external.db_ca_file or "")
        if not ca_file.is_file():
            raise InvalidInputError(
                f"external.db_ca_file: {ca_file} is not a file; give the CA bundle that signed "
                "the database's certificate (Aurora: RDS's global-bundle.pem)"
            )
        kafka_ca = self.external.kafka_ca_file
        if kafka_ca is not None and not Path(kafka_ca).expanduser().is_file():
            raise InvalidInputError(
                f"external.kafka_ca_file: {kafka_ca} is not a file; give the CA bundle (PEM) "
                "that signed the brokers' certificates, or leave it out for the system's"
            )
        ext = self.external
        for reference in {ext.db_password_from, ext.writer_password_from, ext.kafka_password_from}:
            if reference:
                resolve_secret(reference, self._session)
        self._check_reachable()
        check_jolokia_source(self.spec.metrics.enabled)

    def prepare(self) -> list[str]:
        """Provision (or reuse) the instance, deploy the arms, register this run's connectors."""
        if self.host is None:
            self.host = aws_up(self.settings, run_id=self.aws_run_id, source=self._source).host
            self._provisioned = True
        self.inventory = run_state_dir(self.aws_run_id) / "inventory.yml"
        if not self.inventory.exists():
            address, jump = instance_route(self.host.public_ip, self.host.private_ip, self.settings)
            self.inventory = write_inventory(
                run_state_dir(self.aws_run_id),
                address=address,
                user=self.host.ssh_user,
                key_file=self.host.key_file,
                jump=jump,
            )
        self.deploy()
        self.db_address = self._resolve_on_instance(self.external.db_host or "")
        self._open_forwards()
        warnings = sweep_run_connectors(self.arms)
        self._registered = list(self.arms)
        self.register()
        return warnings

    @property
    def kafka(self) -> KafkaSecurity:
        return self.external.kafka(self._session.region_name if self._session else None)

    def kafka_client(self) -> dict[str, Any]:
        """librdkafka's settings for this machine's canary consumer and admin."""
        return kafka_client(self.kafka, self.external.kafka_password_from, self._session)

    def kafka_record(self) -> dict[str, Any]:
        """The run's Kafka for later tasks (`invoke watch --run-id`): its bootstrap, its
        security and the password's reference, never the password."""
        return {
            "bootstrap": self.external.kafka_bootstrap,
            **dataclasses.asdict(self.kafka),
            "password_from": self.external.kafka_password_from,
        }

    def kafka_java(self) -> dict[str, str]:
        """The Java clients' settings, as the containers see the secrets file and the CA."""
        ca_file = CONTAINER_KAFKA_CA if self.kafka.ca_file else None
        return self.kafka.java(secrets_file=CONTAINER_SECRETS_FILE, ca_file=ca_file)

    def deploy_extravars(
        self, password_file: Path, kafka_password_file: Path | None = None
    ) -> dict[str, Any]:
        return {
            "cdclab_versions": load_versions().model_dump(),
            "cdclab_image": self.image,
            "cdclab_image_tarball": str(self.tarball or ""),
            "cdclab_container_cli": self.settings.container_cli,
            "cdclab_compose_project": self.compose_project,
            "cdclab_cache_dir": str(cache_dir()),
            "cdclab_compose_dir": self.remote_dir,
            "cdclab_kafka_bootstrap": self.external.kafka_bootstrap,
            "cdclab_db_password_file": str(password_file),
            # Absolute: Ansible reads a relative src inside the role.
            "cdclab_db_ca_file": str(Path(self.external.db_ca_file or "").expanduser().resolve()),
            "cdclab_metrics": self.spec.metrics.enabled,
            "cdclab_kafka_properties": prefixed(self.kafka_java(), WORKER_PREFIXES),
            "cdclab_kafka_ca_file": self.kafka.ca_file or "",
            "cdclab_kafka_password_file": str(kafka_password_file or ""),
            "cdclab_arms": compose_arms(self.workers, metrics=self.spec.metrics.enabled),
        }

    def deploy(self) -> None:
        """Docker and the arms' containers on the instance (aws_deploy.yml).

        The database and Kafka passwords reach the playbook as 0600 files in the run's state
        (never in extra vars, argv or results), removed as soon as the play ends.
        """
        assert self.inventory is not None
        values = {"db": resolve_secret(self.external.db_password_from or "", self._session)}
        if self.external.kafka_password_from:
            values["kafka"] = resolve_secret(self.external.kafka_password_from, self._session)
        with secret_files(run_state_dir(self.aws_run_id), values) as files:
            run_playbook(
                "aws_deploy.yml",
                inventory=self.inventory,
                extravars=self.deploy_extravars(files["db"], files.get("kafka")),
                event_handler=self.event_handler,
                artifact_dir=self.artifact_dir,
                hide_env=self.secret_env_names,
            )
        # For the runbook tasks (`invoke connect.status --target aws --run-id …`).
        write_arms_file(
            run_state_dir(self.aws_run_id),
            {
                w.name: {
                    "rest_host": "127.0.0.1",
                    "rest_port": w.rest_port,
                    "metrics_port": w.metrics_port,
                }
                for w in self.workers
            },
        )
        write_place_file(
            run_state_dir(self.aws_run_id),
            self.settings.container_cli,
            self.fault_heal_dir,
            self.compose_project,
            kafka=self.kafka_record(),
        )

    @property
    def secret_env_names(self) -> list[str]:
        """Environment variables the spec's env: references name: kept from playbooks."""
        ext = self.external
        references = (ext.db_password_from, ext.writer_password_from, ext.kafka_password_from)
        return [r.split(":", 1)[1] for r in references if r and r.startswith("env:")]

    def connector_entries(self) -> list[dict[str, Any]]:
        """{name, rest_url (on the instance), config} per arm, from the lab's template;
        the connector class by the source's flavour (MySqlConnector for Aurora MySQL)."""
        ext = self.external
        entries = []
        for arm in self.arms:
            overrides = self._arm_specs[arm.name].connector  # the spec's shared ones merged in
            entries.append(
                {
                    "name": arm.connector,
                    "rest_url": f"http://127.0.0.1:{self._worker(arm.name).rest_port}",
                    "config": render_connector_config(
                        name=arm.connector,
                        connector_class=ext.connector_class,
                        db_host=ext.db_host or "",
                        db_port=ext.db_port,
                        db_user=ext.db_user,
                        secrets_file=CONTAINER_SECRETS_FILE,
                        server_id=arm.server_id,
                        topic_prefix=arm.topic_prefix,
                        database=ext.database,
                        table=ext.canary_table,
                        bootstrap_servers=ext.kafka_bootstrap or "",
                        trust=CONTAINER_TRUST,
                        kafka_client=self.kafka_java(),
                        overrides=overrides,
                    ),
                }
            )
        return entries

    def register(self) -> None:
        assert self.inventory is not None
        run_playbook(
            "register.yml",
            inventory=self.inventory,
            extravars={"cdclab_connectors": self.connector_entries()},
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
            hide_env=self.secret_env_names,
        )

    def _worker(self, name: str):
        return next(w for w in self.workers if w.name == name)

    def ssh(self) -> SSHHost:
        """The run's session to the instance (its login user, commands through sudo)."""
        if self._ssh is None:
            assert self.inventory is not None
            self._ssh = ssh_from_inventory(self.inventory)
        return self._ssh

    def _resolve_on_instance(self, name: str) -> str:
        """The database's address as the instance resolves it (private endpoints included):
        the fault rules name an address, not a DNS name that could re-resolve mid-run."""
        done = self.ssh().run(f"getent ahostsv4 {shlex.quote(name)} | head -n 1")
        address = done.stdout.split()[0] if done.ok and done.stdout.split() else ""
        if not address:
            raise CdclabError(
                f"external.db_host: the instance cannot resolve {name!r}; check the name and "
                "that the instance's VPC reaches it"
            )
        return address

    def _open_forwards(self) -> None:
        self.arms = forward_arms(self.ssh(), self.arms, self.workers, self._forwards)

    def _check_reachable(self) -> None:
        """Canaries are written and their topics read from this machine: the database and
        Kafka must answer here before anything exists."""
        check_canary_table(self.writer())
        check_kafka(self.external.kafka_bootstrap or "", self.kafka_client())

    def cleanup(self) -> list[str]:
        """Delete this run's connectors (the containers stay until the instance goes)."""
        errors = delete_run_connectors(self._registered)
        self._registered = []
        return errors

    def close(self) -> list[str]:
        """Close the forwards and the session; remove the instance unless kept or reused."""
        close_forwards(self._forwards, self._ssh)
        if not self._provisioned:
            return []
        if self.settings.keep:
            console.print(
                f"kept AWS run {self.aws_run_id} (--keep): reuse it with "
                f"--set aws.run_id={self.aws_run_id}; remove it with "
                f"`invoke aws.down {self.aws_run_id}`"
            )
            return []
        try:
            aws_down(self.settings, self.aws_run_id)
        except Exception as exc:  # loud: a forgotten instance costs money
            return [
                f"could not remove AWS run {self.aws_run_id} ({exc}); run "
                f"`invoke aws.down {self.aws_run_id}` (and `invoke aws.ls` to check)"
            ]
        return []

    # -- what the clock uses ------------------------------------------------------------
    def _writer_user(self) -> str:
        return self.external.writer_user or self.external.db_user

    def _account(self) -> DbAccount:
        ext = self.external
        reference = ext.writer_password_from or ext.db_password_from or ""
        return DbAccount(
            host=ext.db_host or "",
            port=ext.db_port,
            user=self._writer_user(),
            password=resolve_secret(reference, self._session),
            ca_file=Path(ext.db_ca_file or ""),
            database=ext.database,
            connect_timeout=3.0,
        )

    def writer(self) -> CanaryWriter:
        return CanaryWriter(self._account(), self.external.canary_table)

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter:
        return LoadWriter(self._account(), "write_load", load, on_error=on_error)

    def watcher(self) -> CanaryWatcher:
        return CanaryWatcher(
            self.external.kafka_bootstrap or "",
            {a.name: a.topic for a in self.arms},
            security=self.kafka_client(),
        )

    def rest(self, arm: RunArm) -> ConnectRest:
        return ConnectRest(arm.rest_url, timeout=3.0, attempts=2, backoff=0.2)

    def metrics(self, arm: RunArm) -> StreamingMetrics:
        return JolokiaMetrics(arm.metrics_url, timeout=2.0).streaming(arm.topic_prefix)

    def thread_dump(self, arm_name: str) -> str:
        return containers.thread_dump(
            self.ssh(), self.settings.container_cli, arm_name, self.compose_project
        )

    # -- host tuning: none on aws (the spec refuses hosts: for it) ------------------------
    def apply_sysctls(self) -> list[dict[str, str]]:
        return []

    def restore_sysctls(self) -> list[str]:
        return []

    # -- faults ---------------------------------------------------------------------------
    def fault_actions(self, run_id: str) -> list[FaultAction]:
        assert self.host is not None and self.db_address is not None
        addresses = {
            "connect": self.host.public_ip or self.host.private_ip or "",
            "db": self.db_address,
        }
        return plan_faults(self.spec, addresses, run_id, deadman="systemd")

    def ssh_for(self, host_name: str) -> SSHHost:
        if host_name != "connect":
            raise CdclabError(f"the aws target reaches only the instance, not {host_name}")
        # A session of its own: the fault thread must not wait behind a slow dump.
        assert self.inventory is not None
        return ssh_from_inventory(self.inventory)

    @property
    def fault_heal_dir(self) -> str:
        return f"{self.remote_dir}/faults"

    def sweep_faults(self) -> list[str]:
        with self.ssh_for("connect") as ssh:
            return [f"instance: {line}" for line in sweep_host(ssh, self.fault_heal_dir, [])]

    # -- facts for the manifest ---------------------------------------------------------
    def versions(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "debezium_image": self.image,
            "connector_class": self.external.connector_class,
        }
        name = containers.container_name(self.arms[0].name, self.compose_project)
        java = self.ssh().run([self.settings.container_cli, "exec", name, "java", "-version"])
        facts["jdk"] = (java.stderr or java.stdout).splitlines()[0] if java.ok else None
        writer = self.writer()
        try:
            facts["source_db"] = writer.query_one("SELECT VERSION()")[0]
        except Exception:  # a fact, not a precondition
            facts["source_db"] = None
        finally:
            writer.close()
        return facts

    def hosts(self) -> dict[str, Any]:
        assert self.host is not None
        return {
            "connect": {
                "instance_id": self.host.instance_id,
                "region": self.host.region,
                "address": self.host.public_ip or self.host.private_ip,
            },
            "db": {"address": self.external.db_host, "resolved": self.db_address},
            "kafka": {"bootstrap": self.external.kafka_bootstrap},
        }

    def tls(self) -> dict[str, Any]:
        """The server's view needs rights on the user's database that cdclab does not ask
        for; the client's view (ssl-debug) comes from the collected container logs."""
        return {}

    def collect_logs(self, results: Path) -> None:
        if self.inventory is None:
            return  # nothing was provisioned
        run_playbook(
            "collect_aws.yml",
            inventory=self.inventory,
            extravars={
                "cdclab_container_cli": self.settings.container_cli,
                "cdclab_container_prefix": f"{self.compose_project}-connect-",
                "cdclab_compose_dir": self.remote_dir,
                "cdclab_since": int(self._started_at) - 5,
                "cdclab_arm_names": [a.name for a in self.arms],
                "cdclab_results_dir": str(results),
            },
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
            hide_env=self.secret_env_names,
        )
