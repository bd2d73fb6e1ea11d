"""One experiment, start to finish, in phases: preflight, prepare, clock, teardown, report.

The target (targets/) does everything that depends on where the run happens; this module
only orders the phases. Teardown steps each run even if an earlier one failed (ducktape
style); the report is always written, from whatever the journals hold.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from cdclab import __version__
from cdclab.core.deadline import LearnedDeadline
from cdclab.core.durations import format_duration
from cdclab.core.journal import Journal, utc_iso
from cdclab.core.spec import ExperimentSpec
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.experiment.clock import ClockHooks, ClockIO, ExperimentClock
from cdclab.experiment.follow import FollowedRun
from cdclab.experiment.live import LiveProgress
from cdclab.experiment.results import RunDirectory, new_run_id
from cdclab.experiment.signals import StopOnSignals
from cdclab.faults.executor import FaultExecutor
from cdclab.load import LoadWriter
from cdclab.paths import results_dir
from cdclab.progress import ansible_printer, console
from cdclab.report.render import build_report
from cdclab.targets import target_for
from cdclab.targets.base import HandsOver, Target

__all__ = ["RunOutcome", "StopOnSignals", "describe_plan", "run_experiment"]
DRY_RUN_ID = "00000000"  # a --dry-run plans with this id and creates nothing
EXIT_STATUS = {0: "completed", 1: "failed", 130: "interrupted"}  # a handed-over run's exit


@dataclass
class RunOutcome:
    directory: Path
    status: str
    verdict: list[str]
    errors: list[str]


@dataclass
class Run:
    """What the phases of one run share."""

    spec: ExperimentSpec
    target: Target
    directory: RunDirectory
    events: Journal
    checks: Journal
    status: str = "failed"
    errors: list[str] = field(default_factory=list)

    def event(self, kind: str, **fields: Any) -> None:
        self.events.write({"at": utc_iso(time.time()), "event": kind, **fields})

    def fail(self, message: str) -> None:
        self.errors.append(message)
        self.event("error", error=message)


def describe_plan(spec: ExperimentSpec) -> str:
    """--dry-run: the resolved plan; nothing is created or changed."""
    arms = spec.resolved_arms()
    lines = [
        f"experiment {spec.name} on target {spec.target}: {spec.description}",
        f"duration {format_duration(spec.duration)}; a canary every "
        f"{format_duration(spec.canary.interval)} → {spec.expected_canaries} canaries per arm, "
        f"{spec.expected_canaries * len(arms)} checks in all",
        f"{spec.canary.describe_deadline()} (later = late, never = missing); "
        f"silent failure after {spec.detector.misses} overdue canaries in a row while RUNNING",
        *target_for(spec, DRY_RUN_ID).describe_plan(),
        f"thread dumps on: {', '.join(spec.dumps.triggers) or 'nothing'} "
        f"(at most one per arm every {format_duration(spec.dumps.min_interval)})",
    ]
    return "\n".join(lines)


def run_experiment(
    spec: ExperimentSpec,
    results_root: Path | None = None,
    target: Target | HandsOver | None = None,
    *,
    detach: bool = False,
) -> RunOutcome:
    """One run, in a new directory under results_root (default: the results directory), on
    the spec's target (or the one given: the run handed over to an EC2 instance). `detach`:
    a run handed over is started and left running there."""
    target = target or target_for(spec, new_run_id(), event_handler=ansible_printer(verbose=False))
    if detach and not target.hands_over:
        raise InvalidInputError(
            f"--detach: a run on the {target.kind} target runs here and cannot be left; runs "
            "handed over to an EC2 instance (--target aws) can"
        )
    target.check_prerequisites()
    with target.exclusive():
        target.preflight()  # bad settings fail here, before a results directory exists
        if target.hands_over:  # the clock runs where the arms are (an EC2 instance)
            return _hand_over(spec, target, results_root or results_dir(), detach)
        run = _start(spec, target, results_root)
        try:
            _prepare(run)
            _clock(run)
        except KeyboardInterrupt:
            run.status = "interrupted"
        except (CdclabError, KafkaException, RuntimeError) as exc:
            run.fail(str(exc))
        except Exception as exc:  # anything else still gets a status, a report and teardown
            run.fail(f"{type(exc).__name__}: {exc}")
        finally:
            _teardown(run)
        return _report(run)


# -- the phases ---------------------------------------------------------------------------
def _start(spec: ExperimentSpec, target: Target, results_root: Path | None = None) -> Run:
    run_id = target.run_id
    directory = RunDirectory.create(spec, run_id, results_root)
    target.artifact_dir = directory.path / "ansible"
    console.print(f"[bold]{spec.name}[/bold] run {run_id} → {directory.path}")
    directory.update_manifest(
        run_id=run_id,
        name=spec.name,
        target=spec.target,
        substrate=target.substrate,
        status="starting",
        started_at=utc_iso(time.time()),
        cdclab_version=__version__,
    )
    events = Journal(directory.path / "events.jsonl")
    checks = Journal(directory.path / "checks.jsonl")
    return Run(spec, target, directory, events, checks)


def _prepare(run: Run) -> None:
    """Arms up, this run's connectors registered, host tuning applied, leftovers swept."""
    target = run.target
    run.event("run_start", run_id=run.directory.run_id, arms=[a.name for a in target.arms])
    console.print(target.preparing)
    for warning in target.prepare():
        console.print(f"[yellow]warning:[/yellow] {warning}")
        run.event("leftover_swept", detail=warning)
    run.event("connectors_registered", connectors={a.name: a.connector for a in target.arms})
    tuned = target.apply_sysctls()
    for item in tuned:
        run.event("sysctl", **item)
        console.print(f"{item['host']}: {item['key']} = {item['value']} (was {item['previous']})")
    run.directory.update_manifest(
        **({"sysctls": tuned} if tuned else {}), status="running", **_target_facts(target)
    )
    for leftover in target.sweep_faults():
        console.print(
            f"[yellow]warning: removed a fault left by an earlier run:[/yellow] {leftover}"
        )
        run.event("fault_swept", detail=leftover)


def _target_facts(target: Target) -> dict[str, Any]:
    return {
        "versions": target.versions(),
        "hosts": target.hosts(),
        "tls": target.tls(),
        "arms": {
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
    }


def _deadline_learned(run: Run, learned: LearnedDeadline) -> None:
    run.directory.record_deadline(learned)
    console.print(f"deadline {format_duration(learned.deadline_s)}: {learned.rule}")


def _clock(run: Run) -> None:
    """The canary clock, with the fault schedule and the write load beside it."""
    spec, target = run.spec, run.target
    executor = _fault_executor(run)
    writer, watcher = target.writer(), target.watcher()
    try:
        arms = spec.resolved_arms()
        watcher.ensure_topics({a.topic: arms[a.name].topic_creation() for a in target.arms})
        watcher.start_at_end()
        io = ClockIO(writer, watcher, run.checks, run.events, run.directory.path / "dumps")
        hooks = ClockHooks(
            rest_for=target.rest,
            thread_dump=target.thread_dump,
            metrics_for=target.metrics if spec.metrics.enabled else None,
            on_start=executor.start if executor else None,
            faults_active=(lambda: bool(executor.active)) if executor else (lambda: False),
            on_deadline=lambda learned: _deadline_learned(run, learned),
        )
        clock = ExperimentClock(spec, target.arms, run.directory.run_id, io, hooks)
        load = _start_load(run)
        try:
            with LiveProgress() as live, StopOnSignals(clock.stop):
                clock.progress = live
                result = clock.run()
        finally:
            _stop_load(run, load)
            _stop_faults(run, executor)
        run.status = result.status
        if result.unresolved:
            run.errors.append(
                f"{result.unresolved} canary(ies) written in the last deadline "
                "before the stop were not resolved and are not counted"
            )
    finally:
        writer.close()
        watcher.close()


def _teardown(run: Run) -> None:
    """Every step runs, whatever the one before it did; the journals close last."""
    target, errors = run.target, []
    for step, what in (
        (target.cleanup, "connector cleanup"),
        (lambda: target.collect_logs(run.directory.path), "log collection"),
        (target.close, "closing the target"),
    ):
        try:
            errors += step() or []
        except Exception as exc:
            errors.append(f"{what} failed: {exc}")
    for error in errors:
        run.event("teardown_error", error=error)
    run.errors += errors
    run.event("run_end", status=run.status)
    run.checks.close()
    run.events.close()
    run.directory.finish(run.status, time.time())


def _report(run: Run) -> RunOutcome:
    summary = build_report(run.directory.path, allow_empty=True)
    handshakes = {arm: h.model_dump() for arm, h in summary.handshakes.items()}
    run.directory.update_manifest(
        # each arm's handshake table, from javax.net.debug, when the run had it
        **({"tls_handshakes": handshakes} if handshakes else {}),
        checksums=run.directory.checksums(),
    )
    return RunOutcome(run.directory.path, run.status, summary.verdict, run.errors)


# -- a run handed over --------------------------------------------------------------------
def _hand_over(
    spec: ExperimentSpec, target: HandsOver, results_root: Path, detach: bool
) -> RunOutcome:
    """Prepare the place, start the run there, follow its journals, pull its results."""
    console.print(f"[bold]{spec.name}[/bold] run {target.run_id}: the clock runs on the instance")
    errors: list[str] = []
    directory, leave = None, False
    try:
        console.print(target.preparing)
        for warning in target.prepare():
            console.print(f"[yellow]warning:[/yellow] {warning}")
        remote = target.start_remote()
        if detach:
            leave = True  # the instance, its run and its session stay as they are
            return _detached(spec, target, errors)
        stop = threading.Event()
        with StopOnSignals(stop):
            code = remote.follow(FollowedRun().line, stop_requested=stop.is_set)
        if code not in EXIT_STATUS:
            errors.append(f"the run on the instance ended with {code}: {remote.console_tail()}")
        directory = remote.pull(results_root)
    except (CdclabError, KafkaException, RuntimeError) as exc:
        errors.append(str(exc))
    finally:
        if not leave:
            errors += target.close()
    if directory is None:
        raise CdclabError("; ".join(errors) or "the run on the instance left no results")
    manifest = json.loads((directory / "manifest.json").read_text())
    summary = json.loads((directory / "summary.json").read_text())
    return RunOutcome(directory, manifest.get("status", "failed"), summary["verdict"], errors)


def _detached(spec: ExperimentSpec, target: HandsOver, errors: list[str]) -> RunOutcome:
    """The run goes on on the instance, which stays until `results.pull` removes it."""
    run = target.run_id
    return RunOutcome(
        Path(f"(on the instance; `invoke results.pull {run}` fetches it)"),
        "detached",
        [
            f"run {run} is running on the instance for {format_duration(spec.duration)}",
            f"follow it: invoke experiment.attach {run}",
            f"stop it: invoke experiment.stop {run}",
            f"fetch its results (then remove the instance): invoke results.pull {run}",
        ],
        errors,
    )


# -- beside the clock ---------------------------------------------------------------------
def _fault_executor(run: Run) -> FaultExecutor | None:
    actions = run.target.fault_actions(run.directory.run_id)
    if not actions:
        return None
    return FaultExecutor(
        actions,
        journal=Journal(run.directory.path / "faults.jsonl"),
        ssh_for=run.target.ssh_for,
        heal_dir=run.target.fault_heal_dir,
    )


def _stop_faults(run: Run, executor: FaultExecutor | None) -> None:
    if executor is not None:
        # Heals whatever is still applied (an interrupted run), loudly on failure.
        executor.stop("interrupt")
        run.errors.extend(executor.errors)
        executor.journal.close()


def _start_load(run: Run) -> LoadWriter | None:
    """The spec's background write load, if any, running beside the clock."""
    spec = run.spec
    if spec.load is None:
        return None
    errors = 0

    def on_error(error: str) -> None:
        nonlocal errors
        errors += 1
        if errors == 1 or errors % 100 == 0:  # a down database must not flood the journal
            run.event("load_error", error=error, errors_so_far=errors)

    load = run.target.load_writer(spec.load, on_error)
    run.event("load_start", **spec.load.model_dump())
    load.start()
    return load


def _stop_load(run: Run, load: LoadWriter | None) -> None:
    if load is not None and run.spec.load is not None:
        totals = load.stop()
        run.event("load_end", **asdict(totals))
        run.directory.update_manifest(load={**run.spec.load.model_dump(), **asdict(totals)})
