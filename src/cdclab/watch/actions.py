"""What the watchdog does besides journaling: a webhook, CloudWatch metrics and an alarm,
and an automatic connector restart. Every action and its outcome is journaled; a failing
action is recorded and never stops the watch."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cdclab.connect_rest import ConnectRest
from cdclab.core.detector import Episode
from cdclab.core.journal import parse_iso, utc_iso
from cdclab.watch.config import (
    CloudWatchAction,
    RestartAction,
    WatchedConnector,
    WebhookAction,
)

Record = Callable[..., None]  # event(kind, **fields) into events.jsonl


def episode_document(kind: str, episode: Episode, connector: WatchedConnector) -> dict[str, Any]:
    return {
        "event": f"silent_failure_{kind}",
        "arm": episode.arm,
        "connector": connector.connector,
        "connect_url": connector.connect_url,
        "start": utc_iso(episode.start),
        "detected_at": utc_iso(episode.detected_at),
        "end": utc_iso(episode.end),
        "canaries_affected": len(episode.canaries),
    }


class Webhook:
    """POST a JSON document on every episode open and close."""

    def __init__(self, settings: WebhookAction, record: Record):
        self.settings = settings
        self.record = record

    def on_episode(self, kind: str, episode: Episode, connector: WatchedConnector) -> None:
        document = episode_document(kind, episode, connector)
        request = urllib.request.Request(
            self.settings.url,
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "cdclab-watch"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as answer:
                self.record("action_webhook", arm=episode.arm, change=kind, status=answer.status)
        except (urllib.error.URLError, OSError) as exc:
            self.record("action_error", action="webhook", arm=episode.arm, error=str(exc))


METRIC_LATENCY = "CanaryLatencyMs"
METRIC_MISSING = "CanaryMissing"
METRIC_SILENT = "SilentFailure"


class CloudWatch:
    """Per check: CanaryLatencyMs, CanaryMissing and SilentFailure in the namespace, with the
    connector as dimension; an alarm on SilentFailure per connector, created once."""

    def __init__(self, settings: CloudWatchAction, client, record: Record):
        self.settings = settings
        self.client = client
        self.record = record

    @staticmethod
    def alarm_name(connector: WatchedConnector) -> str:
        return f"cdclab-silent-failure-{connector.connector}"

    def alarm_definition(self, connector: WatchedConnector, interval_s: float) -> dict[str, Any]:
        return {
            "AlarmName": self.alarm_name(connector),
            "AlarmDescription": (
                f"cdclab: {connector.connector} says RUNNING while canaries stop arriving"
            ),
            "Namespace": self.settings.namespace,
            "MetricName": METRIC_SILENT,
            "Dimensions": [{"Name": "Connector", "Value": connector.connector}],
            "Statistic": "Maximum",
            "Period": max(60, int(interval_s)),
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            # No data means the watchdog itself stopped: that is worth an alarm too.
            "TreatMissingData": "breaching",
            "AlarmActions": list(self.settings.alarm_actions),
        }

    def ensure_alarms(self, connectors: list[WatchedConnector], interval_s: float) -> None:
        """Create each alarm, or update it only when its definition changed (idempotent)."""
        if not self.settings.alarm:
            return
        for connector in connectors:
            wanted = self.alarm_definition(connector, interval_s)
            found = self.client.describe_alarms(AlarmNames=[wanted["AlarmName"]])["MetricAlarms"]
            if found and _same_alarm(found[0], wanted):
                self.record("action_alarm", alarm=wanted["AlarmName"], change="unchanged")
                continue
            self.client.put_metric_alarm(**wanted)
            change = "updated" if found else "created"
            self.record("action_alarm", alarm=wanted["AlarmName"], change=change)

    def on_check(self, record: dict[str, Any], connector: WatchedConnector, silent: bool):
        dimensions = [{"Name": "Connector", "Value": connector.connector}]
        timestamp = datetime.fromtimestamp(parse_iso(record["written_at"]) or time.time(), UTC)
        data = [
            {
                "MetricName": METRIC_MISSING,
                "Dimensions": dimensions,
                "Timestamp": timestamp,
                "Value": 0.0 if record["outcome"] == "delivered" else 1.0,
                "Unit": "Count",
            },
            {
                "MetricName": METRIC_SILENT,
                "Dimensions": dimensions,
                "Timestamp": timestamp,
                "Value": 1.0 if silent else 0.0,
                "Unit": "Count",
            },
        ]
        if record.get("latency_ms") is not None:
            data.append(
                {
                    "MetricName": METRIC_LATENCY,
                    "Dimensions": dimensions,
                    "Timestamp": timestamp,
                    "Value": float(record["latency_ms"]),
                    "Unit": "Milliseconds",
                }
            )
        try:
            self.client.put_metric_data(Namespace=self.settings.namespace, MetricData=data)
        except Exception as exc:  # botocore errors, endpoint down: recorded, never fatal
            self.record("action_error", action="cloudwatch", arm=connector.name, error=str(exc))


def _same_alarm(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(found.get(key) == value for key, value in wanted.items())


class AutoRestart:
    """Restart a silently failing connector and its tasks after K overdue canaries, with a
    doubling backoff and a cap per hour; record each restart and whether delivery resumed."""

    def __init__(self, settings: RestartAction, record: Record, now=time.time):
        self.settings = settings
        self.record = record
        self.now = now
        self._history: dict[str, deque[float]] = {}
        self._next_allowed: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._pending_effect: dict[str, float] = {}  # arm -> when the last restart was made

    def consider(self, episode: Episode, connector: WatchedConnector) -> None:
        """Called with an open episode after each overdue canary of its arm."""
        arm = episode.arm
        if len(episode.canaries) < self.settings.after_misses:
            return
        now = self.now()
        if now < self._next_allowed.get(arm, 0.0):
            return
        history = self._history.setdefault(arm, deque())
        while history and history[0] < now - 3600:
            history.popleft()
        if len(history) >= self.settings.max_per_hour:
            if self._next_allowed.get(arm, 0.0) < history[0] + 3600:
                self.record(
                    "action_restart_capped",
                    arm=arm,
                    restarts_last_hour=len(history),
                    next_possible=utc_iso(history[0] + 3600),
                )
                self._next_allowed[arm] = history[0] + 3600
            return
        backoff = self._backoff.get(arm, self.settings.backoff)
        status, body = self._restart(connector)
        history.append(now)
        self._next_allowed[arm] = now + backoff
        self._backoff[arm] = backoff * 2
        self._pending_effect[arm] = now
        self.record(
            "action_restart",
            arm=arm,
            connector=connector.connector,
            status=status,
            answer=body if status >= 400 else None,
            canaries_overdue=len(episode.canaries),
            next_restart_not_before=utc_iso(now + backoff),
        )

    def _restart(self, connector: WatchedConnector) -> tuple[int, Any]:
        rest = ConnectRest(connector.connect_url, timeout=10.0, attempts=3, backoff=1.0)
        path = f"/connectors/{connector.connector}/restart?includeTasks=true&onlyFailed=false"
        try:
            return rest.request("POST", path)
        except ConnectionError as exc:
            return 0, str(exc)

    def on_episode_closed(self, episode: Episode) -> None:
        """Delivery resumed: was it after a restart, and how long after?"""
        restarted_at = self._pending_effect.pop(episode.arm, None)
        self._backoff.pop(episode.arm, None)  # healthy again: the next episode starts afresh
        self._next_allowed.pop(episode.arm, None)
        if restarted_at is not None and episode.end is not None:
            self.record(
                "restart_effect",
                arm=episode.arm,
                delivery_resumed=True,
                resumed_after_restart_s=round(episode.end - restarted_at, 3),
                episode_duration_s=round(episode.duration_s or 0.0, 3),
            )
