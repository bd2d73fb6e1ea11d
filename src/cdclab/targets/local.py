"""The local lab as an experiment target: arms as Connect workers in the connect namespace.

Each run registers its own connectors (own names, topic prefixes and server ids) and
pauses the lab's standing connectors on the same workers for its duration, so a run's
thread dumps and binlog connections are its own. Leftovers of a crashed run are swept
before the next one starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from typing import Any

from cdclab.ansible import run_playbook
from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.connect_rest import ConnectRest
from cdclab.core.spec import ExperimentSpec, LoadSpec
from cdclab.dumps.take import jcmd_thread_dump
from cdclab.errors import CdclabError
from cdclab.faults.actions import FaultAction
from cdclab.faults.plan import describe_faults, lab_sweep, plan_faults
from cdclab.lab import config as lab_config
from cdclab.lab.access import mariadb_client_argv, ssh_to, writer_account
from cdclab.lab.config import SECOND_BROKER_PORT, LabConfig
from cdclab.lab.extravars import connect_release, connector_entry, lab_extravars
from cdclab.lab.teardown import lab_owner
from cdclab.lab.tls_evidence import collect_tls_evidence
from cdclab.lab.up import LOCAL_INVENTORY, check_matches_running_lab, lab_up
from cdclab.load import LoadWriter
from cdclab.metrics import JolokiaMetrics, StreamingMetrics
from cdclab.paths import fault_heal_dir, state_dir
from cdclab.prereqs import check_lab_prerequisites
from cdclab.targets.base import BaseTarget, spec_arms
from cdclab.targets.run_connectors import (
    RunArm,
    delete_run_connectors,
    register_run_connectors,
    sweep_run_connectors,
)
from cdclab.versions import load_versions


def lab_config_for(spec: ExperimentSpec) -> LabConfig:
    """The lab shaped for this spec: one worker per arm, a second broker if a fault acts on
    it, on the running lab's subnet."""
    running = lab_config.load_saved()
    base = running.model_dump() if running else {}
    arms = [a.model_dump() for a in spec_arms(spec)]
    brokers = 1 if spec.second_broker_fault() is None else 2
    return LabConfig.model_validate({**base, "arms": arms, "brokers": brokers})


RUN_LOCK = Path("/run/cdclab/experiment.lock")


@contextlib.contextmanager
def one_run_at_a_time():
    """One experiment per lab: a second one would sweep the first one's faults."""
    RUN_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(RUN_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CdclabError(
                f"an experiment is already running on this lab ({holder}); wait for it or "
                "stop it (Ctrl-C) first"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield


def _plugin_versions(debezium: str) -> dict[str, str | None]:
    """An arm's Debezium release, the binlog client its plugin directory holds and the
    Kafka Connect release its worker runs."""
    jars = state_dir().glob(f"dist/debezium/{debezium}/*/lib/mysql-binlog-connector-java-*.jar")
    names = [re.search(r"java-(.+)\.jar$", jar.name) for jar in jars]
    client = next((m.group(1) for m in names if m), None)
    connect = connect_release(debezium, load_versions())
    return {"debezium": debezium, "binlog_client": client, "connect": connect}


class LocalTarget(BaseTarget):
    kind = "local"
    substrate = "netns"

    def setup(self) -> None:
        self.config = lab_config_for(self.spec)
        for index, name in enumerate(self._arm_specs):
            lab_arm = self.config.arm(name)
            self.add_arm(
                index,
                name,
                rest_url=self.config.rest_url(lab_arm),
                metrics_url=self.config.metrics_url(lab_arm),
                topic=self.config.topic(lab_arm, prefix=self.topic_prefix(name)),
                standing_connector=lab_arm.connector_name,  # paused for the run
            )
        self._registered: list[RunArm] = []
        self._paused: list[RunArm] = []
        self._sysctls: list[dict[str, str]] = []

    # -- before anything exists ---------------------------------------------------------
    def describe_plan(self) -> list[str]:
        config, spec = self.config, self.spec
        lines = [
            "hosts: " + ", ".join(f"{h.name} {h.address} ({h.namespace})" for h in config.hosts),
            self.describe_source(),
            *self.describe_arms(),
        ]
        if spec.load:
            lines.append(spec.load.describe(f"{config.database}.{config.load_table}"))
        for host, tuning in spec.hosts.items():
            for key, value in tuning.sysctls.items():
                lines.append(f"host {host}: sysctl {key} = {value} for the run (restored after)")
        if spec.metrics.enabled:
            urls = ", ".join(arm.metrics_url for arm in self.arms)
            lines.append(
                "metrics: Debezium's streaming MBean of every arm read at each canary "
                f"(Jolokia on {urls})"
            )
        return lines + describe_faults(self.fault_actions(self.run_id))

    def describe_source(self) -> str:
        config = self.config
        second = (
            f" and a second broker on :{SECOND_BROKER_PORT} for the run"
            if config.brokers > 1
            else ""
        )
        return f"kafka: {config.kafka_bootstrap}{second}; db: {config.db.address}:{config.db_port}"

    def describe_arms(self) -> list[str]:
        return [
            f"arm {arm.name}: worker {arm.rest_url}, " + self._arm_specs[arm.name].describe()
            for arm in self.arms
        ]

    def check_prerequisites(self) -> None:
        check_lab_prerequisites()

    def exclusive(self) -> contextlib.AbstractContextManager[Any]:
        return one_run_at_a_time()

    @property
    def preparing(self) -> str:
        return "preparing the lab and this run's connectors…"

    # -- set up and tear down -----------------------------------------------------------
    def preflight(self) -> None:
        """Before anything is created: a lab that is up belongs to this state directory
        (another checkout's or the test suite's lab is not ours to drive)."""
        check_matches_running_lab(self.config)

    def prepare(self) -> list[str]:
        """Bring the lab up for these arms, sweep leftovers, register this run's connectors.

        Returns warnings (e.g. leftovers swept) for the events journal.
        """
        lab_up(self.config, event_handler=self.event_handler, artifact_dir=self.artifact_dir)
        warnings = sweep_run_connectors(self.arms)
        for arm in self.arms:
            rest = ConnectRest(arm.rest_url)
            status, _ = rest.request("PUT", f"/connectors/{arm.standing_connector}/pause")
            if status in (200, 202):
                self._paused.append(arm)
        configs = {}
        for arm in self.arms:
            spec_arm = self._arm_specs[arm.name]
            lab_arm = self.config.arm(arm.name).model_copy(
                update={"server_id": arm.server_id, "connector": spec_arm.connector}
            )
            entry = connector_entry(
                self.config, lab_arm, name=arm.connector, topic_prefix=arm.topic_prefix
            )
            configs[arm.name] = entry["config"]
        self._registered = list(self.arms)
        register_run_connectors(self.arms, configs)
        return warnings

    def cleanup(self) -> list[str]:
        """Delete this run's connectors, resume the standing ones. Tries every step."""
        errors = delete_run_connectors(self._registered)
        for arm in self._paused:
            try:
                ConnectRest(arm.rest_url).request(
                    "PUT", f"/connectors/{arm.standing_connector}/resume"
                )
            except ConnectionError as exc:
                errors.append(f"could not resume {arm.standing_connector}: {exc}")
        self._registered, self._paused = [], []
        return errors + self.restore_sysctls()

    def close(self) -> list[str]:
        """The lab stays up between runs: nothing to close."""
        return []

    # -- what the clock uses ------------------------------------------------------------
    def writer(self) -> CanaryWriter:
        return CanaryWriter(
            writer_account(self.config, connect_timeout=3.0), self.config.canary_table
        )

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter:
        return LoadWriter(
            writer_account(self.config, connect_timeout=3.0),
            self.config.load_table,
            load,
            on_error=on_error,
        )

    def watcher(self) -> CanaryWatcher:
        return CanaryWatcher(self.config.kafka_bootstrap, {a.name: a.topic for a in self.arms})

    def rest(self, arm: RunArm) -> ConnectRest:
        return ConnectRest(arm.rest_url, timeout=1.5, attempts=2, backoff=0.2)

    def metrics(self, arm: RunArm) -> StreamingMetrics:
        """Debezium's streaming metrics of this run's connector on the arm's worker."""
        return JolokiaMetrics(arm.metrics_url, timeout=1.0).streaming(arm.topic_prefix)

    def thread_dump(self, arm_name: str) -> str:
        """`jcmd <pid> Thread.print -l` of the arm's worker, over SSH on the connect host."""
        return jcmd_thread_dump(self.config, arm_name)

    # -- host tuning ----------------------------------------------------------------------
    def apply_sysctls(self) -> list[dict[str, str]]:
        """Set the spec's per-host sysctls; return what was set and what it replaced.

        Each one is remembered as soon as it is set, so a later failure still restores it
        (cleanup() restores; here too, before the error is raised)."""
        applied = self._sysctls = []
        try:
            self._set_sysctls(applied)
        except CdclabError:
            self.restore_sysctls()
            raise
        return list(applied)

    def _set_sysctls(self, applied: list[dict[str, str]]) -> None:
        for host_name, tuning in self.spec.hosts.items():
            with self.ssh_for(host_name) as ssh:
                for key, value in tuning.sysctls.items():
                    previous = ssh.run(["sysctl", "-n", key])
                    if not previous.ok:
                        raise CdclabError(f"hosts.{host_name}.sysctls: {key}: {previous.stderr}")
                    done = ssh.run(["sysctl", "-w", f"{key}={value}"])
                    if not done.ok:
                        raise CdclabError(f"hosts.{host_name}.sysctls: {key}: {done.stderr}")
                    applied.append(
                        {
                            "host": host_name,
                            "key": key,
                            "value": value,
                            "previous": " ".join(previous.stdout.split()),
                        }
                    )

    def restore_sysctls(self) -> list[str]:
        errors = []
        for item in reversed(self._sysctls):
            try:
                with self.ssh_for(item["host"]) as ssh:
                    done = ssh.run(["sysctl", "-w", f"{item['key']}={item['previous']}"])
                if not done.ok:
                    errors.append(
                        f"could not restore {item['key']} on {item['host']}: {done.stderr}"
                    )
            except CdclabError as exc:
                errors.append(f"could not restore {item['key']} on {item['host']}: {exc}")
        self._sysctls = []
        return errors

    # -- faults ---------------------------------------------------------------------------
    def ssh_for(self, host_name: str):
        return ssh_to(self.config.db if host_name == "db" else self.config.connect)

    def fault_actions(self, run_id: str) -> list[FaultAction]:
        return plan_faults(self.spec, self.config.addresses, run_id)

    @property
    def fault_heal_dir(self) -> str:
        return str(fault_heal_dir())

    def sweep_faults(self) -> list[str]:
        """Remove faults left by crashed runs on every host; say what was found."""
        swept = lab_sweep(self.config)
        return [f"{host}: {line}" for host, lines in swept.items() for line in lines]

    # -- facts for the manifest ---------------------------------------------------------
    def versions(self) -> dict[str, Any]:
        pinned = load_versions()
        facts: dict[str, Any] = {
            "kafka": pinned.kafka,
            "connect": pinned.kafka,
            "debezium": pinned.debezium,
            "debezium_connector": pinned.debezium_connector_artifact,
        }
        facts["arms"] = {
            arm.name: _plugin_versions(arm.debezium or pinned.debezium) for arm in self.config.arms
        }
        facts["binlog_client"] = facts["arms"][self.config.arms[0].name]["binlog_client"]
        with ssh_to(self.config.connect) as ssh:
            java = ssh.run(["java", "-version"])
            facts["jdk"] = (java.stderr or java.stdout).splitlines()[0] if java.ok else None
        with ssh_to(self.config.db) as ssh:
            version = ssh.run([*mariadb_client_argv(), "SELECT VERSION()"])
            facts["mariadb"] = version.stdout.strip() if version.ok else None
        return facts

    def hosts(self) -> dict[str, Any]:
        return {h.name: {"address": h.address, "namespace": h.namespace} for h in self.config.hosts}

    def tls(self) -> dict[str, Any]:
        """Negotiated TLS per arm, as the server saw this run's connections."""
        evidence = collect_tls_evidence(self.config)
        return {name: tls.model_dump() for name, tls in evidence.items()}

    def collect_logs(self, results: Path) -> None:
        if lab_owner() != state_dir():
            # A failed lab.up took the lab down: no host is left to fetch from over SSH.
            raise CdclabError(
                "the lab is down, so no log was copied into the results; the workers' logs "
                f"stay in {state_dir()}/connect/<arm>/log, the broker's in "
                f"{state_dir()}/kafka/log"
            )
        run_playbook(
            "collect.yml",
            inventory=LOCAL_INVENTORY,
            extravars={**lab_extravars(self.config), "cdclab_results_dir": str(results)},
            event_handler=self.event_handler,
            artifact_dir=self.artifact_dir,
        )
