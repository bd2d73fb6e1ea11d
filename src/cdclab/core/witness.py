"""The second witness of a silent-failure episode: Debezium's own streaming metrics.

The canaries say that changes stopped reaching Kafka; MilliSecondsSinceLastEvent and
Connected, read just before the last canary the detector saw, say where. Every canary is
itself a binlog event written each interval, so a reader that has read nothing for two
intervals is stalled; one that read an event moments ago is alive, and the canaries are
lost after it (the producer, Kafka or the topic: a different failure, a different fix).
"""

from __future__ import annotations

from typing import Any


def witness(metrics: dict[str, Any] | None, interval_s: float) -> str:
    """One sentence: does Debezium's own metric agree that the reader has stalled?"""
    if not metrics or metrics.get("error"):
        reason = (metrics or {}).get("error") or "metrics not read"
        return f"no second witness ({reason})"
    if metrics.get("connected") is False:
        return "Debezium agrees: its binlog client is disconnected (Connected=false)"
    since = metrics.get("ms_since_last_event")
    if since is None:
        return "no second witness (MilliSecondsSinceLastEvent not reported)"
    if since < 0:
        return "Debezium agrees: it has read no binlog event since the connector started"
    if since >= 2 * interval_s * 1000:
        return (
            f"Debezium agrees: no binlog event read for {since / 1000:.1f} s "
            "(MilliSecondsSinceLastEvent)"
        )
    return (
        f"Debezium disagrees: it read a binlog event {since} ms before, so the reader is "
        "alive and the changes are lost after it (the producer, Kafka or the topic)"
    )
