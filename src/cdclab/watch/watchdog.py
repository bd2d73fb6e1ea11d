"""The watchdog: the experiment clock (same canaries, same detector, same journals) run
until stopped against connectors that must keep working, with actions on an episode.

A watch directory is a results directory: `invoke report DIR` reads it. Restarting a
watch on the same directory continues its journals (append-only), with a new session id
so its canary ids never collide with the last session's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaException

from cdclab import __version__
from cdclab.canary import CanaryWatcher, CanaryWriter, DbAccount
from cdclab.connect_rest import ConnectRest
from cdclab.core.detector import Episode
from cdclab.core.journal import Journal, utc_iso
from cdclab.experiment.clock import ClockHooks, ClockIO, ExperimentClock
from cdclab.experiment.results import RunDirectory, new_run_id
from cdclab.progress import console
from cdclab.report.render import build_report
from cdclab.targets.run_connectors import RunArm
from cdclab.watch.actions import AutoRestart, CloudWatch, Webhook
from cdclab.watch.config import WatchConfig

KAFKA_RETRY_S = 10.0


class TeeJournal:
    """A journal that also hands every record to a callback (metrics publishing)."""

    def __init__(self, journal: Journal, on_record):
        self.journal = journal
        self.on_record = on_record

    def write(self, record: dict[str, Any]) -> None:
        self.journal.write(record)
        with contextlib.suppress(Exception):  # an action must never cost a check
            self.on_record(record)

    def close(self) -> None:
        self.journal.close()


@dataclass
class WatchOutcome:
    directory: Path
    status: str
    episodes: int
    verdict: list[str]


class Watchdog:
    def __init__(
        self,
        config: WatchConfig,
        account: DbAccount,
        table: str,
        directory: Path,
        *,
        target: str = "explicit",
        duration: float | None = None,
        cloudwatch_client=None,
        kafka_security: dict[str, Any] | None = None,
    ):
        """`kafka_security`: librdkafka's settings for the cluster (TLS, SASL), resolved
        by the place; kept out of the config, which is journalled."""
        self.config = config
        self.kafka_security = kafka_security
        self.account = account
        self.table = table
        self.directory = directory
        self.target = target
        self.duration = duration
        self.session_id = new_run_id()
        self.stop = threading.Event()
        self._clock: ExperimentClock | None = None
        self._by_arm = {c.name: c for c in config.connectors}
        self._cloudwatch_client = cloudwatch_client
        self.episodes = 0

    # -- journals -------------------------------------------------------------------------
    def _open(self) -> tuple[RunDirectory, bool]:
        resumed = (self.directory / "checks.jsonl").exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        run = RunDirectory(self.directory, self.session_id)
        spec = self.config.clock_spec(self.duration)
        if not resumed:
            (self.directory / "spec.yaml").write_text(
                yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
            )
            run.update_manifest(
                kind="watch",
                name=self.config.name,
                started_at=utc_iso(time.time()),
                cdclab_version=__version__,
            )
        run.update_manifest(
            run_id=self.session_id,
            target=self.target,
            status="running",
            connectors={c.name: c.model_dump() for c in self.config.connectors},
        )
        return run, resumed

    def _event(self, kind: str, **fields) -> None:
        self.events.write({"at": utc_iso(time.time()), "event": kind, **fields})

    # -- actions ----------------------------------------------------------------------------
    def _silent(self, arm: str) -> bool:
        clock = self._clock
        return clock is not None and clock.tracker.detectors[arm].episode is not None

    def _act(self, action, *args) -> None:
        """Run an action off the clock's thread (a slow webhook or REST call must not shift
        the canary schedule), one at a time, in order; failures are journaled."""

        def guarded():
            try:
                action(*args)
            except Exception as exc:
                self._event(
                    "action_error", action=getattr(action, "__qualname__", "?"), error=str(exc)
                )

        self._actions.submit(guarded)

    def _on_check(self, record: dict[str, Any]) -> None:
        if self.cloudwatch is not None:
            arm = record["arm"]
            self._act(self.cloudwatch.on_check, record, self._by_arm[arm], self._silent(arm))

    def _on_episode(self, kind: str, episode: Episode) -> None:
        connector = self._by_arm[episode.arm]
        if kind == "open":
            self.episodes += 1
            console.print(
                f"[red]SILENT FAILURE[/red] {connector.connector}: RUNNING, no canary since "
                f"{utc_iso(episode.start)} (detected {utc_iso(episode.detected_at)})"
            )
        else:
            console.print(
                f"[green]delivery resumed[/green] {connector.connector} after "
                f"{episode.duration_s or 0:.1f}s"
            )
            if self.restart is not None:
                self._act(self.restart.on_episode_closed, episode)
        if self.webhook is not None:
            self._act(self.webhook.on_episode, kind, episode, connector)

    def _each_second(self, clock: ExperimentClock, end: float) -> None:
        if self.restart is None:
            return
        for episode in clock.tracker.open_episodes():
            self._act(self.restart.consider, episode, self._by_arm[episode.arm])

    # -- the watch --------------------------------------------------------------------------
    def run(self) -> WatchOutcome:
        run, resumed = self._open()
        self.events = Journal(self.directory / "events.jsonl")
        self._actions = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdclab-action")
        self.checks = checks = TeeJournal(Journal(self.directory / "checks.jsonl"), self._on_check)
        self.webhook = Webhook(self.config.webhook, self._event) if self.config.webhook else None
        self.restart = (
            AutoRestart(self.config.restart, self._event) if self.config.restart else None
        )
        self.cloudwatch = None
        if self.config.cloudwatch is not None:
            self.cloudwatch = CloudWatch(
                self.config.cloudwatch, self._cloudwatch_client, self._event
            )
        self._event(
            "watch_resume" if resumed else "watch_start",
            session=self.session_id,
            connectors=[c.connector for c in self.config.connectors],
            interval_s=self.config.canary.interval,
            deadline_s=self.config.canary.first_deadline,
            misses=self.config.detector.misses,
        )
        status = "failed"
        try:
            if self.cloudwatch is not None:
                try:
                    self.cloudwatch.ensure_alarms(
                        self.config.connectors, self.config.canary.interval
                    )
                except Exception as exc:
                    self._event("action_error", action="cloudwatch-alarm", error=str(exc))
            status = self._watch()
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            self._actions.shutdown(wait=True)
            self._event("watch_end", status=status, session=self.session_id)
            checks.close()
            self.events.close()
            run.update_manifest(status=status, ended_at=utc_iso(time.time()))
        summary = build_report(self.directory, allow_empty=True)
        return WatchOutcome(self.directory, status, self.episodes, summary.verdict)

    def _watcher(self) -> CanaryWatcher | None:
        """The arms' topics from their end; Kafka down is recorded and retried, not fatal."""
        topics = {c.name: c.topic for c in self.config.connectors}
        while not self.stop.is_set():
            watcher = CanaryWatcher(self.config.kafka_bootstrap, topics, self.kafka_security)
            try:
                watcher.start_at_end()
                return watcher
            except (KafkaException, RuntimeError) as exc:
                watcher.close()
                self._event("kafka_unavailable", error=str(exc), retry_in_s=KAFKA_RETRY_S)
                self.stop.wait(KAFKA_RETRY_S)
        return None

    def _watch(self) -> str:
        from cdclab.experiment.signals import StopOnSignals

        arms = [
            RunArm(
                name=c.name,
                description=c.connector,
                jvm_opts="",
                rest_url=c.connect_url,
                metrics_url="",
                connector=c.connector,
                standing_connector="",
                topic=c.topic,
                server_id=0,
            )
            for c in self.config.connectors
        ]
        spec = self.config.clock_spec(self.duration)
        writer = CanaryWriter(self.account, self.table)
        with StopOnSignals(self.stop):
            watcher = self._watcher()
            if watcher is None:
                return "interrupted"
            try:
                while not self.stop.is_set():
                    io = ClockIO(
                        writer, watcher, self.checks, self.events, self.directory / "dumps"
                    )
                    hooks = ClockHooks(
                        rest_for=_rest,
                        thread_dump=_no_dumps,
                        progress=self._each_second,
                        on_episode=self._on_episode,
                    )
                    clock = ExperimentClock(spec, arms, self.session_id, io, hooks)
                    clock.stop = self.stop  # Ctrl-C stops the cycle and the watch
                    self._clock = clock
                    result = clock.run()
                    if self.duration is not None:
                        return result.status
                return "interrupted"
            finally:
                writer.close()
                watcher.close()


def _rest(arm: RunArm) -> ConnectRest:
    return ConnectRest(arm.rest_url, timeout=1.5, attempts=2, backoff=0.2)


def _no_dumps(arm: str) -> str:
    raise RuntimeError("the watchdog takes no thread dumps (`invoke dump --arm A` does)")
