"""An installed watch (`invoke watch.install`) with this machine as its host (LocalHost
speaks SSHHost's interface; no systemd here, so the detached supervisor): its files, the
DSN kept out of argv, restarts after a crash, and uninstall bringing its directory back.
The watch itself is a small script writing checks the way the watchdog does; the real
watchdog on the sandbox's instance is tests/integration/test_aws_standin.py's."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from cdclab.errors import InvalidInputError
from cdclab.localhost import LocalHost
from cdclab.watch.installed import install_watch
from cdclab.watch.service import WatchService, check_name, dsn_for_host
from tests.conftest import group_alive, until

FAKE_WATCH = """
import json, os, sys, time
args = sys.argv[1:]
request = json.load(open(args[0]))
directory = args[args.index("--directory") + 1]
dsn = open(args[args.index("--db-file") + 1]).read().strip()
os.makedirs(directory, exist_ok=True)
with open(os.path.join(directory, "checks.jsonl"), "a") as checks:
    while True:
        line = {"pid": os.getpid(), "connector": request["explicit"]["connector"],
                "dsn_ok": dsn.startswith("mysql://")}
        checks.write(json.dumps(line) + "\\n")
        checks.flush()
        time.sleep(0.2)
"""
REQUEST = {
    "target": "explicit",
    "settings": {"name": "orders"},
    "explicit": {"connector": "orders-cdc"},
    "duration": None,
}


def _service(tmp_path: Path) -> WatchService:
    home = tmp_path / "home"
    venv = home / "venv" / "bin"
    venv.mkdir(parents=True)
    (home / "fake_watch.py").write_text(FAKE_WATCH)
    python = venv / "python"  # the host's cdclab: runs the fake watch for `-m cdclab…`
    python.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {home}/fake_watch.py "$@"\n')
    python.chmod(0o755)
    return WatchService(LocalHost(), "orders", str(home))


def _checks(service: WatchService) -> list[dict]:
    path = Path(service.dir) / "results" / "checks.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_watch_runs_survives_a_crash_and_comes_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr("cdclab.watch.service.RESTART_S", 1)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    dsn = f"mysql://writer:pa%27ss@db.example:3306/shop?ssl_ca={ca}&table=canary"
    service = _service(tmp_path)
    service.install(REQUEST, dsn)
    try:
        until(lambda: len(_checks(service)) >= 2, within_s=20)
        assert service.state() == "active"
        # The DSN is a file only root reads, its CA the copy beside it; never in argv.
        db = Path(service.dir) / "db"
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert f"ssl_ca={service.dir}/db-ca.pem" in db.read_text()
        assert (Path(service.dir) / "db-ca.pem").read_text() == ca.read_text()
        assert "pa%27ss" not in service.command() + service.start_script()
        # A crash: the supervisor starts the watch again, which continues its directory.
        first = _checks(service)[-1]["pid"]
        os.kill(first, signal.SIGKILL)
        until(lambda: _checks(service)[-1]["pid"] != first, within_s=20)
        assert all(c["dsn_ok"] and c["connector"] == "orders-cdc" for c in _checks(service))
        supervisor = int((Path(service.dir) / "supervisor.pid").read_text())
    finally:
        pulled = service.uninstall(tmp_path / "results")
    assert service.state() == "inactive"
    assert group_alive(supervisor) == []  # the supervisor and its watch: gone
    assert not Path(service.dir).exists()
    kept = [json.loads(x) for x in (pulled / "checks.jsonl").read_text().splitlines()]
    assert pulled == tmp_path / "results" / "watch-orders" and len({c["pid"] for c in kept}) >= 2


@pytest.mark.parametrize("name", ["Orders", "a b", "x" * 41, "-lead", "a;rm"])
def test_a_watch_name_becomes_a_unit_name_or_is_refused(name):
    with pytest.raises(InvalidInputError, match="--name"):
        check_name(name)
    assert check_name("orders-2") == "orders-2"


def test_the_dsn_points_at_the_hosts_copy_of_its_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    host_dsn, local = dsn_for_host(f"mysql://u:p@h:3306/d?ssl_ca={ca}&table=t", "/opt/c/ca.pem")
    assert local == ca
    assert host_dsn == "mysql://u:p@h:3306/d?ssl_ca=/opt/c/ca.pem&table=t"
    with pytest.raises(InvalidInputError, match="ssl_ca"):
        dsn_for_host("mysql://u:p@h/d?ssl_ca=/nonexistent/ca.pem", "/opt/c/ca.pem")


def test_install_checks_everything_before_touching_a_host(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_AWS_STATE_DIR", str(tmp_path / "aws"))
    monkeypatch.delenv("CDCLAB_WATCH_DB", raising=False)
    full = {
        "connect_url": "http://127.0.0.1:8083",
        "connector": "c",
        "topic": "t",
        "kafka_bootstrap": "k:9092",
    }
    with pytest.raises(InvalidInputError, match="--kafka-bootstrap"):
        install_watch("w", {}, {**full, "kafka_bootstrap": None}, {"run_id": "r"})
    with pytest.raises(InvalidInputError, match="CDCLAB_WATCH_DB"):
        install_watch("w", {}, full, {"run_id": "r"})
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("CDCLAB_WATCH_DB", f"mysql://u:secret@h:3306/d?ssl_ca={ca}")
    with pytest.raises(InvalidInputError, match="--run-id RUN") as both:
        install_watch("w", {}, full, {"run_id": "r", "host": "root@h"})
    with pytest.raises(InvalidInputError, match="no AWS run 0badcafe"):
        install_watch("w", {}, full, {"run_id": "0badcafe"})
    with pytest.raises(InvalidInputError, match="--key-file"):
        install_watch("w", {}, full, {"host": "root@h"})
    assert "secret" not in str(both.value)
    assert not (tmp_path / "watches").exists()  # nothing recorded here either
