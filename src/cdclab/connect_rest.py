"""Kafka Connect REST client: states of connectors and tasks, tolerant of rebalances.

409/503 and refused connections happen while a worker starts or rebalances; they are
retried and, if they persist, reported as `unreachable`, never as a CDC failure.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

TRANSIENT_STATUS = {409, 502, 503, 504}  # 502/504: a proxy in front of a restarting worker
UNREACHABLE = "UNREACHABLE"
ABSENT = "ABSENT"


@dataclass(frozen=True)
class ConnectorState:
    connector: str  # RUNNING, PAUSED, FAILED, UNASSIGNED, ABSENT, UNREACHABLE
    task: str  # state of task 0, or ABSENT / UNREACHABLE
    trace: str | None = None
    error: str | None = None


_NOT_JSON = object()


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON


def _snippet(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:120]


class ConnectRest:
    def __init__(
        self, base_url: str, *, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One REST call with retries on transient failures. Returns (status, json)."""
        data = json.dumps(body).encode() if body is not None else None
        last_error = ""
        for attempt in range(self.attempts):
            req = urllib.request.Request(
                self.base_url + path,
                data=data,
                method=method,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    status, raw = resp.status, resp.read()
                payload = _json(raw)
                if payload is _NOT_JSON:
                    # Connect always answers JSON: this is something else (a proxy's page).
                    last_error = f"HTTP {status} with a body that is not JSON: {_snippet(raw)}"
                else:
                    return status, payload
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                payload = _json(raw)
                if exc.code not in TRANSIENT_STATUS:
                    return exc.code, _snippet(raw) if payload is _NOT_JSON else payload
                last_error = f"HTTP {exc.code}"
                if payload is _NOT_JSON:
                    last_error += f": {_snippet(raw)}"
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                last_error = str(getattr(exc, "reason", exc))
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * (2**attempt))
        raise ConnectionError(f"{self.base_url}{path}: {last_error}")

    def connector_state(self, name: str) -> ConnectorState:
        try:
            status, payload = self.request("GET", f"/connectors/{name}/status")
        except ConnectionError as exc:
            return ConnectorState(UNREACHABLE, UNREACHABLE, error=str(exc))
        if status == 404:
            return ConnectorState(ABSENT, ABSENT)
        if status != 200 or not isinstance(payload, dict):
            return ConnectorState(UNREACHABLE, UNREACHABLE, error=f"HTTP {status}: {payload}")
        tasks = payload.get("tasks") or []
        task = tasks[0] if tasks else {}
        return ConnectorState(
            connector=payload.get("connector", {}).get("state", ABSENT),
            task=task.get("state", ABSENT),
            trace=task.get("trace") or payload.get("connector", {}).get("trace"),
        )
