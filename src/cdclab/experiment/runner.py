"""One experiment, start to finish: validate, lab up, register, clock, collect, report.

Teardown steps each run even if an earlier one failed (ducktape style); the report is
always written, from whatever the journals hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from cdclab import __version__
from cdclab.errors import CdclabError
from cdclab.experiment.clock import ExperimentClock
from cdclab.experiment.durations import format_duration
from cdclab.experiment.journal import Journal, utc_iso
from cdclab.experiment.live import LiveProgress
from cdclab.experiment.load import LoadWriter
from cdclab.experiment.local_target import LocalTarget, lab_config_for
from cdclab.experiment.results import RunDirectory, new_run_id
from cdclab.experiment.spec import ExperimentSpec
from cdclab.faults.executor import GRACE_S, FaultExecutor
from cdclab.faults.plan import plan_faults
from cdclab.prereqs import check_lab_prerequisites
from cdclab.progress import ansible_printer, console
from cdclab.report.render import build_report

if TYPE_CHECKING:
    from cdclab.aws.target import AwsTarget

    Target = LocalTarget | AwsTarget


@dataclass
class RunOutcome:
    directory: Path
    status: str
    verdict: list[str]
    errors: list[str]


def describe_plan(spec: ExperimentSpec) -> str:
    """--dry-run: the resolved plan; nothing is created or changed."""
    arms = spec.resolved_arms()
    lines = [
        f"experiment {spec.name} on target {spec.target}: {spec.description}",
        f"duration {format_duration(spec.duration)}; a canary every "
        f"{format_duration(spec.canary.interval)} → {spec.expected_canaries} canaries per arm, "
        f"{spec.expected_canaries * len(arms)} checks in all",
        f"deadline {format_duration(spec.canary.deadline)} (later = late, never = missing); "
        f"silent failure after {spec.detector.misses} overdue canaries in a row while RUNNING",
    ]
    if spec.target == "aws":
        from cdclab.aws.plan import describe_aws_plan

        lines += describe_aws_plan(spec)
    else:
        lines += _local_plan(spec)
    lines.append(
        f"thread dumps on: {', '.join(spec.dumps.triggers) or 'nothing'} "
        f"(at most one per arm every {format_duration(spec.dumps.min_interval)})"
    )
    return "\n".join(lines)


def _local_plan(spec: ExperimentSpec) -> list[str]:
    config = lab_config_for(spec)
    arms = spec.resolved_arms()
    lines = [
        "hosts: " + ", ".join(f"{h.name} {h.address} ({h.namespace})" for h in config.hosts),
        f"kafka: {config.kafka_bootstrap}; db: {config.db.address}:{config.db_port}",
    ]
    for name, arm in arms.items():
        lab_arm = config.arm(name)
        lines.append(f"arm {name}: worker {config.rest_url(lab_arm)}, " + arm.describe())
    if spec.load:
        lines.append(spec.load.describe(f"{config.database}.{config.load_table}"))
    for host, tuning in spec.hosts.items():
        for key, value in tuning.sysctls.items():
            lines.append(f"host {host}: sysctl {key} = {value} for the run (restored after)")
    if spec.metrics.enabled:
        lines.append(
            "metrics: Debezium's streaming MBean of every arm read at each canary "
            f"(Jolokia on {', '.join(config.metrics_url(config.arm(n)) for n in arms)})"
        )
    actions = plan_faults(spec, config.addresses, "dryrun")
    if not actions:
        lines.append("faults: none scheduled")
    for action in actions:
        lines.append(
            f"fault {action.fault_id}: {action.label} at +{format_duration(action.scheduled_at)}"
            f" (healed at +{format_duration(action.scheduled_at + action.duration)}; dead-man "
            "switch on the host at "
            f"+{format_duration(action.scheduled_at + action.duration + GRACE_S)})"
        )
    return lines


class StopOnSignals:
    """SIGINT/SIGTERM during the clock stop it cleanly; a second SIGINT aborts the drain."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        console.print(
            f"[yellow]{signal.Signals(signum).name}: stopping, writing the report…[/yellow]"
        )
        self.stop.set()

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


RUN_LOCK = Path("/run/cdclab/experiment.lock")


@contextlib.contextmanager
def _one_run_at_a_time():
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


def run_experiment(spec: ExperimentSpec) -> RunOutcome:
    if spec.target == "aws":
        # Needs no root here: the instance is driven over SSH, its own sudo does the rest.
        return _run(spec)
    check_lab_prerequisites()
    with _one_run_at_a_time():
        return _run(spec)


def _target_for(spec: ExperimentSpec, run_id: str) -> Target:
    handler = ansible_printer(verbose=False)
    if spec.target == "aws":
        from cdclab.aws.target import AwsTarget

        return AwsTarget(spec, run_id, artifact_dir=None, event_handler=handler)
    return LocalTarget(spec, run_id, artifact_dir=None, event_handler=handler)


def _run(spec: ExperimentSpec) -> RunOutcome:
    run_id = new_run_id()
    target = _target_for(spec, run_id)
    target.preflight()  # bad settings fail here, before a results directory exists
    run = RunDirectory.create(spec, run_id)
    target.artifact_dir = run.path / "ansible"
    console.print(f"[bold]{spec.name}[/bold] run {run_id} → {run.path}")
    events = Journal(run.path / "events.jsonl")
    checks = Journal(run.path / "checks.jsonl")
    started = time.time()
    run.update_manifest(
        run_id=run_id,
        name=spec.name,
        target=spec.target,
        substrate=target.substrate,
        status="starting",
        started_at=utc_iso(started),
        cdclab_version=__version__,
    )
    status, errors = "failed", []

    def event(kind: str, **fields) -> None:
        events.write({"at": utc_iso(time.time()), "event": kind, **fields})

    try:
        event("run_start", run_id=run_id, arms=[a.name for a in target.arms])
        console.print(
            "provisioning and deploying the AWS host, registering this run's connectors…"
            if spec.target == "aws"
            else "preparing the lab and this run's connectors…"
        )
        for warning in target.prepare():
            console.print(f"[yellow]warning:[/yellow] {warning}")
            event("leftover_swept", detail=warning)
        event("connectors_registered", connectors={a.name: a.connector for a in target.arms})
        tuned = target.apply_sysctls()
        for item in tuned:
            event("sysctl", **item)
            console.print(
                f"{item['host']}: {item['key']} = {item['value']} (was {item['previous']})"
            )
        run.update_manifest(
            **({"sysctls": tuned} if tuned else {}),
            status="running",
            versions=target.versions(),
            hosts=target.hosts(),
            tls=target.tls(),
            arms={
                a.name: {
                    "description": a.description,
                    "jvm_opts": a.jvm_opts,
                    "connector": a.connector,
                    "topic": a.topic,
                    "rest_url": a.rest_url,
                    "server_id": a.server_id,
                }
                for a in target.arms
            },
        )
        for leftover in target.sweep_faults():
            console.print(
                f"[yellow]warning: removed a fault left by an earlier run:[/yellow] {leftover}"
            )
            event("fault_swept", detail=leftover)
        actions = target.fault_actions(run_id)
        executor = (
            FaultExecutor(
                actions,
                journal=Journal(run.path / "faults.jsonl"),
                ssh_for=target.ssh_for,
                heal_dir=target.fault_heal_dir,
            )
            if actions
            else None
        )
        writer, watcher = target.writer(), target.watcher()
        try:
            watcher.ensure_topics()
            watcher.start_at_end()
            clock = ExperimentClock(
                spec,
                arms=target.arms,
                rest_for=target.rest,
                writer=writer,
                watcher=watcher,
                checks=checks,
                events=events,
                run_id=run_id,
                dumps_dir=run.path / "dumps",
                thread_dump=target.thread_dump,
                on_start=executor.start if executor else None,
                faults_active=(lambda: bool(executor.active)) if executor else (lambda: False),
                metrics_for=target.metrics if spec.metrics.enabled else None,
            )
            load = _start_load(spec, target, event)
            try:
                with LiveProgress() as live, StopOnSignals(clock.stop):
                    clock.progress = live
                    result = clock.run()
            finally:
                if load is not None:
                    totals = load.stop()
                    event("load_end", **asdict(totals))
                    run.update_manifest(load={**spec.load.model_dump(), **asdict(totals)})
                if executor is not None:
                    # Heals whatever is still applied (an interrupted run), loudly on failure.
                    executor.stop("interrupt")
                    errors.extend(executor.errors)
                    executor.journal.close()
            status = result.status
            if result.unresolved:
                errors.append(
                    f"{result.unresolved} canary(ies) written in the last deadline "
                    "before the stop were not resolved and are not counted"
                )
        finally:
            writer.close()
            watcher.close()
    except KeyboardInterrupt:
        status = "interrupted"
    except (CdclabError, KafkaException, RuntimeError) as exc:
        errors.append(str(exc))
        event("error", error=str(exc))
    except Exception as exc:  # anything else still gets a status, a report and teardown
        errors.append(f"{type(exc).__name__}: {exc}")
        event("error", error=f"{type(exc).__name__}: {exc}")
    finally:
        for cleanup_error in _teardown(target, run, event):
            errors.append(cleanup_error)
        event("run_end", status=status)
        checks.close()
        events.close()
        run.finish(status, time.time())
    summary = build_report(run.path, allow_empty=True)
    handshakes = {arm: h.model_dump() for arm, h in summary.handshakes.items()}
    run.update_manifest(
        # the field report's handshake table, from javax.net.debug, when the run had it
        **({"tls_handshakes": handshakes} if handshakes else {}),
        checksums=run.checksums(),
    )
    return RunOutcome(run.path, status, summary.verdict, errors)


def _start_load(spec: ExperimentSpec, target: Target, event) -> LoadWriter | None:
    """The spec's background write load, if any, running beside the clock."""
    if spec.load is None:
        return None
    errors = 0

    def on_error(error: str) -> None:
        nonlocal errors
        errors += 1
        if errors == 1 or errors % 100 == 0:  # a down database must not flood the journal
            event("load_error", error=error, errors_so_far=errors)

    load = target.load_writer(spec.load, on_error)
    event("load_start", **spec.load.model_dump())
    load.start()
    return load


def _teardown(target: Target, run: RunDirectory, event) -> list[str]:
    errors = []
    try:
        errors += target.cleanup()
    except Exception as exc:  # every step runs, whatever the last one did
        errors.append(f"connector cleanup failed: {exc}")
    try:
        target.collect_logs(run.path)
    except Exception as exc:
        errors.append(f"log collection failed: {exc}")
    try:
        errors += target.close()
    except Exception as exc:
        errors.append(f"closing the target failed: {exc}")
    for error in errors:
        event("teardown_error", error=error)
    return errors
