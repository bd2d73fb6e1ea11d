"""The watchdog's actions and settings, without a lab: a webhook and a Connect REST
endpoint served by a local HTTP server the test starts (loopback only)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from cdclab.core.detector import Episode
from cdclab.errors import InvalidInputError
from cdclab.watch.actions import AutoRestart, Webhook
from cdclab.watch.config import (
    RestartAction,
    WatchConfig,
    WatchedConnector,
    WebhookAction,
    account_from_env,
)

CONNECTOR = WatchedConnector(
    name="orders", connect_url="http://127.0.0.1:1", connector="orders-cdc", topic="t"
)


@pytest.fixture
def server():
    """A loopback HTTP server that records every request and answers 202 (or 500)."""
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        status = 202

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append({"path": self.path, "body": self.rfile.read(length).decode()})
            self.send_response(Handler.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen, Handler
    httpd.shutdown()


def _recorder():
    events: list[tuple[str, dict]] = []
    return events, lambda kind, **fields: events.append((kind, fields))


def test_the_webhook_gets_a_json_document_per_episode_open_and_close(server):
    url, seen, _ = server
    events, record = _recorder()
    hook = Webhook(WebhookAction(url=f"{url}/hooks/cdc"), record)
    episode = Episode("orders", start=1795650000.0, detected_at=1795650012.0, canaries=["a", "b"])
    hook.on_episode("open", episode, CONNECTOR)
    episode.end = 1795650040.0
    hook.on_episode("close", episode, CONNECTOR)
    assert [s["path"] for s in seen] == ["/hooks/cdc", "/hooks/cdc"]
    opened, closed = (json.loads(s["body"]) for s in seen)
    assert opened["event"] == "silent_failure_open" and opened["connector"] == "orders-cdc"
    assert opened["start"] == "2026-11-25T23:40:00.000Z" and opened["end"] is None
    assert closed["event"] == "silent_failure_close" and closed["canaries_affected"] == 2
    assert [k for k, _ in events] == ["action_webhook", "action_webhook"]


def test_a_webhook_that_cannot_be_reached_is_recorded_not_raised():
    events, record = _recorder()
    hook = Webhook(WebhookAction(url="http://127.0.0.1:9/none", timeout=1), record)
    hook.on_episode(
        "open", Episode("orders", start=0.0, detected_at=1.0, canaries=["a"]), CONNECTOR
    )
    assert events[0][0] == "action_error" and events[0][1]["action"] == "webhook"


def test_restarts_wait_for_k_misses_back_off_and_stop_at_the_hourly_cap(server):
    url, seen, _ = server
    connector = CONNECTOR.model_copy(update={"connect_url": url})
    events, record = _recorder()
    now = [1000.0]
    restart = AutoRestart(
        RestartAction(after_misses=3, backoff=60, max_per_hour=2), record, now=lambda: now[0]
    )
    episode = Episode("orders", start=990.0, detected_at=1000.0, canaries=["a", "b"])
    restart.consider(episode, connector)
    assert seen == []  # 2 misses < 3
    episode.canaries.append("c")
    restart.consider(episode, connector)
    assert [s["path"] for s in seen] == [
        "/connectors/orders-cdc/restart?includeTasks=true&onlyFailed=false"
    ]
    now[0] += 30
    restart.consider(episode, connector)
    assert len(seen) == 1  # within the 60 s backoff
    now[0] += 31
    restart.consider(episode, connector)
    assert len(seen) == 2  # backoff passed; the next one waits 120 s
    now[0] += 200
    restart.consider(episode, connector)
    assert len(seen) == 2  # two in the last hour: capped
    assert [k for k, _ in events] == ["action_restart", "action_restart", "action_restart_capped"]
    episode.end = now[0]
    restart.on_episode_closed(episode)
    effect = events[-1]
    assert effect[0] == "restart_effect" and effect[1]["resumed_after_restart_s"] == 200.0


def test_the_database_account_comes_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.delenv("CDCLAB_WATCH_DB", raising=False)
    with pytest.raises(InvalidInputError, match="CDCLAB_WATCH_DB is not set"):
        account_from_env()
    monkeypatch.setenv("CDCLAB_WATCH_DB", "mysql://w:p%40ss@db.example:3307/shop")
    with pytest.raises(InvalidInputError, match="missing: ssl_ca"):
        account_from_env()
    monkeypatch.setenv(
        "CDCLAB_WATCH_DB", "mysql://w:p%40ss@db.example:3307/shop?ssl_ca=/ca.pem&table=beats"
    )
    account, table = account_from_env()
    assert (account.host, account.port, account.user, account.password) == (
        "db.example",
        3307,
        "w",
        "p@ss",
    )
    assert (account.database, str(account.ca_file), table) == ("shop", "/ca.pem", "beats")
    assert "p@ss" not in repr(account)


def test_the_watch_runs_the_experiment_engines_clock_settings():
    config = WatchConfig(
        connectors=[CONNECTOR],
        kafka_bootstrap="k:9092",
        canary={"interval": "1s", "deadline": "5s"},
        detector={"misses": 3},
    )
    spec = config.clock_spec(None)
    assert (spec.canary.interval, spec.canary.deadline, spec.detector.misses) == (1.0, 5.0, 3)
    assert list(spec.resolved_arms()) == ["orders"] and spec.duration == 7 * 86400
    assert config.clock_spec(120).duration == 120
