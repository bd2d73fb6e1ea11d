"""Which experiments the catalog runs, sized so that all of them finish in under 30 minutes
on the lab, and what each one teaches. Experiments with the same arms follow each other, so
the lab changes its workers as seldom as it can (a change runs the workers' plays: under a
minute)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    experiment: str  # a file in experiments/
    minutes: float
    settings: tuple[str, ...]  # --set assignments that size it for the catalog
    teaches: str
    # --quick: its shortest useful size (one short fault, soon after the warm-up); the same
    # failure with fewer canaries in each episode. None: it has no shorter useful size.
    quick_minutes: float | None = None
    quick_settings: tuple[str, ...] = ()

    def sized(self, quick: bool) -> tuple[float, tuple[str, ...]]:
        """(minutes, --set assignments) of a full or a --quick catalog run."""
        if quick and self.quick_minutes is not None:
            return self.quick_minutes, self.quick_settings
        return self.minutes, self.settings


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "fault-campaign",
        3,
        ("campaign.durations=[30s, 60s]", "campaign.start=20s", "campaign.gap=40s"),
        "A network black hole: the task stays RUNNING and Connected stays true until the "
        "binlog client's keep-alive notices (if it does before the path is back); it "
        "reconnects only after the path is back.",
        2,
        ("campaign.durations=[30s]", "campaign.start=25s", "campaign.gap=40s"),
    ),
    CatalogEntry(  # the same arms as fault-campaign: no lab change between them
        "ca-rotation",
        4,
        (),
        "A CA rotation the connectors' truststore was not given: after the restart that "
        "applies it, every reconnect of the binlog client is refused and retried while the "
        "task says RUNNING, and not even the worker's log says why. Add the new CA to the "
        "truststore first.",
        2.5,
        # The ended sessions are noticed by the keep-alive: at 10 s its reconnects meet the
        # rotated certificate within the short fault.
        (
            "faults=[{kind: ca-rotation, host: db, at: 22s, for: 30s}]",
            "connector={connect.keep.alive.interval.ms: 10000}",
        ),
    ),
    CatalogEntry(
        "keyupdate",
        7,
        ("dumps.min_interval=60s",),
        "TLS 1.3 key updates the MariaDB binlog dump never reads stall the reader once the "
        "server's buffer fills; TLS 1.2 has none.",
    ),
    CatalogEntry(
        "nat-idle",
        5,
        (),  # its fault heals at 3m45s: 75 s to see who recovers
        "A NAT gateway forgets an idle binlog connection: nothing but the client's own "
        "keep-alive (on by default, 60 s) ever notices; with it off, only the database's "
        "retransmission after the path is healed ends the stall.",
        3,
        ("faults=[{kind: nat-idle, at: 25s, for: 2m, timeout: 15s, idle: 20s}]",),
    ),
    CatalogEntry(  # the same arms as nat-idle
        "half-open",
        4,
        (),
        "A database that dies unheard leaves the reader on a connection the server no longer "
        "has: with keep-alive off it never reads again.",
        2.5,
        ("faults=[{kind: half-open, host: db, peer: connect, at: 22s, for: 15s}]",),
    ),
    CatalogEntry(
        "under-replicated",
        3,
        (),
        "A broker that falls out of the ISR leaves topics with fewer in-sync replicas than "
        "min.insync.replicas: every write is refused and Kafka Connect's producer retries "
        "it for ever by default, so the task says RUNNING while nothing arrives, and "
        "Debezium's own metrics say it reads on. A bounded "
        "producer.override.delivery.timeout.ms turns the stall into a FAILED task REST "
        "shows (about a minute in with 30 s: the request in flight times out first), which "
        "must be restarted once the broker is back.",
        2.5,
        # The bounded arm fails about 60 s into the pause: the pause outlasts that.
        ("faults=[{kind: pause, process: broker2, at: 22s, for: 80s}]",),
    ),
)


def chosen(only: list[str] | None) -> list[CatalogEntry]:
    """The entries named by --only (all by default); an unknown name is refused by name."""
    if not only:
        return list(CATALOG)
    known = {e.experiment: e for e in CATALOG}
    unknown = [name for name in only if name not in known]
    if unknown:
        from cdclab.errors import InvalidInputError

        raise InvalidInputError(
            f"--only: {', '.join(unknown)} not in the catalog; choose from {', '.join(known)}"
        )
    return [known[name] for name in only]
