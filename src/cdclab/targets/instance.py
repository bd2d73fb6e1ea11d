"""The AWS target as the instance sees it: the run's clock on the EC2 host itself.

The laptop provisions the instance and deploys the arms' containers (targets/aws.py), then
hands the run over: this target runs there, beside the containers, inside the VPC. The
database and Kafka are reached from the instance (preflight included), Connect REST and
Jolokia on its loopback, faults are iptables rules of the instance itself, dumps and logs
come from its Docker engine. Nothing here needs the laptop: a run survives it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from cdclab.aws import containers
from cdclab.connect_rest import ConnectRest
from cdclab.errors import CdclabError
from cdclab.faults.actions import FaultAction
from cdclab.faults.plan import WorkerContainers, plan_faults, sweep_host
from cdclab.localhost import LocalHost
from cdclab.metrics import JolokiaMetrics, StreamingMetrics
from cdclab.targets.base import BaseTarget, spec_arms
from cdclab.targets.external import ExternalSource
from cdclab.targets.run_connectors import (
    RunArm,
    delete_run_connectors,
    register_run_connectors,
    sweep_run_connectors,
)
from cdclab.targets.sourced import Sourced


class InstanceTarget(Sourced, BaseTarget):
    kind = "aws"
    substrate = "ec2"

    def setup(self) -> None:
        self.source = ExternalSource(self.spec.external)
        self.workers = spec_arms(self.spec)
        for index, worker in enumerate(self.workers):
            self.add_arm(
                index,
                worker.name,
                rest_url=f"http://127.0.0.1:{worker.rest_port}",
                metrics_url=f"http://127.0.0.1:{worker.metrics_port}/jolokia/",
                topic=self.source.topic(self.topic_prefix(worker.name)),
            )
        self.host = LocalHost()
        self.cli = self.spec.aws.container_cli
        self.remote_dir = containers.REMOTE_DIR
        self.compose_project = containers.COMPOSE_PROJECT
        self.db_address: str | None = None
        self._registered: list[RunArm] = []

    def describe_plan(self) -> list[str]:
        return [self.source.describe(), *(f"arm {a.name}: {a.rest_url}" for a in self.arms)]

    @property
    def preparing(self) -> str:
        return "registering this run's connectors on the instance's containers…"

    def rest_port(self, arm_name: str) -> int:
        return next(w.rest_port for w in self.workers if w.name == arm_name)

    # -- set up and tear down -----------------------------------------------------------
    def preflight(self) -> None:
        """From the instance: TLS to the database with its CA, the canary table, Kafka."""
        self.source.preflight()

    def prepare(self) -> list[str]:
        self.db_address = self.source.db_peer(self.host, "the instance")
        warnings = sweep_run_connectors(self.arms)
        self._registered = list(self.arms)
        configs = {e["name"]: e["config"] for e in self.connector_entries()}
        register_run_connectors(self.arms, {a.name: configs[a.connector] for a in self.arms})
        return warnings

    def cleanup(self) -> list[str]:
        errors = delete_run_connectors(self._registered)
        self._registered = []
        return errors

    def close(self) -> list[str]:
        """The instance is the laptop's to remove (after it pulled the results)."""
        return []

    def apply_sysctls(self) -> list[dict[str, str]]:
        return []  # the spec refuses hosts: on aws

    def restore_sysctls(self) -> list[str]:
        return []

    # -- what the clock uses (writer, load writer and watcher: Sourced) --------------------
    def rest(self, arm: RunArm) -> ConnectRest:
        return ConnectRest(arm.rest_url, timeout=1.5, attempts=2, backoff=0.2)

    def metrics(self, arm: RunArm) -> StreamingMetrics:
        return JolokiaMetrics(arm.metrics_url, timeout=1.0).streaming(arm.topic_prefix)

    def thread_dump(self, arm_name: str) -> str:
        return containers.thread_dump(self.host, self.cli, arm_name, self.compose_project)

    # -- faults: rules of the instance itself -------------------------------------------
    @property
    def worker_containers(self) -> WorkerContainers:
        names = {
            w.name: containers.container_name(w.name, self.compose_project) for w in self.workers
        }
        return WorkerContainers(self.cli, names)

    def fault_actions(self, run_id: str) -> list[FaultAction]:
        addresses = {"connect": "127.0.0.1", "db": self.db_address or self.source.db_host}
        return plan_faults(
            self.spec,
            addresses,
            run_id,
            deadman="systemd",
            workers=self.worker_containers,
            spare_uid=os.getuid(),  # this clock runs on the faulted host: spare its checks
        )

    def ssh_for(self, host_name: str) -> LocalHost:
        if host_name != "connect":
            raise CdclabError(f"a run on the instance acts on the instance only, not {host_name}")
        return LocalHost()

    @property
    def fault_heal_dir(self) -> str:
        return f"{self.remote_dir}/faults"

    def sweep_faults(self) -> list[str]:
        return [f"instance: {line}" for line in sweep_host(self.host, self.fault_heal_dir, [])]

    # -- facts for the manifest ---------------------------------------------------------
    def versions(self) -> dict[str, Any]:
        name = containers.container_name(self.workers[0].name, self.compose_project)
        java = self.host.run([self.cli, "exec", name, "java", "-version"])
        image = self.host.run([self.cli, "inspect", "--format", "{{.Config.Image}}", name])
        return {
            "image": image.stdout.strip() if image.ok else None,
            "connector_class": self.source.connector_class,
            "jdk": (java.stderr or java.stdout).splitlines()[0] if java.ok else None,
            "source_db": self.source.db_version(),
        }

    def hosts(self) -> dict[str, Any]:
        ext = self.spec.external
        return {
            "connect": {"address": "this instance (the run's clock runs here)"},
            "db": {"address": ext.db_host, "resolved": self.db_address},
            "kafka": {"bootstrap": ext.kafka_bootstrap},
        }

    def tls(self) -> dict[str, Any]:
        return self.source.tls({})

    def collect_logs(self, results: Path) -> None:
        """Each arm's container log (`docker logs`: the worker's stdout) into the results."""
        for arm in self.arms:
            name = containers.container_name(arm.name, self.compose_project)
            done = self.host.run(
                f"{shlex.quote(self.cli)} logs {shlex.quote(name)} 2>&1", timeout=120
            )
            directory = results / "logs" / "instance" / arm.name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "connect.out").write_text(done.stdout)
