"""Canaries: rows written to the source table, and one Kafka consumer that sees them arrive.

A canary is "delivered" on an arm when its id is read from that arm's topic. The writer
and the watcher are shared by lab.canary, experiments and the watchdog.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


@dataclass(frozen=True)
class Canary:
    canary_id: str
    run_id: str
    seq: int
    written_at: float  # epoch seconds just before the INSERT: latency includes the commit
    commit_ms: float | None = None  # how long the INSERT and its commit took


@dataclass(frozen=True)
class Sighting:
    arm: str
    canary_id: str
    seen_at: float  # epoch seconds when the consumer received it
    kafka_timestamp_ms: int | None


def new_canary_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq:06d}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class DbAccount:
    """How the orchestrator reaches the source database: TLS, verified, as one account."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    ca_file: Path
    database: str
    connect_timeout: float = 5.0

    def connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            # ssl_* keywords, not ssl={...}: PyMySQL drops the dict when they are given.
            ssl_ca=str(self.ca_file),
            ssl_verify_cert=True,
            ssl_verify_identity=True,
            connect_timeout=self.connect_timeout,
            read_timeout=10,
            write_timeout=10,
            autocommit=True,
        )


class CanaryWriter:
    """Writes canary rows over TLS as the least-privilege writer account."""

    def __init__(self, account: DbAccount, table: str):
        self.account = account
        self.table = table
        self._conn: pymysql.connections.Connection | None = None

    def _connection(self) -> pymysql.connections.Connection:
        if self._conn is None or not self._conn.open:
            self._conn = self.account.connect()
        return self._conn

    def write(self, run_id: str, seq: int) -> Canary:
        canary_id = new_canary_id(run_id, seq)
        try:
            conn = self._connection()
            with conn.cursor() as cur:
                started = time.time()
                cur.execute(
                    f"INSERT INTO `{self.table}` (id, run_id, seq, written_at_ms) "
                    "VALUES (%s, %s, %s, %s)",
                    (canary_id, run_id, seq, int(started * 1000)),
                )
                committed = time.time()  # autocommit: the row is in the binlog
        except pymysql.MySQLError:
            self.close()  # reconnect next time; the caller records the failed write
            raise
        return Canary(canary_id, run_id, seq, started, round((committed - started) * 1000, 1))

    def query_one(self, sql: str) -> tuple | None:
        """One row of a read-only statement on the writer's session (checks, facts)."""
        with self._connection().cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()

    def tls_version(self) -> str | None:
        row = self.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'")
        return row[1] if row else None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.MySQLError):
                self._conn.close()
            self._conn = None


_TRANSIENT_KAFKA_ERRORS = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._TRANSPORT,
}


def _is_transient(error: KafkaError) -> bool:
    """Errors a broker gives while a new topic's leader is being elected or it restarts."""
    return error.retriable() or error.code() in _TRANSIENT_KAFKA_ERRORS


def canary_id_of(value: bytes | None) -> str | None:
    """The canary id in a Debezium change event (JSON, schemas disabled)."""
    if not value:
        return None  # tombstone
    try:
        event = json.loads(value)
    except ValueError:
        return None
    payload = event.get("payload", event) if isinstance(event, dict) else None
    after = payload.get("after") if isinstance(payload, dict) else None
    return after.get("id") if isinstance(after, dict) else None


class CanaryWatcher:
    """One long-lived consumer over every arm's topic, reading from where it starts."""

    def __init__(
        self,
        bootstrap: str,
        topics_by_arm: dict[str, str],
        security: dict[str, Any] | None = None,
    ):
        """`security`: librdkafka's settings for the cluster's listener (TLS, SASL), as
        cdclab.core.kafka_security.KafkaSecurity.librdkafka gives them; none for plaintext."""
        self.bootstrap = bootstrap
        self.arm_of_topic = {topic: arm for arm, topic in topics_by_arm.items()}
        self._client = {"bootstrap.servers": bootstrap, **(security or {})}
        self._consumer = Consumer(
            {
                **self._client,
                "group.id": f"cdclab-watch-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 50,  # latency matters more than batching here
                "socket.timeout.ms": 10000,
                # A broker out of reach is what faults make: its notices and warnings would
                # fill the terminal; errors still show.
                "log_level": 3,
            }
        )

    def ensure_topics(
        self, creation: dict[str, tuple[int, dict[str, str]]] | None = None, timeout: float = 15.0
    ) -> None:
        """Create missing topics so the watcher can start before the first event exists.

        Connect's topic creation then finds them, so each is made as the connector would
        make it: `creation` gives a topic's (replication factor, configs); by default -1,
        the cluster's default, as the connector's own topics (a factor of 1 on a cluster
        with min.insync.replicas >= 2 would stall delivery quietly).
        """
        admin = AdminClient(self._client)
        topics = []
        for topic in self.arm_of_topic:
            factor, config = (creation or {}).get(topic, (-1, {}))
            topics.append(NewTopic(topic, 1, replication_factor=factor, config=config))
        futures = admin.create_topics(topics, request_timeout=timeout)
        for topic, future in futures.items():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"cannot create topic {topic}: {exc}") from exc

    def start_at_end(self, timeout: float = 20.0) -> None:
        """Read only what arrives from now on.

        A topic created a moment ago may not have its leader elected yet: the broker then
        answers NOT_LEADER_FOR_PARTITION / LEADER_NOT_AVAILABLE, which are retried until
        `timeout` (the race made CI red once, right after `lab.up`).
        """
        deadline = time.monotonic() + timeout
        partitions = []
        for topic in self.arm_of_topic:
            while True:
                try:
                    _low, high = self._consumer.get_watermark_offsets(
                        TopicPartition(topic, 0), timeout=max(1.0, deadline - time.monotonic())
                    )
                    break
                except KafkaException as exc:
                    if not _is_transient(exc.args[0]) or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.25)
            partitions.append(TopicPartition(topic, 0, high))
        self._consumer.assign(partitions)

    def poll(self, timeout: float = 0.2, max_messages: int = 500) -> list[Sighting]:
        sightings = []
        for message in self._consumer.consume(num_messages=max_messages, timeout=timeout):
            if message.error():
                continue
            seen_at = time.time()
            canary_id = canary_id_of(message.value())
            arm = self.arm_of_topic.get(message.topic())
            if canary_id and arm:
                kind, ts = message.timestamp()
                sightings.append(Sighting(arm, canary_id, seen_at, ts if kind else None))
        return sightings

    def close(self) -> None:
        self._consumer.close()
