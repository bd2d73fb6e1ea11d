"""The docker target: the arms run as containers of the Connect image, from the same compose
role the EC2 host uses, on a Docker engine inside the lab's connect host.

The source is the lab's MariaDB and Kafka, or, with external.*, your database and Kafka
(targets.external: the containers reach them through the lab's egress, a route out of the
connect host that `lab.down` removes). The engine shares the connect host's network
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
from cdclab.lab.access import ssh_to
from cdclab.lab.config import LabConfig
from cdclab.lab.docker_engine import engine_cli, engine_extravars, engine_root
from cdclab.lab.extravars import lab_extravars
from cdclab.lab.up import LOCAL_INVENTORY, check_matches_running_lab, lab_up
from cdclab.paths import state_dir
from cdclab.prereqs import DOCKER_PROGRAMS, LAB_PROGRAMS, check_lab_prerequisites
from cdclab.secrets import secret_files
from cdclab.ssh import SSHHost
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.base import spec_arms
from cdclab.targets.compose import (
    close_forwards,
    compose_arms,
    forward_arms,
)
from cdclab.targets.external import ExternalSource
from cdclab.targets.lab_source import LabSource
from cdclab.targets.local import LocalTarget
from cdclab.targets.run_connectors import (
    delete_run_connectors,
    register_run_connectors,
    sweep_run_connectors,
)
from cdclab.targets.sourced import Source, Sourced
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


class DockerTarget(Sourced, LocalTarget):
    kind = "docker"
    substrate = "docker"

    def setup(self) -> None:
        self.config = lab_config.load_saved() or LabConfig()
        self.source: Source = (
            ExternalSource(self.spec.external, aws=self.spec.aws)
            if self.spec.uses_external
            else LabSource(self.config)
        )
        self._db_peer: str | None = None  # the source's address, as the connect host sees it
        self.workers = spec_arms(self.spec, first_rest_port=FIRST_CONTAINER_PORT)
        for index, worker in enumerate(self.workers):
            self.add_arm(
                index,
                worker.name,
                rest_url=f"http://127.0.0.1:{worker.rest_port}",  # forwarded in prepare()
                metrics_url=f"http://127.0.0.1:{worker.metrics_port}/jolokia/",
                topic=self.source.topic(self.topic_prefix(worker.name)),
            )
        self._registered = []
        self._paused = []  # the lab's standing connectors run on other workers: none paused
        self._sysctls = []
        self._ssh: SSHHost | None = None
        self._forwards: list[LocalForward] = []
        self._started_at = time.time()
        self.image, self.tarball = choose_image(self.spec.docker.image)

    # -- before anything exists ---------------------------------------------------------
    def describe_source(self) -> str:
        return self.source.describe()

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
        self.source.preflight()

    # -- set up and tear down -----------------------------------------------------------
    def prepare(self) -> list[str]:
        """The lab, the engine, the image and one container per arm; this run's connectors."""
        lab_up(
            self.config,
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
            hide_env=tuple(self.source.secret_env_names),
        )
        with secret_files(state_dir(), self.source.deploy_secrets()) as files:
            self._playbook("docker_up.yml", self.deploy_extravars(files))
        self._ssh = ssh_to(self.config.connect)
        self._db_peer = self.source.db_peer(self._ssh, f"the lab's {self.config.connect.name}")
        self.arms = forward_arms(self._ssh, self.arms, self.workers, self._forwards)
        warnings = sweep_run_connectors(self.arms)
        self._registered = list(self.arms)
        entries = zip(self.arms, self.connector_entries(), strict=True)
        configs = {arm.name: entry["config"] for arm, entry in entries}
        register_run_connectors(self.arms, configs)
        return warnings

    def deploy_extravars(self, files: dict[str, Path | str]) -> dict[str, Any]:
        return {
            **engine_extravars(self.image, self.tarball),
            **self.source.deploy_vars(files),
            # Your database and Kafka are outside the lab: the connect host needs a way out.
            "cdclab_egress": self.spec.uses_external,
            "cdclab_compose_dir": str(engine_root() / "compose"),
            "cdclab_compose_project": PROJECT,
            "cdclab_compose_arms": compose_arms(self.workers, metrics=self.spec.metrics.enabled),
            "cdclab_metrics_agent": (
                str(jolokia_agent_jar(state_dir() / "dist")) if self.spec.metrics.enabled else ""
            ),
        }

    def rest_port(self, arm_name: str) -> int:
        return next(w.rest_port for w in self.workers if w.name == arm_name)

    def _playbook(self, playbook: str, extra: dict[str, Any]) -> None:
        run_playbook(
            playbook,
            inventory=LOCAL_INVENTORY,
            extravars={**lab_extravars(self.config), **extra},
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
            hide_env=self.source.secret_env_names,
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
        addresses = {**self.config.addresses, "db": self._db_peer or self.source.db_host}
        return plan_faults(self.spec, addresses, run_id, workers=self.worker_containers)

    def sweep_faults(self) -> list[str]:
        swept = lab_sweep(self.config, workers=self.worker_containers)
        return [f"{host}: {line}" for host, lines in swept.items() for line in lines]

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
            "connector_class": self.source.connector_class,
        }
        with ssh_to(self.config.connect) as ssh:
            name = containers.container_name(self.workers[0].name, PROJECT)
            java = ssh.run([engine_cli(), "exec", name, "java", "-version"])
            facts["jdk"] = (java.stderr or java.stdout).splitlines()[0] if java.ok else None
            engine = ssh.run([engine_cli(), "version", "--format", "{{.Server.Version}}"])
            facts["docker_engine"] = engine.stdout.strip() if engine.ok else None
            user = ssh.run([engine_cli(), "exec", name, "id", "-u"])
            facts["container_uid"] = user.stdout.strip() if user.ok else None
        facts["source_db"] = self.source.db_version()
        return facts

    def hosts(self) -> dict[str, Any]:
        hosts = super().hosts()
        hosts["connect"]["docker_engine"] = str(engine_root())
        hosts["source"] = {"db": self.source.db_host, "db_address": self._db_peer}
        return hosts

    def tls(self) -> dict[str, Any]:
        """Negotiated TLS per arm, as the source saw each container's connections."""
        with ssh_to(self.config.connect) as ssh:
            pids = self.container_pids(ssh)
        return self.source.tls(pids)

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
