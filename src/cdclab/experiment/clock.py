"""The experiment clock: a canary every interval, arrivals timed, outcomes settled.

One thread owns the schedule, the consumer and the tracker; REST polls run in a small
pool so a slow worker cannot shift the schedule, and thread dumps run in the background.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pymysql

from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.connect_rest import UNREACHABLE, ConnectorState, ConnectRest
from cdclab.core.deadline import DeadlineLearner, LearnedDeadline
from cdclab.core.detector import Episode
from cdclab.core.journal import Journal, utc_iso
from cdclab.core.spec import ExperimentSpec
from cdclab.dumps.take import dump_path
from cdclab.experiment.tracker import CanaryTracker, SoloFailure
from cdclab.metrics import StreamingMetrics
from cdclab.targets.run_connectors import RunArm

REST_BUDGET_S = 1.5  # a state not known by then is recorded as UNREACHABLE


@dataclass
class ClockResult:
    status: str  # completed | interrupted
    canaries_written: int
    write_errors: int
    unresolved: int  # written in the last deadline before an interruption: not counted


@dataclass
class ClockIO:
    """What the clock writes to and reads from."""

    writer: CanaryWriter
    watcher: CanaryWatcher
    checks: Journal
    events: Journal
    dumps_dir: Path


@dataclass
class ClockHooks:
    """How the clock reaches the arms, and tells the rest of the run what happened."""

    rest_for: Callable[[RunArm], ConnectRest]
    thread_dump: Callable[[str], str]
    metrics_for: Callable[[RunArm], StreamingMetrics] | None = None
    on_start: Callable[[float], None] | None = None  # the fault schedule starts with it
    faults_active: Callable[[], bool] = lambda: False
    on_episode: Callable[[str, Episode], None] | None = None  # ("open" | "close", …)
    progress: Callable[[ExperimentClock, float], None] | None = None
    on_deadline: Callable[[LearnedDeadline], None] | None = None  # learned from the warm-up


@dataclass(frozen=True)
class Slot:
    seq: int  # the slot to write now, or the next one to wait for
    write: bool
    skipped: int = 0  # slots the clock fell behind on
    quiet: tuple[float, float] | None = None  # the quiet window skipped


def due_slot(seq: int, late: float, interval: float, quiet: list[tuple[float, float]]) -> Slot:
    """What to do once slot seq is due (late seconds ago).

    A clock that fell behind skips the slots it missed (never a burst); a slot in a quiet
    window (offsets [start, end)) is not written, and the clock waits for the first slot at
    or after the window's end.
    """
    skipped = int(late // interval) if late > interval else 0
    seq += skipped
    for start, end in quiet:
        if start <= seq * interval < end:
            return Slot(math.ceil(end / interval - 1e-9), False, skipped, (start, end))
    return Slot(seq, True, skipped)


class ExperimentClock:
    def __init__(
        self, spec: ExperimentSpec, arms: list[RunArm], run_id: str, io: ClockIO, hooks: ClockHooks
    ):
        self.spec = spec
        self.arms = arms
        self.run_id = run_id
        self.writer, self.watcher, self.events = io.writer, io.watcher, io.events
        self.dumps_dir = io.dumps_dir
        self.rest_for, self.thread_dump = hooks.rest_for, hooks.thread_dump
        self.metrics_for, self.on_start = hooks.metrics_for, hooks.on_start
        self.faults_active, self.on_episode = hooks.faults_active, hooks.on_episode
        self.progress, self.on_deadline = hooks.progress, hooks.on_deadline
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, len(arms) + 2), thread_name_prefix="cdclab-clock"
        )
        self._last_state: dict[str, tuple[str, str]] = {}
        self._last_dump: dict[str, float] = {}
        self.started_at = 0.0
        names = [a.name for a in arms]
        self.learner = (
            DeadlineLearner(names, spec.canary.learn_settings())
            if spec.canary.deadline is None
            else None
        )
        self._during_faults: set[str] = set()  # warm-up canaries a fault may have slowed
        self._quiet = spec.quiet_windows()
        self.tracker = CanaryTracker(
            names,
            deadline_s=spec.canary.first_deadline,
            misses=spec.detector.misses,
            checks=io.checks,
            on_episode_open=self._episode_opened,
            on_episode_close=self._episode_closed,
            on_solo_failure=self._solo_failure,
            on_delivered=self._delivered,
            interval_s=spec.canary.interval,
        )

    # -- events -------------------------------------------------------------------------
    def _event(self, kind: str, **fields) -> None:
        self.events.write({"at": utc_iso(time.time()), "event": kind, **fields})

    def _episode_opened(self, episode: Episode) -> None:
        self._event(
            "silent_failure_open",
            arm=episode.arm,
            start=utc_iso(episode.start),
            detected_at=utc_iso(episode.detected_at),
            canaries=list(episode.canaries),
            witness=episode.witness,
        )
        if "episode_start" in self.spec.dumps.triggers:
            self._dump(episode.arm, "episode_start")
        if self.on_episode is not None:
            self.on_episode("open", episode)

    def _episode_closed(self, episode: Episode) -> None:
        self._event(
            "silent_failure_close",
            arm=episode.arm,
            start=utc_iso(episode.start),
            detected_at=utc_iso(episode.detected_at),
            end=utc_iso(episode.end),
            duration_s=round(episode.duration_s or 0, 3),
            canaries_affected=len(episode.canaries),
        )
        if self.on_episode is not None:
            self.on_episode("close", episode)

    def _solo_failure(self, solo: SoloFailure) -> None:
        self._event(
            "solo_failure",
            arm=solo.failed_arm,
            canary_id=solo.canary_id,
            delivered_on=solo.delivered_arms,
        )
        if "solo_failure" in self.spec.dumps.triggers:
            self._dump(solo.failed_arm, "solo_failure")

    def _dump(self, arm: str, trigger: str, min_interval: float | None = None) -> None:
        now = time.time()
        interval = self.spec.dumps.min_interval if min_interval is None else min_interval
        if now - self._last_dump.get(arm, 0.0) < interval:
            return
        self._last_dump[arm] = now
        self._pool.submit(self._take_dump, arm, trigger, now)

    def _take_dump(self, arm: str, trigger: str, at: float) -> None:
        path = dump_path(self.dumps_dir, arm, trigger, at)
        try:
            text = self.thread_dump(arm)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            self._event(
                "dump", arm=arm, trigger=trigger, path=str(path.relative_to(self.dumps_dir.parent))
            )
        except Exception as exc:  # a failed dump must never stop the run
            self._event("dump_error", arm=arm, trigger=trigger, error=str(exc))

    # -- the learned deadline -----------------------------------------------------------
    def _delivered(self, arm: str, canary_id: str, latency_ms: float) -> None:
        if self.learner is not None and canary_id not in self._during_faults:
            self.learner.add(arm, latency_ms)

    def _learn(self, now: float) -> None:
        if self.learner is None or not self.learner.ready(
            now - self.started_at, fault_on=self.faults_active()
        ):
            return
        learned = self.learner.result()
        self.learner = None
        self._during_faults.clear()
        self.tracker.set_deadline(learned.deadline_s)
        self._event("deadline_learned", **learned.as_record())
        if self.on_deadline is not None:
            self.on_deadline(learned)

    # -- REST ---------------------------------------------------------------------------
    def _poll_states(
        self,
    ) -> tuple[dict[str, ConnectorState | None], dict[str, StreamingMetrics]]:
        """REST state and streaming metrics of every arm, polled together in one budget."""
        futures = {
            arm.name: self._pool.submit(self.rest_for(arm).connector_state, arm.connector)
            for arm in self.arms
        }
        metric_futures = (
            {arm.name: self._pool.submit(self.metrics_for, arm) for arm in self.arms}
            if self.metrics_for is not None
            else {}
        )
        wait([*futures.values(), *metric_futures.values()], timeout=REST_BUDGET_S)
        metrics = {
            name: future.result()
            if future.done() and future.exception() is None
            else StreamingMetrics(error="metrics too slow")
            for name, future in metric_futures.items()
        }
        states: dict[str, ConnectorState | None] = {}
        for name, future in futures.items():
            if future.done() and future.exception() is None:
                states[name] = future.result()
            else:
                states[name] = ConnectorState(UNREACHABLE, UNREACHABLE, error="REST too slow")
            state = states[name]
            pair = (state.connector, state.task)
            if self._last_state.get(name) != pair:
                self._event(
                    "connector_state",
                    arm=name,
                    connector_state=pair[0],
                    task_state=pair[1],
                    previous=self._last_state.get(name),
                    error=state.error,
                )
                self._last_state[name] = pair
        return states, metrics

    # -- the loop -----------------------------------------------------------------------
    def _consume(self, until: float) -> None:
        # Wake for the next canary slot or the next deadline, whichever is first: a deadline
        # settled up to 200 ms late would delay every detection by as much (bench).
        wake = until
        next_deadline = self.tracker.next_deadline
        if next_deadline is not None:
            wake = min(wake, next_deadline + 0.002)
        timeout = max(0.0, min(0.2, wake - time.time()))
        for sighting in self.watcher.poll(timeout=timeout):
            self.tracker.sighted(sighting)
        now = time.time()
        self._learn(now)
        self.tracker.tick(now)

    def _write(self, seq: int) -> bool:
        """One canary, with every arm's state read just before it; False: not written."""
        states, metrics = self._poll_states()
        try:
            canary = self.writer.write(self.run_id, seq)
        except pymysql.MySQLError as exc:
            # The database, not CDC: never counted as a failure.
            self._event("write_error", seq=seq, error=str(exc))
            return False
        if self.learner is not None and self.faults_active():
            self._during_faults.add(canary.canary_id)
        self.tracker.written(canary, states, metrics)
        return True

    def _due_slot(self, seq: int, now: float) -> tuple[int, bool]:
        """(slot, write it?) once slot seq is due (see due_slot); says why slots are skipped."""
        interval = self.spec.canary.interval
        slot = due_slot(seq, now - (self.started_at + seq * interval), interval, self._quiet)
        if slot.skipped:
            self._event("schedule_slip", skipped_slots=slot.skipped, seq=seq)
        if slot.quiet is not None:
            self._event(
                "canary_quiet",
                start=utc_iso(self.started_at + slot.quiet[0]),
                end=utc_iso(self.started_at + slot.quiet[1]),
                reason="a fault's idle window: no canary, so the connection stays idle",
            )
        return slot.seq, slot.write

    def run(self) -> ClockResult:
        interval = self.spec.canary.interval
        self.started_at = start = time.time()
        end = start + self.spec.duration
        seq = 0
        written = 0
        write_errors = 0
        last_progress = 0.0
        self._event(
            "clock_start",
            interval_s=interval,
            deadline_s=self.tracker.deadline_s,
            deadline_rule="spec" if self.learner is None else "learning (the ceiling until then)",
            duration_s=self.spec.duration,
        )
        if self.on_start is not None:
            self.on_start(start)
        dump_during_faults = "fault" in self.spec.dumps.triggers
        fault_dump_every = self.spec.dumps.every or self.spec.dumps.min_interval
        try:
            while not self.stop.is_set() and time.time() < end:
                due = start + seq * interval
                now = time.time()
                if now >= due:
                    seq, write = self._due_slot(seq, now)
                    if write:
                        if self._write(seq):
                            written += 1
                        else:
                            write_errors += 1
                        seq += 1
                self._consume(until=min(start + seq * interval, end))
                if dump_during_faults and self.faults_active():
                    for arm in self.arms:
                        self._dump(arm.name, "fault", min_interval=fault_dump_every)
                if self.progress and time.time() - last_progress >= 1.0:
                    last_progress = time.time()
                    self.progress(self, end)
            # Let the last canaries reach their deadline (not after an interruption).
            while not self.stop.is_set() and self.tracker.unresolved:
                self._consume(until=time.time() + 0.2)
                if self.progress and time.time() - last_progress >= 1.0:
                    last_progress = time.time()
                    self.progress(self, end)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=False)
        status = "interrupted" if self.stop.is_set() else "completed"
        self._event(
            "clock_end",
            status=status,
            canaries_written=written,
            write_errors=write_errors,
            unresolved=self.tracker.unresolved,
        )
        return ClockResult(status, written, write_errors, self.tracker.unresolved)
