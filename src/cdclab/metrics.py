"""Debezium's streaming metrics of one worker, read through its Jolokia agent (JMX as JSON).

REST says what Connect believes; these say what the binlog reader saw. Of them,
`MilliSecondsSinceLastEvent` is the stall signal (it grows while nothing is read, even
when `Connected` stays true during a black hole); `NumberOfDisconnects` counts the
keep-alive thread's reconnects, which Connect is never told about.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

# MBean attribute -> field of StreamingMetrics.
ATTRIBUTES = {
    "Connected": "connected",
    "MilliSecondsSinceLastEvent": "ms_since_last_event",
    "NumberOfDisconnects": "disconnects",
    "TotalNumberOfEventsSeen": "events_seen",
}

NOT_STREAMING = "no streaming MBean yet (the connector is not streaming)"


@dataclass(frozen=True)
class StreamingMetrics:
    connected: bool | None = None
    ms_since_last_event: int | None = None  # -1 until the first event
    disconnects: int | None = None
    events_seen: int | None = None
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def streaming_mbean_pattern(topic_prefix: str) -> str:
    # debezium.mysql:… for the MySQL connector, debezium.mariadb:… for MariaDB's.
    return f"debezium.*:type=connector-metrics,context=streaming,server={topic_prefix}"


def parse_streaming(response: dict[str, Any]) -> StreamingMetrics:
    """One Jolokia `read` answer (an ObjectName pattern: values keyed by MBean name)."""
    if str(response.get("error_type", "")).endswith("InstanceNotFoundException"):
        return StreamingMetrics(error=NOT_STREAMING)
    if response.get("status") != 200:
        return StreamingMetrics(error=str(response.get("error") or response.get("status")))
    value = response.get("value") or {}
    if not value:
        return StreamingMetrics(error=NOT_STREAMING)
    attributes = next(iter(value.values())) if isinstance(value, dict) else {}
    if not isinstance(attributes, dict):
        return StreamingMetrics(error=f"unexpected Jolokia value: {value!r:.80}")
    return StreamingMetrics(**{field: attributes.get(attr) for attr, field in ATTRIBUTES.items()})


class JolokiaMetrics:
    """Reads one connector's streaming MBean from one worker's Jolokia agent."""

    def __init__(self, url: str, *, timeout: float = 1.0):
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout

    def streaming(self, topic_prefix: str) -> StreamingMetrics:
        body = json.dumps(
            {
                "type": "read",
                "mbean": streaming_mbean_pattern(topic_prefix),
                "attribute": list(ATTRIBUTES),
                "config": {"ignoreErrors": True},
            }
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return parse_streaming(json.loads(answer.read()))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return StreamingMetrics(error=f"metrics unreachable: {exc}")
