"""The docker target: the arms run as containers of the Connect image, from the same compose
role the EC2 host uses, on a Docker engine inside the lab's connect host.

The sources are the lab's MariaDB and Kafka. The engine shares the connect host's network
namespace and the containers use host networking, so the lab's faults (iptables in that
namespace), canaries, sysctls and sweeps apply unchanged; what differs from the local target
is how the arms are started (compose), reached (SSH forwards to the host's loopback, as on
EC2), dumped (`docker exec … jcmd`) and logged (`docker logs`). The containers outlive the
run, like the lab's workers; `invoke lab.down` removes them with the engine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cdclab.ansible import run_playbook
from cdclab.aws import containers
from cdclab.faults.actions import FaultAction
from cdclab.faults.plan import WorkerContainers, lab_sweep, plan_faults
from cdclab.images.connect import choose_image
from cdclab.lab import config as lab_config
from cdclab.lab.access import db_ca_file, mariadb_client_argv, ssh_to
from cdclab.lab.config import LabConfig
from cdclab.lab.docker_engine import engine_cli, engine_extravars, engine_root
from cdclab.lab.extravars import CDC_USER, lab_extravars
from cdclab.lab.tls_evidence import collect_tls_evidence
from cdclab.lab.up import LOCAL_INVENTORY, check_matches_running_lab, lab_up
from cdclab.paths import state_dir
from cdclab.prereqs import DOCKER_PROGRAMS, LAB_PROGRAMS, check_lab_prerequisites
from cdclab.secrets import DB_CDC_PASSWORD, secrets_dir
from cdclab.ssh import SSHHost
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.base import spec_arms
from cdclab.targets.compose import (
    CONTAINER_SECRETS_FILE,
    CONTAINER_TRUST,
    close_forwards,
    compose_arms,
    forward_arms,
)
from cdclab.targets.local import LocalTarget
from cdclab.targets.run_connectors import (
    delete_run_connectors,
    register_run_connectors,
    sweep_run_connectors,
)
from cdclab.templating import render_connector_config
from cdclab.versions import jolokia_agent_jar, load_versions

# Beside the lab's own workers (8083…) in the same namespace: containers listen from 8183.
FIRST_CONTAINER_PORT = 8183
# The compose project: container names, worker groups and Connect topics of the containers.
PROJECT = "cdclab-docker"


def deployed_workers() -> WorkerContainers | None:
    """The docker target's containers on the lab's engine (one compose directory per arm),
    for sweeps outside a run (`invoke fault.clear`); None when there are none."""
    compose = engine_root() / "compose"
    if not compose.is_dir():
        return None
    arms = sorted(p.name for p in compose.iterdir() if p.is_dir())
    names = {arm: containers.container_name(arm, PROJECT) for arm in arms}
    return WorkerContainers(engine_cli(), names) if names else None


class DockerTarget(LocalTarget):
    kind = "docker"
    substrate = "docker"

    def setup(self) -> None:
        self.config = lab_config.load_saved() or LabConfig()
        self.workers = spec_arms(self.spec, first_rest_port=FIRST_CONTAINER_PORT)
        for index, worker in enumerate(self.workers):
            prefix = self.topic_prefix(worker.name)
            self.add_arm(
                index,
                worker.name,
                rest_url=f"http://127.0.0.1:{worker.rest_port}",  # forwarded in prepare()
                metrics_url=f"http://127.0.0.1:{worker.metrics_port}/jolokia/",
                topic=f"{prefix}.{self.config.database}.{self.config.canary_table}",
            )
        self._registered = []
        self._paused = []  # the lab's standing connectors run on other workers: none paused
        self._sysctls = []
        self._ssh: SSHHost | None = None
        self._forwards: list[LocalForward] = []
        self._started_at = time.time()
        self.image, self.tarball = choose_image(self.spec.docker.image)

    # -- before anything exists ---------------------------------------------------------
    def describe_arms(self) -> list[str]:
        source = f"imported from {self.tarball}" if self.tarball else "pulled"
        lines = [
            f"engine: dockerd in {self.config.connect.namespace} ({engine_root()}), "
            "containers with host networking",
            f"image: {self.image} ({source})",
        ]
        for worker in self.workers:
            lines.append(
                f"arm {worker.name}: container {containers.container_name(worker.name, PROJECT)}"
                f", REST 127.0.0.1:{worker.rest_port} on {self.config.connect.name}, "
                + self._arm_specs[worker.name].describe()
            )
        return lines

    def check_prerequisites(self) -> None:
        check_lab_prerequisites(programs=LAB_PROGRAMS + DOCKER_PROGRAMS)

    @property
    def preparing(self) -> str:
        return "preparing the lab, its Docker engine, the arms' containers and connectors…"

    def preflight(self) -> None:
        check_matches_running_lab(self.config)

    # -- set up and tear down -----------------------------------------------------------
    def prepare(self) -> list[str]:
        """The lab, the engine, the image and one container per arm; this run's connectors."""
        lab_up(self.config, event_handler=self.event_handler, artifact_dir=self.artifact_dir)
        self._playbook("docker_up.yml", self.deploy_extravars())
        self._ssh = ssh_to(self.config.connect)
        self.arms = forward_arms(self._ssh, self.arms, self.workers, self._forwards)
        warnings = sweep_run_connectors(self.arms)
        self._registered = list(self.arms)
        entries = zip(self.arms, self.connector_entries(), strict=True)
        configs = {arm.name: entry["config"] for arm, entry in entries}
        register_run_connectors(self.arms, configs)
        return warnings

    def deploy_extravars(self) -> dict[str, Any]:
        return {
            **engine_extravars(self.image, self.tarball),
            "cdclab_compose_dir": str(engine_root() / "compose"),
            "cdclab_compose_project": PROJECT,
            "cdclab_compose_arms": compose_arms(self.workers, metrics=self.spec.metrics.enabled),
            "cdclab_db_password_file": str(secrets_dir() / DB_CDC_PASSWORD),
            "cdclab_db_ca_file": str(db_ca_file()),
            "cdclab_metrics_agent": (
                str(jolokia_agent_jar(state_dir() / "dist")) if self.spec.metrics.enabled else ""
            ),
        }

    def connector_entries(self) -> list[dict[str, Any]]:
        """{name, rest_url (on the connect host), config} per arm."""
        config, versions = self.config, load_versions()
        entries = []
        for arm, worker in zip(self.arms, self.workers, strict=True):
            settings = render_connector_config(
                name=arm.connector,
                connector_class=versions.debezium_connector_class,
                db_host=config.db.address,
                db_port=config.db_port,
                db_user=CDC_USER,
                secrets_file=CONTAINER_SECRETS_FILE,
                server_id=arm.server_id,
                topic_prefix=arm.topic_prefix,
                database=config.database,
                table=config.canary_table,
                bootstrap_servers=config.kafka_bootstrap,
                trust=CONTAINER_TRUST,
                overrides=self._arm_specs[arm.name].connector,
            )
            url = f"http://127.0.0.1:{worker.rest_port}"
            entries.append({"name": arm.connector, "rest_url": url, "config": settings})
        return entries

    def _playbook(self, playbook: str, extra: dict[str, Any]) -> None:
        run_playbook(
            playbook,
            inventory=LOCAL_INVENTORY,
            extravars={**lab_extravars(self.config), **extra},
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
        )

    def cleanup(self) -> list[str]:
        """Delete this run's connectors (the containers stay, like the lab's workers)."""
        errors = delete_run_connectors(self._registered)
        self._registered = []
        return errors + self.restore_sysctls()

    def close(self) -> list[str]:
        close_forwards(self._forwards, self._ssh)
        self._ssh = None
        return []

    # -- faults: the lab's, with the workers as containers ----------------------------
    @property
    def worker_containers(self) -> WorkerContainers:
        names = {w.name: containers.container_name(w.name, PROJECT) for w in self.workers}
        return WorkerContainers(engine_cli(), names)

    def fault_actions(self, run_id: str) -> list[FaultAction]:
        return plan_faults(self.spec, self.config.addresses, run_id, workers=self.worker_containers)

    def sweep_faults(self) -> list[str]:
        swept = lab_sweep(self.config, workers=self.worker_containers)
        return [f"{host}: {line}" for host, lines in swept.items() for line in lines]

    # -- what the clock uses ------------------------------------------------------------
    def thread_dump(self, arm_name: str) -> str:
        """`jcmd 1 Thread.print -l` in the arm's container (SIGQUIT and its log otherwise)."""
        with ssh_to(self.config.connect) as ssh:
            return containers.thread_dump(ssh, engine_cli(), arm_name, PROJECT)

    # -- facts for the manifest ---------------------------------------------------------
    def container_pids(self, ssh: SSHHost) -> dict[int, str]:
        """The JVM (PID 1 of each arm's container) as this machine numbers it -> arm."""
        pids = {}
        for worker in self.workers:
            name = containers.container_name(worker.name, PROJECT)
            done = ssh.run([engine_cli(), "inspect", "--format", "{{.State.Pid}}", name])
            if done.ok and done.stdout.strip().isdigit():
                pids[int(done.stdout.strip())] = worker.name
        return pids

    def versions(self) -> dict[str, Any]:
        pinned = load_versions()
        facts: dict[str, Any] = {
            "image": self.image,
            "kafka": pinned.kafka,
            "debezium": pinned.debezium,
            "debezium_connector": pinned.debezium_connector_artifact,
        }
        with ssh_to(self.config.connect) as ssh:
            name = containers.container_name(self.workers[0].name, PROJECT)
            java = ssh.run([engine_cli(), "exec", name, "java", "-version"])
            facts["jdk"] = (java.stderr or java.stdout).splitlines()[0] if java.ok else None
            engine = ssh.run([engine_cli(), "version", "--format", "{{.Server.Version}}"])
            facts["docker_engine"] = engine.stdout.strip() if engine.ok else None
            user = ssh.run([engine_cli(), "exec", name, "id", "-u"])
            facts["container_uid"] = user.stdout.strip() if user.ok else None
        with ssh_to(self.config.db) as ssh:
            version = ssh.run([*mariadb_client_argv(), "SELECT VERSION()"])
            facts["mariadb"] = version.stdout.strip() if version.ok else None
        return facts

    def hosts(self) -> dict[str, Any]:
        hosts = super().hosts()
        hosts["connect"]["docker_engine"] = str(engine_root())
        return hosts

    def tls(self) -> dict[str, Any]:
        """Negotiated TLS per arm, as the server saw each container's connections."""
        with ssh_to(self.config.connect) as ssh:
            pids = self.container_pids(ssh)
        evidence = collect_tls_evidence(self.config, worker_pids=pids)
        return {name: tls.model_dump() for name, tls in evidence.items()}

    def collect_logs(self, results: Path) -> None:
        self._playbook(
            "collect_aws.yml",
            {
                "cdclab_container_cli": engine_cli(),
                "cdclab_container_prefix": f"{PROJECT}-connect-",
                "cdclab_compose_dir": str(engine_root() / "compose"),
                "cdclab_since": int(self._started_at) - 5,
                "cdclab_arm_names": [a.name for a in self.arms],
                "cdclab_results_dir": str(results),
            },
        )
