"""Runs a fault schedule beside the experiment clock, over persistent SSH sessions.

A thread sleeps until each apply or heal is due, so the clock's canaries never wait on
a fault. Every step lands in faults.jsonl: fault-start (scheduled), fault-applied,
fault-healed (by schedule, interrupt, dead-man or sweep), fault-error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cdclab.core.journal import Journal, utc_iso
from cdclab.faults.actions import DEADMAN_GRACE_S, FaultAction, cancel_deadman_command
from cdclab.ssh import SSHHost


@dataclass
class _Active:
    action: FaultAction
    heal_file: str
    deadman_pid: str | None
    applied_at: float


class FaultExecutor:
    def __init__(
        self,
        actions: list[FaultAction],
        *,
        journal: Journal,
        ssh_for: Callable[[str], SSHHost],
        heal_dir: str,
        on_applied: Callable[[FaultAction], None] = lambda a: None,
        on_healed: Callable[[FaultAction], None] = lambda a: None,
        grace_s: float = DEADMAN_GRACE_S,  # the dead-man switch fires at for + grace
    ):
        self.actions = sorted(actions, key=lambda a: a.scheduled_at)
        self.journal = journal
        self.ssh_for = ssh_for
        self.heal_dir = heal_dir
        self.on_applied = on_applied
        self.on_healed = on_healed
        self.grace_s = grace_s
        self._sessions: dict[str, SSHHost] = {}
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self.start_time = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, start_time: float) -> None:
        self.start_time = start_time
        for action in self.actions:
            self._record("fault-start", action, scheduled=start_time + action.scheduled_at)
        self._thread = threading.Thread(target=self._loop, name="cdclab-faults", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "interrupt") -> None:
        """Stop scheduling and heal whatever is still applied. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for fault_id in list(self._active):
            self._heal(fault_id, healed_by=reason)
        for session in self._sessions.values():
            session.close()

    @property
    def active(self) -> list[FaultAction]:
        return [a.action for a in self._active.values()]

    # -- the schedule ---------------------------------------------------------------------
    def _loop(self) -> None:
        self._prepare()
        steps = []
        for action in self.actions:
            steps.append((action.scheduled_at, 0, action))
            steps.append((action.scheduled_at + action.duration, 1, action))
        steps.sort(key=lambda s: (s[0], s[1]))
        for offset, kind, action in steps:
            if self._stop.wait(max(0.0, self.start_time + offset - time.time())):
                return
            if kind == 0:
                self._apply(action)
            elif action.fault_id in self._active:
                self._heal(action.fault_id, healed_by="schedule")

    def _heal_file(self, action: FaultAction) -> str:
        return f"{self.heal_dir}/{action.fault_id}.heal.sh"

    def _prepare(self) -> None:
        """Open the SSH sessions and write every heal script before the first fault is due,
        so applying one is a single round trip that lands on time."""
        for action in self.actions:
            heal_file = self._heal_file(action)
            heal = (
                f"#!/bin/sh\n# heal of {action.tag}\n{action.heal_script()}\n"
                f'[ -n "$1" ] && echo "$1 $(date +%s.%N)" > {heal_file}.healed-by\n'
                "exit 0\n"
            )
            try:
                ssh = self._session(action.host.name)
                ssh.run(f"mkdir -p {self.heal_dir} && cat > {heal_file}", stdin=heal)
            except Exception as exc:  # reported when the fault is due
                self.errors.append(f"{action.label}: could not prepare its heal: {exc}")

    def _session(self, host: str) -> SSHHost:
        if host not in self._sessions:
            self._sessions[host] = self.ssh_for(host)
        return self._sessions[host]

    def _apply(self, action: FaultAction) -> None:
        scheduled = self.start_time + action.scheduled_at
        heal_file = self._heal_file(action)
        try:
            ssh = self._session(action.host.name)
            # One round trip: refuse if the heal script is missing, arm the dead-man switch
            # (it must exist before the fault), then apply; a failed apply heals at once.
            command = (
                f"test -s {heal_file} || {{ echo 'heal script missing' >&2; exit 97; }}\n"
                f"{action.deadman_command(heal_file, self.grace_s)}\n"
                f"( {action.apply_script()}\n) || {{ sh {heal_file}; exit 98; }}"
            )
            applied = ssh.run(command)
            applied_at = time.time()
            deadman_pid = (applied.stdout.strip().splitlines() or [None])[0]
            if not applied.ok:
                raise RuntimeError(applied.stderr.strip() or f"rc {applied.rc}")
        except Exception as exc:  # a fault that cannot be applied must not stop the run
            self._record("fault-error", action, phase="apply", error=str(exc), scheduled=scheduled)
            self.errors.append(f"{action.label}: apply failed: {exc}")
            return
        with self._lock:
            self._active[action.fault_id] = _Active(action, heal_file, deadman_pid, applied_at)
        self._record(
            "fault-applied",
            action,
            scheduled=scheduled,
            actual=applied_at,
            rules=action.apply_script().splitlines(),
            deadman_pid=deadman_pid,
            deadman_after_s=round(action.duration + self.grace_s, 1),
        )
        self.on_applied(action)

    def _heal(self, fault_id: str, *, healed_by: str) -> None:
        with self._lock:
            active = self._active.pop(fault_id, None)
        if active is None:
            return
        action = active.action
        scheduled = self.start_time + action.scheduled_at + action.duration
        try:
            ssh = self._session(action.host.name)
            done = ssh.run(["sh", active.heal_file, healed_by])
            healed_at = time.time()
            if active.deadman_pid:
                ssh.run(cancel_deadman_command(active.deadman_pid))
            if not done.ok:
                raise RuntimeError(done.stderr.strip() or f"rc {done.rc}")
        except Exception as exc:
            # Loud: the dead-man switch still removes it at for + grace.
            self._record(
                "fault-error",
                action,
                phase="heal",
                error=str(exc),
                scheduled=scheduled,
                healed_by=healed_by,
                note="the dead-man switch on the host heals it at for + grace",
            )
            self.errors.append(
                f"{action.label}: HEAL FAILED ({exc}); the dead-man switch "
                "on the host removes it at for + grace"
            )
            return
        self._record(
            "fault-healed",
            action,
            scheduled=scheduled,
            actual=healed_at,
            healed_by=healed_by,
            applied_for_s=round(healed_at - active.applied_at, 3),
        )
        self.on_healed(action)

    def _record(
        self,
        event: str,
        action: FaultAction,
        *,
        scheduled: float,
        actual: float | None = None,
        **fields,
    ) -> None:
        record = {
            "at": utc_iso(actual if actual is not None else time.time()),
            "event": event,
            "fault_id": action.fault_id,
            "kind": action.spec.kind,
            "label": action.label,
            "host": action.host.name,
            "peer": action.peer.name if action.peer else None,
            "process": action.spec.process,
            "scheduled_at": utc_iso(scheduled),
            "tag": action.tag,
        }
        if actual is not None:
            record["offset_ms"] = round((actual - scheduled) * 1000, 1)
        record.update(fields)
        self.journal.write(record)
