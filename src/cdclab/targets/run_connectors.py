"""A run's own connectors on the arms' workers, whatever the target: their names, their
binlog server ids, sweeping a crashed run's leftovers, deleting them at the end."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cdclab.connect_rest import ConnectRest
from cdclab.errors import CdclabError

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


# What a worker that is starting or rebalancing answers a registration: wait, then retry.
_NOT_YET = (-1, 404, 409, 500, 503, 504)  # -1: no answer (not listening yet)


def _put_config(rest: ConnectRest, name: str, config: dict[str, Any], deadline: float) -> None:
    while True:
        try:
            status, body = rest.request("PUT", f"/connectors/{name}/config", config)
        except ConnectionError as exc:
            status, body = -1, str(exc)
        if status in (200, 201):
            return
        message = body.get("message", "") if isinstance(body, dict) else str(body)
        retry = status in _NOT_YET and (status != 500 or "timed out" in message)
        if not retry or time.monotonic() > deadline:
            answer = "no answer" if status == -1 else f"refused (HTTP {status})"
            raise CdclabError(f"connector {name}: the worker's REST API: {answer}: {message}")
        time.sleep(0.5)


def register_run_connectors(
    arms: Iterable[RunArm], configs: dict[str, dict[str, Any]], timeout_s: float = 180.0
) -> None:
    """PUT each arm's connector config, then wait until every connector and its task run.

    The contract of the debezium_connector role (which registers the lab's own connectors),
    from here: a run's registration is on every run's path to its first canary, and each of
    the role's REST calls costs a module run over SSH (~1.4 s, five per connector)."""
    deadline = time.monotonic() + timeout_s
    pending = list(arms)
    for arm in pending:
        _put_config(ConnectRest(arm.rest_url), arm.connector, configs[arm.name], deadline)
    while pending:
        for arm in list(pending):
            state = ConnectRest(arm.rest_url).connector_state(arm.connector)
            if "FAILED" in (state.connector, state.task):
                raise CdclabError(
                    f"connector {arm.connector} is {state.connector}, task {state.task}: "
                    f"{(state.trace or '')[:1500]}"
                )
            if (state.connector, state.task) == ("RUNNING", "RUNNING"):
                pending.remove(arm)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(a.connector for a in pending)
            raise CdclabError(f"connector(s) {names} not RUNNING after {timeout_s:.0f} s")
        time.sleep(0.2)
