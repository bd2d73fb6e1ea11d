"""The experiment engine end to end on the real lab, through the command line.

A row written to MariaDB every few seconds must arrive on both arms' topics; a run killed
with SIGKILL must leave a checks.jsonl that `invoke report` turns into a report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cdclab.ansible import run_playbook
from cdclab.connect_rest import ConnectRest
from cdclab.lab.access import running_config
from cdclab.lab.extravars import lab_extravars
from cdclab.lab.teardown import lab_owner, teardown
from cdclab.lab.up import LOCAL_INVENTORY
from tests.conftest import INVOKE, run_invoke
from tests.integration.test_lab import ENV as LAB_ENV
from tests.integration.test_lab import TEST_STATE

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]


@pytest.fixture(scope="module")
def results_root(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


def lab_env(results: Path) -> dict[str, str]:
    """The suite's lab (taking the machine's lab over if another state dir drives it) and
    a results root of the test's own."""
    os.environ["CDCLAB_STATE_DIR"] = str(TEST_STATE)
    if lab_owner() not in (None, TEST_STATE):
        teardown()  # a lab from another state dir is up: the suite owns the machine's lab
    return {**LAB_ENV, "CDCLAB_RESULTS_DIR": str(results)}


@pytest.fixture(scope="module")
def env(results_root):
    return lab_env(results_root)


def _results_dir(stdout: str) -> Path:
    match = re.search(r"^results: (.+)$", stdout, re.M)
    assert match, stdout
    return Path(match.group(1))


def _checks(directory: Path) -> list[dict]:
    lines = (directory / "checks.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _secrets() -> list[str]:
    return [p.read_text().strip() for p in (TEST_STATE / "secrets").iterdir()]


def test_bad_spec_values_are_refused_before_anything_is_created(env, results_root):
    ran = run_invoke("experiment", "tls-compare", "--set", "canary.interval=fast", env=env)
    assert ran.rc == 2
    assert "canary.interval" in ran.stderr and "5s" in ran.stderr
    assert not list(results_root.iterdir())


def test_dry_run_prints_the_plan_and_creates_nothing(env, results_root):
    ran = run_invoke("experiment", "tls-compare", "--minutes", "3", "--dry-run", env=env)
    assert ran.rc == 0, ran.stderr
    assert "180 canaries per arm" in ran.stdout
    assert "deadline learned from the first 20 canaries per arm" in ran.stdout
    assert not list(results_root.iterdir())


def test_tls_compare_end_to_end(env):
    ran = run_invoke("experiment", "tls-compare", "--minutes", "1.5", env=env, timeout=900)
    assert ran.rc == 0, ran.stdout + ran.stderr
    run = _results_dir(ran.stdout)
    assert "verdict:" in ran.stdout
    for name in (
        "spec.yaml",
        "manifest.json",
        "checks.jsonl",
        "events.jsonl",
        "summary.json",
        "report.md",
        "report.html",
        "timeline.png",
        "latency.png",
    ):
        assert (run / name).is_file(), name
    checks = _checks(run)
    for arm in ("tls13", "tls12"):
        mine = [c for c in checks if c["arm"] == arm]
        assert len(mine) >= 30, arm
        assert {c["outcome"] for c in mine} == {"delivered"}, arm
        assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in mine)
        assert all(0 < c["latency_ms"] < 30_000 for c in mine)
        # Debezium's streaming metrics came with the checks (the first may precede streaming).
        sampled = [c["metrics"] for c in mine if "error" not in c.get("metrics", {"error": 1})]
        assert len(sampled) >= len(mine) - 3, arm
        assert all(m["connected"] is True for m in sampled)
        assert max(m["ms_since_last_event"] for m in sampled) < 30_000
        assert sampled[-1]["events_seen"] > sampled[0]["events_seen"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["tls"]["tls13"]["version"] == "TLSv1.3"
    assert manifest["tls"]["tls12"]["version"] == "TLSv1.2"
    for key in ("jdk", "kafka", "connect", "debezium", "mariadb", "binlog_client"):
        assert manifest["versions"].get(key), key
    assert manifest["checksums"]["checks.jsonl"]
    # Logs came back over SSH; ansible-runner artifacts are kept.
    assert list((run / "logs").rglob("connect.log")), ran.stderr
    assert list((run / "logs").rglob("error.log")), ran.stderr
    assert list((run / "ansible").iterdir())
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    summary = json.loads((run / "summary.json").read_text())
    assert summary["silent_failures"] == 0
    assert {a["arm"]: a["failed"]["count"] for a in summary["arms"]} == {"tls13": 0, "tls12": 0}
    # No secret anywhere in the results.
    for path in run.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in _secrets()), path
    # The run cleaned up after itself: its connectors are gone, the lab's own run again.
    for arm in manifest["arms"].values():
        status, _ = ConnectRest(arm["rest_url"]).request("GET", f"/connectors/{arm['connector']}")
        assert status == 404
    status = run_invoke("lab.status", "--json", env=env)
    assert status.rc == 0, status.stdout


def test_an_experiment_refuses_a_lab_it_does_not_own_before_creating_anything(env, tmp_path):
    # The suite's lab is up (the test above). Another state directory, as a user's checkout
    # after `bash .ci/run` would have: a clear refusal, no results directory, nothing run.
    assert lab_owner() == TEST_STATE
    results = tmp_path / "results"
    ran = run_invoke(
        "experiment",
        "tls-compare",
        "--minutes",
        "1",
        env={"CDCLAB_STATE_DIR": str(tmp_path / "other"), "CDCLAB_RESULTS_DIR": str(results)},
    )
    assert ran.rc == 2, ran.stdout + ran.stderr
    assert str(TEST_STATE) in ran.stderr and "lab.down" in ran.stderr
    assert not results.exists() or not list(results.iterdir())
    assert not (tmp_path / "other").exists()


def _start(env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [str(INVOKE), "experiment", "tls-compare", *args],
        cwd=Path(__file__).parents[2],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_checks(results_root: Path, before: set[Path], count: int, timeout=300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [p for p in results_root.iterdir() if p not in before and p.is_dir()]
        if new and (new[0] / "checks.jsonl").exists() and len(_checks(new[0])) >= count:
            return new[0]
        time.sleep(1)
    raise AssertionError(f"no run in {results_root} reached {count} checks")


def test_a_log_written_while_it_is_fetched_comes_back_and_so_does_the_database_log(env, tmp_path):
    """The lab runs on while its logs are fetched: ansible's fetch compares its copy with a
    checksum of the file taken before, which a line written meanwhile changes. That must not
    fail the collection, nor cost the database's log (fetched by the play after)."""
    assert run_invoke("lab.up", env=env).rc == 0
    busy = TEST_STATE / "kafka" / "log" / "busy.log"
    stop = threading.Event()

    def write() -> None:
        with busy.open("a") as out:
            while not stop.wait(0.001):
                out.write("a line of a busy log " * 10 + "\n")
                out.flush()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        extravars = lab_extravars(running_config())
        for attempt in range(3):
            results = tmp_path / f"collect{attempt}"
            run_playbook(
                "collect.yml",
                inventory=LOCAL_INVENTORY,
                extravars={**extravars, "cdclab_results_dir": str(results)},
                artifact_dir=tmp_path / "ansible",
            )
            assert list(results.rglob("busy.log")) and list(results.rglob("error.log"))
    finally:
        stop.set()
        writer.join()
        busy.unlink()


def test_sigkill_keeps_every_check_and_report_rebuilds(env, results_root, tmp_path):
    before = set(results_root.iterdir())
    process = _start(env, "--minutes", "5", "--set", "canary.interval=1s")
    try:
        run = _wait_for_checks(results_root, before, count=30)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    kept = _checks(run)
    assert len(kept) >= 30
    assert all(
        set(c)
        >= {
            "canary_id",
            "arm",
            "written_at",
            "seen_at",
            "latency_ms",
            "outcome",
            "connector_state",
            "task_state",
        }
        for c in kept
    )
    ran = run_invoke("report", str(run), env=env)
    assert ran.rc == 0, ran.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert sum(a["canaries"] for a in summary["arms"]) == len(
        {(c["canary_id"], c["arm"]) for c in kept}
    )
    # A directory with nothing but checks.jsonl is enough.
    only = tmp_path / "only-checks"
    only.mkdir()
    shutil.copy(run / "checks.jsonl", only)
    ran = run_invoke("report", str(only), env=env)
    assert ran.rc == 0, ran.stderr
    assert (only / "report.html").exists() and (only / "report.md").exists()
    # The killed run left its connectors and paused the lab's own: lab.up resumes them and
    # proves the lab (a canary on every arm), without a playbook.
    up = run_invoke("lab.up", env=env)
    assert up.rc == 0, up.stderr
    said = " ".join(up.stderr.split())
    assert "resumed cdclab-tls13, cdclab-tls12" in said and "proven healthy" in said, said
    assert "\u25b6" not in up.stderr  # no play started
    assert run_invoke("lab.status", "--json", env=env).rc == 0


def test_ctrl_c_stops_cleanly_with_a_report(env, results_root):
    before = set(results_root.iterdir())
    process = _start(env, "--minutes", "5", "--set", "canary.interval=1s")
    run = _wait_for_checks(results_root, before, count=10)
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stdout + stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert (run / "report.html").exists()
    # A leftover of the killed run (previous test) was swept, with a warning, if any.
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "interrupted"
