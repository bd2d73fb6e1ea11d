"""A run's own connectors on the arms' workers, whatever the target: their names, their
binlog server ids, sweeping a crashed run's leftovers, deleting them at the end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cdclab.connect_rest import ConnectRest

RUN_CONNECTOR_PREFIX = "cdclab-run-"


@dataclass(frozen=True)
class RunArm:
    """One run's arm on any target: its own connector, topic and the endpoints the clock
    reads (REST, metrics), wherever the worker runs."""

    name: str
    description: str
    jvm_opts: str
    rest_url: str
    metrics_url: str
    connector: str  # this run's connector
    standing_connector: str  # the lab's own connector on the same worker, paused meanwhile
    topic: str
    server_id: int

    @property
    def topic_prefix(self) -> str:
        return self.topic.split(".")[0]


def run_connector_name(run_id: str, arm: str) -> str:
    return f"{RUN_CONNECTOR_PREFIX}{run_id}-{arm}"


def run_server_id(run_id: str, index: int) -> int:
    # Unique per run and arm, clear of the standing connectors' 5401+ and of any real
    # replica's small ids; a binlog client whose id is taken kicks the other one off.
    return 100_000 + (int(run_id, 16) % 80_000) * 10 + index


def sweep_run_connectors(arms: Iterable[RunArm]) -> list[str]:
    """Delete connectors an earlier (crashed) run left on these workers; say which."""
    warnings = []
    for arm in arms:
        rest = ConnectRest(arm.rest_url)
        try:
            _status, names = rest.request("GET", "/connectors")
        except ConnectionError:
            continue
        for name in names or []:
            if name.startswith(RUN_CONNECTOR_PREFIX) and name != arm.connector:
                rest.request("DELETE", f"/connectors/{name}")
                warnings.append(
                    f"removed connector {name} left by an earlier run on worker {arm.name}"
                )
    return warnings


def delete_run_connectors(arms: Iterable[RunArm]) -> list[str]:
    """Delete this run's connectors; every one is tried, failures are returned."""
    errors = []
    for arm in arms:
        try:
            ConnectRest(arm.rest_url).request("DELETE", f"/connectors/{arm.connector}")
        except ConnectionError as exc:
            errors.append(f"could not delete connector {arm.connector}: {exc}")
    return errors
