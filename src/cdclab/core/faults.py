"""Faults in a spec: what, where, when. Validated with the rest of the spec."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdclab.core.durations import format_duration
from cdclab.core.spec_types import Duration

FaultKind = Literal[
    "drop",
    "reject",
    "delay",
    "loss",
    "jitter",
    "kill",
    "pause",
    "nat-idle",
    "half-open",
    "ca-rotation",
]
NETWORK_KINDS = ("drop", "reject", "delay", "loss", "jitter", "nat-idle", "half-open")
PROCESS_KINDS = ("kill", "pause")
# broker, the lab's second broker, db, workers, or one arm's worker (arm names follow the
# lab's rule).
PROCESS_PATTERN = r"broker|broker2|db|workers|worker:[a-z][a-z0-9_]{0,23}"
PROCESS_HELP = "'broker', 'broker2', 'db', 'workers' or 'worker:<arm>'"
HALF_OPEN_PATH = ("db", "connect", "both")  # (host, peer, direction): the db goes away
NAT_TIMEOUT_S = 30.0  # the lab's default; an AWS NAT gateway's is 350 s
NAT_IDLE_MARGIN_S = 15.0  # idle this much past the timeout by default


# What each kind does, for readers of a report (one sentence each).
FAULT_NOTES = {
    "drop": "drop: a black hole (iptables DROP) between host and peer; neither end is told.",
    "reject": "reject: the host's packets to the peer are answered with a TCP reset.",
    "delay": "delay: netem adds latency to the host's packets to the peer.",
    "jitter": "jitter: netem adds varying latency to the host's packets to the peer.",
    "loss": "loss: netem drops a share of the host's packets to the peer.",
    "kill": "kill: SIGKILL of the process, started again at the heal.",
    "pause": "pause: SIGSTOP of the process (a stop-the-world pause), SIGCONT at the heal.",
    "half-open": (
        "half-open: the database dies while its packets to the Connect host are lost (no FIN, "
        "no reset reaches it) and comes back with no memory of its connections at the heal; "
        "a client that only reads is left waiting on a connection the server no longer has."
    ),
    "ca-rotation": (
        "ca-rotation: the database starts serving a certificate from a new CA, as at a CA "
        "rotation the connectors' truststore was not given, and ends their sessions as the "
        "restart that applies a rotation would; every reconnect is refused until the heal "
        "puts the old certificate back."
    ),
    "nat-idle": (
        "nat-idle: an emulated NAT gateway forgets connections idle past its timeout; their "
        "packets from the peer are dropped, the host's own answered with a reset, while "
        "both ends still see them open. No canary is written for the fault's idle period, "
        "so every connection sits idle past the timeout; then canaries show who still "
        "delivers. A reconnect gets a new mapping and works."
    ),
}


SECOND_BROKER = "broker2"  # the lab's second broker, started for a local run that names it
# What a fault on one process means beyond its kind, for readers of a report.
PROCESS_NOTES = {
    SECOND_BROKER: (
        "broker2: the lab's second broker, holding the second replica of the run's topics; "
        "stopped or killed, the cluster fences it within seconds and the ISR shrinks to one, "
        "below min.insync.replicas 2: every acks=all write is refused (NOT_ENOUGH_REPLICAS) "
        "and retried by the worker's producer until the broker is back."
    ),
}


def check_process(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(PROCESS_PATTERN, value):
        raise ValueError(f"{value!r} is not a process: use {PROCESS_HELP}")
    return value


class FaultSpec(BaseModel):
    """One scheduled fault, or a repeating series of it (`every` + `repeat`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    kind: FaultKind
    at: Duration = Field(description="offset from the start of the clock")
    for_: Duration = Field(alias="for", description="how long the fault lasts")
    host: Literal["connect", "db"] = Field(
        default="connect", description="the host whose rule/process it is"
    )
    peer: Literal["connect", "db"] = Field(default="db", description="the other end (network)")
    direction: Literal["both", "egress", "ingress"] = "both"
    process: str | None = Field(
        default=None,
        description="kill/pause: 'broker', 'broker2' (the lab's second broker, started for "
        "the run), 'db' or 'worker:<arm>' (all workers: 'workers')",
    )
    delay: Duration | None = Field(default=None, description="delay/jitter: added latency")
    jitter: Duration | None = Field(default=None, description="jitter: +/- variation")
    loss: float | None = Field(default=None, gt=0, le=100, description="loss: percent dropped")
    timeout: Duration | None = Field(
        default=None,
        description="nat-idle: the emulated NAT's idle timeout (default 30s; AWS's is 350s)",
    )
    idle: Duration | None = Field(
        default=None,
        description="nat-idle: no canary for this long from the fault's start, so that "
        "connections sit idle past the timeout (default: timeout + 15s)",
    )
    every: Duration | None = None
    repeat: int = Field(default=1, ge=1, le=1000)

    @field_validator("process")
    @classmethod
    def _known_process(cls, value: str | None) -> str | None:
        return check_process(value)

    @model_validator(mode="after")
    def _consistent(self) -> FaultSpec:
        if self.process and self.kind not in PROCESS_KINDS:
            raise ValueError(
                f"process: a {self.kind} fault acts on the network between host and peer; "
                "process is for kill and pause faults"
            )
        if self.for_ <= 0:
            raise ValueError("for: a fault must last longer than 0s")
        if self.kind in NETWORK_KINDS and self.host == self.peer:
            raise ValueError(f"peer: a {self.kind} fault needs a peer other than its host")
        if self.kind in PROCESS_KINDS and not self.process:
            raise ValueError(f"process: a {self.kind} fault names its process: {PROCESS_HELP}")
        if self.kind == "delay" and not self.delay:
            raise ValueError("delay: give the added latency, e.g. delay: 200ms")
        if self.kind == "jitter" and not (self.delay and self.jitter):
            raise ValueError("jitter: give delay and jitter, e.g. delay: 100ms, jitter: 50ms")
        if self.kind == "loss" and not self.loss:
            raise ValueError("loss: give the percentage dropped, e.g. loss: 30")
        if self.kind == "half-open" and (self.host, self.peer, self.direction) != HALF_OPEN_PATH:
            raise ValueError(
                "host: a half-open fault takes the database host away from the Connect host: "
                "host: db, peer: connect, direction: both"
            )
        if self.kind == "ca-rotation" and self.host != "db":
            raise ValueError(
                "host: a ca-rotation fault changes the database's certificate: host: db"
            )
        if self.kind == "nat-idle":
            self._check_nat_idle()
        elif self.timeout is not None or self.idle is not None:
            raise ValueError(f"timeout, idle: only a nat-idle fault has them, not {self.kind}")
        if self.repeat > 1 and not self.every:
            raise ValueError("every: a repeated fault needs its period, e.g. every: 3m")
        if self.every and self.every <= self.for_:
            raise ValueError("every: the period must be longer than the fault (for)")
        return self

    def _check_nat_idle(self) -> None:
        if self.direction != "both":
            raise ValueError("direction: a nat-idle fault forgets a connection both ways")
        if self.idle_for <= self.idle_timeout:
            raise ValueError(
                f"idle: {format_duration(self.idle_for)} is not past the timeout "
                f"({format_duration(self.idle_timeout)}): connections would never expire"
            )
        if self.for_ <= self.idle_for:
            raise ValueError(
                f"for: the fault must outlast its idle period ({format_duration(self.idle_for)})"
                " to show what the first events after it meet"
            )

    @property
    def idle_timeout(self) -> float:
        return NAT_TIMEOUT_S if self.timeout is None else self.timeout

    @property
    def idle_for(self) -> float:
        return self.idle_timeout + NAT_IDLE_MARGIN_S if self.idle is None else self.idle

    def quiet_windows(self) -> list[tuple[float, float]]:
        """(start, end) offsets in which no canary may be written: a nat-idle fault's idle."""
        if self.kind != "nat-idle":
            return []
        return [(start, start + self.idle_for) for start, _ in self.occurrences()]

    def occurrences(self) -> list[tuple[float, float]]:
        """(start offset, duration) of each occurrence."""
        period = self.every or 0.0
        return [(self.at + i * period, self.for_) for i in range(self.repeat)]


class CampaignSpec(BaseModel):
    """A campaign: one fault kind, a list of durations, recovery gaps between them."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind = "drop"
    durations: list[Duration] = Field(min_length=1)
    start: Duration = 60.0
    gap: Duration = Field(default=120.0, description="recovery time between faults")
    host: Literal["connect", "db"] = "connect"
    peer: Literal["connect", "db"] = "db"
    direction: Literal["both", "egress", "ingress"] = "both"
    process: str | None = None

    @field_validator("process")
    @classmethod
    def _known_process(cls, value: str | None) -> str | None:
        return check_process(value)

    def expand(self) -> list[FaultSpec]:
        faults, at = [], self.start
        for duration in self.durations:
            faults.append(
                FaultSpec.model_validate(
                    {
                        "kind": self.kind,
                        "at": at,
                        "for": duration,
                        "host": self.host,
                        "peer": self.peer,
                        "direction": self.direction,
                        "process": self.process,
                    }
                )
            )
            at += duration + self.gap
        return faults
