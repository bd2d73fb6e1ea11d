"""invoke lab.canary: one canary row, timed on every arm's topic. Smoke test and runbook step."""

from __future__ import annotations

import time

import pymysql
from confluent_kafka import KafkaException
from pydantic import BaseModel
from rich.table import Table

from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.errors import CdclabError
from cdclab.lab.access import running_config, writer_account
from cdclab.progress import out


class ArmDelivery(BaseModel):
    arm: str
    topic: str
    outcome: str  # delivered | missing
    latency_ms: float | None


class CanaryResult(BaseModel):
    canary_id: str
    written_at: float
    timeout_s: float
    writer_tls: str | None
    arms: list[ArmDelivery]

    @property
    def all_delivered(self) -> bool:
        return all(a.outcome == "delivered" for a in self.arms)


def lab_canary(timeout_s: float = 30.0) -> CanaryResult:
    config = running_config()
    topics = {arm.name: config.topic(arm) for arm in config.arms}
    watcher = CanaryWatcher(config.kafka_bootstrap, topics)
    writer = CanaryWriter(writer_account(config), config.canary_table)
    try:
        try:
            watcher.ensure_topics()
            watcher.start_at_end()
        except (RuntimeError, KafkaException) as exc:
            raise CdclabError(
                f"Kafka at {config.kafka_bootstrap} does not answer ({exc}). "
                "Check `invoke lab.status`; `invoke lab.up` restarts what stopped."
            ) from exc
        try:
            canary = writer.write(run_id="smoke", seq=0)
            writer_tls = writer.tls_version()
        except pymysql.MySQLError as exc:
            raise CdclabError(
                f"cannot write the canary row to {config.db.address}:{config.db_port} ({exc}). "
                "Check `invoke lab.status`; `invoke lab.up` restarts what stopped."
            ) from exc
        seen: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while len(seen) < len(topics) and time.monotonic() < deadline:
            for sighting in watcher.poll(timeout=0.2):
                if sighting.canary_id == canary.canary_id:
                    seen.setdefault(sighting.arm, sighting.seen_at)
    finally:
        writer.close()
        watcher.close()
    arms = [
        ArmDelivery(
            arm=name,
            topic=topic,
            outcome="delivered" if name in seen else "missing",
            latency_ms=round((seen[name] - canary.written_at) * 1000, 1) if name in seen else None,
        )
        for name, topic in topics.items()
    ]
    return CanaryResult(
        canary_id=canary.canary_id,
        written_at=canary.written_at,
        timeout_s=timeout_s,
        writer_tls=writer_tls,
        arms=arms,
    )


def render_canary(result: CanaryResult) -> None:
    table = Table(title=f"canary {result.canary_id}")
    for column in ("arm", "topic", "outcome", "latency"):
        table.add_column(column)
    for a in result.arms:
        latency = f"{a.latency_ms:.1f} ms" if a.latency_ms is not None else "-"
        colour = "green" if a.outcome == "delivered" else "red"
        table.add_row(a.arm, a.topic, f"[{colour}]{a.outcome}[/{colour}]", latency)
    out.print(table)
