"""On-call tools on the real lab.

Runbook steps: status, pause/resume, restart, config and logs of an arm's connector, by
arm and by explicit URL. The watchdog: a DROP between the connect and db hosts while REST
says RUNNING is reported within interval * misses + deadline; with auto-restart on, the
connector is restarted, delivery resumes after the heal, and the journal says how long
after the restart. The webhook is a loopback HTTP server the test starts."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdclab.core.journal import parse_iso
from cdclab.targets.places import LOG_STAMP as STAMP
from tests.conftest import INVOKE, run_invoke
from tests.integration.test_experiment import lab_env

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]
TAG = "cdclab:watch-test"
INTERVAL, MISSES, DEADLINE = 1.0, 2, 5.0


def _events(directory: Path) -> list[dict]:
    path = directory / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def _wait_for(directory: Path, predicate, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in _events(directory) if predicate(e)]
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out; events: {[e['event'] for e in _events(directory)]}")


def _drop(action: str, db: str) -> None:
    for chain, side in (("OUTPUT", "-d"), ("INPUT", "-s")):
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                "cdclab-connect",
                "iptables",
                "-w",
                action,
                chain,
                side,
                db,
                "-m",
                "comment",
                "--comment",
                TAG,
                "-j",
                "DROP",
            ],
            check=True,
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = lab_env(tmp_path_factory.mktemp("oncall-results"))
    ran = run_invoke("lab.up", env=env, timeout=900)
    assert ran.rc == 0, ran.stdout + ran.stderr
    return env


def _state(env, *args) -> dict:
    ran = run_invoke("connect.status", "--json", *args, env=env)
    assert ran.rc == 0, ran.stderr
    return ran.json()


def test_runbook_steps_on_an_arm_and_on_an_explicit_cluster(env):
    status = _state(env, "--arm", "tls12")
    assert status["state"] == "RUNNING" and [t["state"] for t in status["tasks"]] == ["RUNNING"]
    paused = run_invoke("connect.pause", "--arm", "tls12", "--json", env=env)
    assert paused.rc == 0 and paused.json()["state"] == "PAUSED", paused.stdout + paused.stderr
    assert _state(env, "--arm", "tls12")["tasks"][0]["state"] == "PAUSED"
    resumed = run_invoke("connect.resume", "--arm", "tls12", "--json", env=env)
    assert resumed.rc == 0 and resumed.json()["state"] == "RUNNING", resumed.stderr
    restarted = run_invoke(
        "connect.restart", "--arm", "tls12", "--include-tasks", "--json", env=env
    )
    assert restarted.rc == 0, restarted.stderr
    assert restarted.json()["http_status"] in (202, 204)
    assert restarted.json()["state"] == "RUNNING"
    assert restarted.json()["tasks"][0]["state"] == "RUNNING"
    # a cluster cdclab did not create: just its URL; its only connector is found
    url = status["rest_url"]
    explicit = _state(env, "--connect-url", url)
    assert explicit["connector"] == status["connector"] and explicit["target"] == "explicit"
    config = run_invoke("connect.config", "--arm", "tls12", "--json", env=env).json()
    assert config["database.password"].startswith("${file:")  # a reference, not a secret
    assert config["database.server.id"] and config["snapshot.mode"] == "no_data"
    asked_at = time.time()
    logs = run_invoke("logs", "--arm", "tls12", "--since", "2m", env=env)
    assert logs.rc == 0 and status["connector"] in logs.stdout  # the pause/restart above
    stamps = [STAMP.match(line) for line in logs.stdout.splitlines()]
    first = min(
        datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        for m in stamps
        if m
    )
    assert first >= asked_at - 121
    missing = run_invoke("connect.status", "--arm", "nope", env=env)
    assert missing.rc == 2 and "--arm" in missing.stderr


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/oncall", received
    httpd.shutdown()


def test_a_drop_is_reported_the_connector_restarted_and_recovery_timed(env, tmp_path, webhook):
    from cdclab.lab.access import running_config

    db = running_config().db.address
    url, received = webhook
    directory = tmp_path / "watch"
    watch = subprocess.Popen(
        [
            str(INVOKE),
            "watch",
            "--target",
            "local",
            "--interval",
            "1s",
            "--deadline",
            "5s",
            "--misses",
            str(MISSES),
            "--restart-after",
            "4",
            "--restart-backoff",
            "120s",
            "--webhook",
            url,
            "--minutes",
            "4",
            "--directory",
            str(directory),
        ],
        cwd=Path(__file__).parents[2],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    dropped = False
    try:
        # healthy first: canaries delivered on both arms
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            checks = directory / "checks.jsonl"
            lines = checks.read_text().splitlines() if checks.exists() else []
            if sum('"outcome":"delivered"' in x for x in lines) >= 6:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the watch never saw a healthy canary")
        drop_at = time.time()
        _drop("-I", db)
        dropped = True
        opened = _wait_for(directory, lambda e: e["event"] == "silent_failure_open", 30)
        floor = INTERVAL * MISSES + DEADLINE
        for episode in opened:
            assert parse_iso(episode["detected_at"]) - drop_at <= floor + 1.5, episode
        first = _wait_for(directory, lambda e: e["event"] == "action_restart", 30)[0]["arm"]
        time.sleep(max(0.0, drop_at + 15 - time.time()))
        _drop("-D", db)
        dropped = False
        # The effect of the restart asserted below: both arms may be restarted, and the other
        # arm's delivery may resume first.
        effects = _wait_for(
            directory, lambda e: e["event"] == "restart_effect" and e["arm"] == first, 120
        )
        assert effects[0]["delivery_resumed"] and effects[0]["resumed_after_restart_s"] > 0
    finally:
        if dropped:
            _drop("-D", db)
        os.killpg(watch.pid, signal.SIGINT)
        stdout, stderr = watch.communicate(timeout=120)
    assert watch.returncode == 0, stdout + stderr
    events = _events(directory)
    restarts = [e for e in events if e["event"] == "action_restart"]
    assert restarts and all(e["status"] in (202, 204) for e in restarts), restarts
    assert events[-1]["event"] == "watch_end"
    kinds = {(d["event"], d["arm"]) for d in received}
    assert ("silent_failure_open", restarts[0]["arm"]) in kinds
    assert ("silent_failure_close", restarts[0]["arm"]) in kinds
    assert (directory / "report.md").exists()  # `invoke report` works on a watch directory
    leftover = subprocess.run(
        ["ip", "netns", "exec", "cdclab-connect", "iptables", "-w", "-S"],
        capture_output=True,
        text=True,
    ).stdout
    assert TAG not in leftover
    # A watch started again on its directory continues the journals with a new session.
    again = run_invoke(
        "watch",
        "--target",
        "local",
        "--interval",
        "1s",
        "--minutes",
        "0.25",
        "--directory",
        str(directory),
        env=env,
        timeout=180,
    )
    assert again.rc == 0, again.stdout + again.stderr
    starts = [e for e in _events(directory) if e["event"] in ("watch_start", "watch_resume")]
    assert [e["event"] for e in starts] == ["watch_start", "watch_resume"]
    assert starts[0]["session"] != starts[1]["session"]
