"""The runbook's REST steps on one connector: status, restart, pause, resume, config.

Each step that changes something waits (bounded) until Connect shows the change, so the
on-call engineer sees the outcome, not just "202 Accepted".
"""

from __future__ import annotations

import time
from typing import Any

from cdclab.errors import CdclabError, InvalidInputError
from cdclab.redact import looks_secret
from cdclab.targets.places import Endpoint

SETTLE_S = 60.0


def _call(ep: Endpoint, method: str, path: str) -> tuple[int, Any]:
    try:
        status, body = ep.rest().request(method, path)
    except ConnectionError as exc:
        raise CdclabError(f"{ep.rest_url}: Connect REST does not answer ({exc})") from exc
    if status == 404:
        raise InvalidInputError(
            f"connector {ep.connector!r} is not on {ep.rest_url} "
            "(`invoke connect.status` without --connector lists what is there)"
        )
    if status >= 400:
        message = body.get("message") if isinstance(body, dict) else body
        raise CdclabError(f"{method} {path}: HTTP {status}: {message}")
    return status, body


def status(ep: Endpoint) -> dict[str, Any]:
    _code, body = _call(ep, "GET", f"/connectors/{ep.connector}/status")
    tasks = [
        {
            "id": t.get("id"),
            "state": t.get("state"),
            "worker_id": t.get("worker_id"),
            "trace": (t.get("trace") or "").splitlines()[:1] or None,
        }
        for t in body.get("tasks", [])
    ]
    return {
        "target": ep.target,
        "arm": ep.arm,
        "rest_url": ep.rest_url,
        "connector": ep.connector,
        "state": body.get("connector", {}).get("state"),
        "worker_id": body.get("connector", {}).get("worker_id"),
        "tasks": tasks,
    }


def _settle(ep: Endpoint, wanted: set[str], since: float) -> dict[str, Any]:
    """Poll until the connector and every task are in `wanted` (or FAILED), bounded."""
    last: dict[str, Any] = {}
    while time.monotonic() - since < SETTLE_S:
        try:
            last = status(ep)
        except CdclabError:
            time.sleep(1.0)  # a restarting worker may not answer for a moment
            continue
        states = {last["state"], *(t["state"] for t in last["tasks"])}
        if last["tasks"] and states <= wanted | {"FAILED"}:
            return last
        time.sleep(0.5)
    return {**last, "note": f"not settled after {SETTLE_S:g}s"}


def restart(ep: Endpoint, *, task: int | None = None, include_tasks: bool = False):
    started = time.monotonic()
    if task is not None:
        code, _ = _call(ep, "POST", f"/connectors/{ep.connector}/tasks/{task}/restart")
    else:
        flag = "true" if include_tasks else "false"
        code, _ = _call(
            ep, "POST", f"/connectors/{ep.connector}/restart?includeTasks={flag}&onlyFailed=false"
        )
    return {"http_status": code, **_settle(ep, {"RUNNING"}, started)}


def pause(ep: Endpoint) -> dict[str, Any]:
    started = time.monotonic()
    code, _ = _call(ep, "PUT", f"/connectors/{ep.connector}/pause")
    return {"http_status": code, **_settle(ep, {"PAUSED"}, started)}


def resume(ep: Endpoint) -> dict[str, Any]:
    started = time.monotonic()
    code, _ = _call(ep, "PUT", f"/connectors/{ep.connector}/resume")
    return {"http_status": code, **_settle(ep, {"RUNNING"}, started)}


def masked_config(ep: Endpoint) -> dict[str, str]:
    """The connector's config with literal secrets masked; config-provider references such
    as ${file:…:database.password} are kept (they say where the secret is, not what)."""
    _code, body = _call(ep, "GET", f"/connectors/{ep.connector}/config")
    return mask_config(body)


def mask_config(config: dict[str, str]) -> dict[str, str]:
    return {
        key: "********"
        if looks_secret(key) and value and not str(value).startswith("${")
        else value
        for key, value in sorted(config.items())
    }
