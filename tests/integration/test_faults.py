"""Faults on the real lab: a DROP stops delivery while REST says RUNNING, the detector
sees it, delivery resumes after the heal, and no rule is ever left behind — not even
when the orchestrator is killed with SIGKILL in the middle of the fault."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cdclab.core.faults import FaultSpec
from cdclab.core.journal import parse_iso
from cdclab.faults.actions import Endpoint, FaultAction
from cdclab.versions import load_versions
from tests.conftest import run_invoke
from tests.integration.test_experiment import _checks, _results_dir, _start, lab_env
from tests.integration.test_lab import TEST_STATE

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]
DB_ADDRESS = "198.18.213.10"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return lab_env(tmp_path_factory.mktemp("fault-results"))


def _rules(namespace: str = "cdclab-connect") -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables", "-w", "-S"], capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if "cdclab" in line]


def _faults(run: Path) -> list[dict]:
    path = run / "faults.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def _assert_a_drop_silenced_delivery(run: Path, fault_id: str, rest_from: float) -> None:
    """A both-way DROP of the database (fault `fault_id`): REST said RUNNING throughout (every
    check from `rest_from` on), nothing written during it arrived before its heal, every arm
    delivered again after it; the detector and Debezium's reader idle time saw it."""
    records = {r["event"]: r for r in _faults(run) if r["fault_id"] == fault_id}
    applied, healed = records["fault-applied"], records["fault-healed"]
    assert healed["healed_by"] == "schedule"
    assert abs(applied["offset_ms"]) < 1000 and abs(healed["offset_ms"]) < 1000
    assert any("-I OUTPUT -d 198.18.213.10" in r for r in applied["rules"])
    assert any("-I INPUT -s 198.18.213.10" in r for r in applied["rules"])
    start, end = parse_iso(applied["at"]), parse_iso(healed["at"])
    checks = [c for c in _checks(run) if parse_iso(c["written_at"]) >= rest_from]
    # REST never noticed: every check from rest_from on, before, during and after the drop,
    # says RUNNING.
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)
    for arm in ("tls13", "tls12"):
        mine = [c for c in checks if c["arm"] == arm]
        during = [c for c in mine if start <= parse_iso(c["written_at"]) < end]
        assert len(during) >= 8
        # The DROP stopped delivery: nothing written during it arrived before the heal.
        assert all(c["seen_at"] is None or parse_iso(c["seen_at"]) >= end for c in during)
        assert sum(c["outcome"] != "delivered" for c in during) >= 3
        # Delivery resumed after the heal.
        after = [c for c in mine if parse_iso(c["written_at"]) > end + 60]
        assert after and all(c["outcome"] == "delivered" for c in after)
    summary = json.loads((run / "summary.json").read_text())
    for arm in summary["arms"]:
        assert arm["episodes"], f"no silent-failure episode on {arm['arm']}"
        episode = arm["episodes"][0]
        assert start <= episode["detected_at"] <= end + 60
        assert episode["end"] is not None
    (impact,) = [i for i in summary["fault_impacts"] if i["fault_id"] == fault_id]
    assert impact["healed_by"] == "schedule"
    assert all(not a["rest_left_running"] and a["lost"] >= 3 for a in impact["arms"])
    # Beyond REST: the reader's own idle time crossed the threshold during the black hole,
    # while Connected stayed true (the keep-alive gives up only after 60 s without events).
    for arm in impact["arms"]:
        assert arm["stall_s"] is not None and arm["stall_s"] < 45 + 30, arm
        assert arm["disconnected_s"] is None, arm
    assert "Signals beyond REST" in (run / "report.md").read_text()
    assert "## Faults" in (run / "report.md").read_text()
    assert not _rules()


def test_sigkill_during_a_drop_the_dead_man_switch_heals_it(env):
    results = Path(env["CDCLAB_RESULTS_DIR"])
    before = set(results.iterdir())
    process = _start(env, "--minutes", "3", "--set", "faults=[{kind: drop, at: 15s, for: 30s}]")
    try:
        deadline = time.monotonic() + 300
        run, applied = None, None
        while time.monotonic() < deadline and applied is None:
            new = [p for p in results.iterdir() if p not in before and p.is_dir()]
            run = new[0] if new else None
            applied = (
                next((r for r in _faults(run) if r["event"] == "fault-applied"), None)
                if run
                else None
            )
            time.sleep(0.5)
        assert applied, "the fault was never applied"
        assert _rules(), "the DROP rule should be in place"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    applied_at = parse_iso(applied["at"])
    # Nobody heals it now but the timer on the host: for (30 s) + grace (15 s).
    while _rules() and time.time() < applied_at + 30 + 15 + 15:
        time.sleep(1)
    assert not _rules(), "the dead-man switch did not remove the rule"
    assert time.time() >= applied_at + 30, "healed before its time"
    healed_by = TEST_STATE / "run" / "faults" / f"{applied['fault_id']}.heal.sh.healed-by"
    assert healed_by.read_text().startswith("dead-man")
    up = run_invoke("lab.up", env=env)  # resumes what the killed run paused
    assert up.rc == 0 and "proven healthy" in up.stderr, up.stderr


def test_fault_clear_removes_any_tagged_rule_and_is_idempotent(env):
    assert run_invoke("lab.up", env=env).rc == 0
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            "cdclab-connect",
            "iptables",
            "-w",
            "-I",
            "OUTPUT",
            "-d",
            DB_ADDRESS,
            "-m",
            "comment",
            "--comment",
            "cdclab:manual:f99",
            "-j",
            "DROP",
        ],
        check=True,
    )
    assert _rules()
    cleared = run_invoke("fault.clear", "--json", env=env)
    assert cleared.rc == 0, cleared.stderr
    assert any("cdclab:manual:f99" in item for item in cleared.json()["connect"])
    assert not _rules()
    again = run_invoke("fault.clear", env=env)
    assert again.rc == 0 and "no cdclab fault" in again.stdout


def test_fault_clear_resumes_a_paused_worker_and_stops_a_pending_deadman(env):
    """What a run killed during a pause fault leaves behind: a stopped worker and a dead-man
    timer still waiting. fault.clear removes both and exits 0."""
    pidfile = TEST_STATE / "connect" / "tls13" / "run" / "connect.pid"
    if not (pidfile.exists() and _proc_state(int(pidfile.read_text())) in ("S", "R")):
        assert run_invoke("lab.up", env=env).rc == 0  # only when the tests before left none
    worker = int(pidfile.read_text())
    heal_dir = TEST_STATE / "run" / "faults"
    heal_dir.mkdir(parents=True, exist_ok=True)
    heal = heal_dir / "f42.heal.sh"
    heal.write_text(f"#!/bin/sh\nkill -CONT {worker}\ntouch {heal}.fired\n")
    action = FaultAction(
        fault_id="f42",
        run_id="killed",
        spec=FaultSpec.model_validate(
            {"kind": "pause", "at": "1s", "for": "5m", "process": "worker:tls13"}
        ),
        host=Endpoint("connect", "198.18.213.20"),
        peer=None,
        scheduled_at=1.0,
        duration=300.0,
    )
    armed = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            "cdclab-connect",
            "sh",
            "-c",
            action.deadman_command(str(heal), 15),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    timer = int(armed.stdout.split()[0])
    os.kill(worker, signal.SIGSTOP)
    try:
        stopped_by = time.monotonic() + 5  # every thread of the JVM takes the stop in turn
        while _proc_state(worker) != "T" and time.monotonic() < stopped_by:
            time.sleep(0.05)
        assert _proc_state(worker) == "T" and _proc_state(timer) in ("S", "R")
        cleared = run_invoke("fault.clear", "--json", env=env)
        assert cleared.rc == 0, cleared.stdout + cleared.stderr
        swept = [item for items in cleared.json().values() for item in items]
        assert any("dead-man timer: f42.deadman.pid" in item for item in swept), swept
        time.sleep(0.5)
        assert _proc_state(worker) in ("S", "R")  # resumed
        assert _proc_state(timer) in (None, "Z")  # stopped
        assert not (heal_dir / "f42.heal.sh.fired").exists()  # stopped, not fired
        assert not list(heal_dir.glob("*.deadman.pid"))
    finally:
        os.kill(worker, signal.SIGCONT)
        heal.unlink(missing_ok=True)


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_dump_of_an_idle_lab_worker_shows_a_reader_waiting_for_data(env, tmp_path):
    assert run_invoke("lab.up", env=env).rc == 0
    ran = run_invoke("dump", "--arm", "tls13", "--out-dir", str(tmp_path), env=env)
    assert ran.rc == 0, ran.stderr
    (dump,) = list(tmp_path.rglob("*-on_demand.txt"))
    analyzed = run_invoke("dump.analyze", "--json", str(dump), env=env).json()[0]
    readers = [t for t in analyzed["threads"] if t["name"].startswith("blc-198.18.213.10")]
    assert readers and readers[0]["klass"] == "waiting-for-data"
    assert "healthy idle" in analyzed["note"]


def test_dumps_during_a_long_drop_catch_the_reader_reconnecting(env):
    # A 10 s keep-alive makes the binlog client give up on the black hole ~10-20 s in and
    # retry the connection, which the DROP holds in connect(): dumps every 10 s see it.
    ran = run_invoke(
        "experiment",
        "tls-compare",
        "--minutes",
        "2",
        "--set",
        "connector.connect.keep.alive.interval.ms=10000",
        "--set",
        "faults=[{kind: drop, at: 15s, for: 75s}]",
        "--set",
        "dumps={triggers: [fault], every: 10s, min_interval: 10s}",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    run = _results_dir(ran.stdout)
    analyses = run_invoke("dump.analyze", "--json", str(run / "dumps"), env=env).json()
    assert len(analyses) >= 4
    classes = {t["klass"] for a in analyses for t in a["threads"]}
    assert "reconnecting" in classes, classes
    assert "reconnecting" in (run / "report.md").read_text()
    assert not _rules()


def _events(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]


def test_at_the_defaults_a_45s_drop_is_named_in_seconds_and_a_pause_or_restart_is_not(env):
    """The shipped defaults, under a 1 MB/s write load: the deadline is learned from the
    warm-up; a 2 s stop-the-world pause of one worker and a kill + restart of the other open
    no episode; a 45 s both-way DROP stops delivery while REST says RUNNING, is named within
    two intervals plus the deadline, Debezium's own metric agrees, and delivery resumes after
    its heal. (One run for both: it spares the lab three minutes.)"""
    ran = run_invoke(
        "experiment",
        "tls-compare",
        "--minutes",
        "4",
        "--set",
        "load={rows_per_second: 250, row_bytes: 4096}",
        "--set",
        "faults=[{kind: pause, at: 30s, for: 2s, process: 'worker:tls13'}, "
        "{kind: kill, at: 50s, for: 1s, process: 'worker:tls12'}, "
        "{kind: drop, at: 110s, for: 45s}]",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    run = _results_dir(ran.stdout)
    events = _events(run)
    (learned,) = [e for e in events if e["event"] == "deadline_learned"]
    deadline = learned["deadline_s"]
    assert learned["learned"] and 5.0 <= deadline <= 30.0
    # Every arm filled its warm-up (one may pass 20 while the other's last canary arrives).
    assert set(learned["samples"]) == {"tls13", "tls12"}
    assert all(n >= 20 for n in learned["samples"].values())
    spec_text = (run / "spec.yaml").read_text()
    assert spec_text.startswith("# canary.deadline learned: 4 × p99 of the warm-up")
    assert f"deadline: {deadline}" in spec_text
    summary = json.loads((run / "summary.json").read_text())
    assert summary["deadline_s"] == deadline and summary["deadline_source"] == learned["rule"]
    # Said on the terminal as it happened (rich wraps long lines where there is no terminal).
    said = " ".join((ran.stdout + ran.stderr).split())
    assert " ".join(learned["rule"].split()) in said

    faults = {(r["fault_id"], r["event"]): r for r in _faults(run)}
    kill_healed = parse_iso(faults[("f02", "fault-healed")]["at"])
    drop_at = parse_iso(faults[("f03", "fault-applied")]["at"])
    # No false episode: the pause and the worker's restart opened none.
    opened = [e for e in events if e["event"] == "silent_failure_open"]
    assert all(parse_iso(e["detected_at"]) > drop_at for e in opened), opened
    checks = _checks(run)
    # The killed worker came back (its heal started it again) and delivers.
    back = [
        c
        for c in checks
        if c["arm"] == "tls12" and kill_healed + 30 < parse_iso(c["written_at"]) < drop_at
    ]
    assert len(back) >= 20 and all(c["outcome"] == "delivered" for c in back)
    # The DROP: named on both arms within two intervals and the deadline, with a witness.
    assert {e["arm"] for e in opened} == {"tls13", "tls12"}
    for episode in opened:
        assert parse_iso(episode["detected_at"]) - drop_at <= 2 * 1.0 + deadline + 1.0
        assert episode["witness"].startswith("Debezium agrees"), episode
    assert not list(Path(TEST_STATE).rglob("*.pid.killed"))
    # The DROP as delivery saw it, from when the restarted worker was back.
    _assert_a_drop_silenced_delivery(run, "f03", rest_from=kill_healed + 30)


# The catalog's keep-alive arms on the lab's own shape (tls13, tls12), so that no worker
# restarts between tests: keep-alive on (the default) and off.
KEEPALIVE_ON_AND_OFF = (
    "arms={tls13: {}, tls12: {jvm_opts: -Djdk.tls.client.protocols=TLSv1.2, "
    "connector: {connect.keep.alive: false}}}"
)


def _conntrack(namespace: str = "cdclab-connect") -> list[str]:
    names = ("nf_conntrack_tcp_loose", "nf_conntrack_tcp_timeout_established")
    return [
        subprocess.run(
            ["ip", "netns", "exec", namespace, "cat", f"/proc/sys/net/netfilter/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for name in names
    ]


def _assert_nat_idle(run: Path, keepalive: list[str], without: list[str]) -> None:
    """After the idle window no arm delivers while REST says RUNNING; the keep-alive arms
    reconnect by itself within its interval, the others stay stalled until the heal."""
    events, faults = _events(run), {r["event"]: r for r in _faults(run)}
    applied, healed = (
        parse_iso(faults["fault-applied"]["at"]),
        parse_iso(faults["fault-healed"]["at"]),
    )
    (quiet,) = [e for e in events if e["event"] == "canary_quiet"]
    quiet_start, quiet_end = parse_iso(quiet["start"]), parse_iso(quiet["end"])
    assert abs(quiet_start - applied) < 1.0 and quiet_end - quiet_start == pytest.approx(
        20, abs=0.01
    )
    checks = _checks(run)
    assert not [c for c in checks if quiet_start <= parse_iso(c["written_at"]) < quiet_end]
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)

    def after_idle(arm):
        return [
            c
            for c in checks
            if c["arm"] == arm and quiet_end <= parse_iso(c["written_at"]) < healed
        ]

    def delivered_before_heal(arm):
        return [c for c in after_idle(arm) if c["seen_at"] and parse_iso(c["seen_at"]) < healed]

    for arm in without:  # nothing written after the idle window arrives while it lasts
        assert len(after_idle(arm)) >= 60 and not delivered_before_heal(arm), arm
    for arm in keepalive:  # it reconnects by itself (a disconnect counted) and delivers
        assert delivered_before_heal(arm), arm
        disconnects = [
            c["metrics"]["disconnects"]
            for c in after_idle(arm)
            if (c.get("metrics") or {}).get("disconnects") is not None
        ]
        assert disconnects and disconnects[-1] >= disconnects[0] + 1, arm
    # All were silent failures first, and Debezium's own metric agreed.
    opened = {e["arm"]: e for e in events if e["event"] == "silent_failure_open"}
    assert set(opened) == {*keepalive, *without}
    assert all(e["witness"].startswith("Debezium agrees") for e in opened.values())
    assert all(parse_iso(e["detected_at"]) >= quiet_end for e in opened.values())
    report = (run / "report.md").read_text()
    assert "What this run reproduces" in report and "nat-idle: an emulated NAT gateway" in report


def _assert_half_open(run: Path, keepalive: list[str], without: list[str]) -> None:
    """The database dies unheard and comes back: REST says RUNNING throughout; the
    keep-alive arms reconnect by themselves, the others read nothing to the end."""
    faults = {r["event"]: r for r in _faults(run)}
    healed = parse_iso(faults["fault-healed"]["at"])
    assert any("kill -KILL" in line for line in faults["fault-applied"]["rules"])
    events = _events(run)
    assert [e for e in events if e["event"] == "write_error"]  # the database was down
    checks = _checks(run)
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)

    def after(arm):
        return [c for c in checks if c["arm"] == arm and parse_iso(c["written_at"]) > healed + 5]

    for arm in without:
        assert len(after(arm)) >= 60 and all(c["seen_at"] is None for c in after(arm)), arm
    for arm in keepalive:
        assert [c for c in after(arm) if c["outcome"] == "delivered"], arm
    opened = {e["arm"] for e in events if e["event"] == "silent_failure_open"}
    assert opened == {*keepalive, *without}


def _assert_under_replicated(run: Path, tags: tuple[str, ...]) -> None:
    """The second broker stops: with Connect's default the task says RUNNING while nothing
    arrives, and delivers again after the heal; bounded, the task FAILS (REST sees it)."""
    faults = {r["event"]: r for r in _faults(run)}
    applied = parse_iso(faults["fault-applied"]["at"])
    healed = parse_iso(faults["fault-healed"]["at"])
    checks = _checks(run)

    def of(arm, start, end):
        return [c for c in checks if c["arm"] == arm and start <= parse_iso(c["written_at"]) < end]

    for tag in tags:
        default, bounded = f"default_{tag}", f"bounded_{tag}"
        assert all(c["task_state"] == "RUNNING" for c in of(default, 0, float("inf"))), tag
        # Nothing written while the broker is away arrives before it is back.
        during = of(default, applied + 3, healed)
        assert len(during) >= 40, tag
        assert not [c for c in during if c["seen_at"] and parse_iso(c["seen_at"]) < healed], tag
        # The broker back, the retried records go through by themselves.
        assert [c for c in of(default, healed, healed + 60) if c["outcome"] == "delivered"], tag
        # Bounded: the refused send fails the task, which REST reports, and it stays failed.
        failed = [c for c in of(bounded, applied, healed) if c["task_state"] == "FAILED"]
        assert failed, tag
        assert all(c["task_state"] == "FAILED" for c in of(bounded, healed, float("inf"))), tag
    opened = {e["arm"]: e for e in _events(run) if e["event"] == "silent_failure_open"}
    for tag in tags:  # silent first, and the reader was alive: the loss is after it
        assert opened[f"default_{tag}"]["witness"].startswith("Debezium disagrees"), tag
    assert "broker2: the lab's second broker" in (run / "report.md").read_text()
    pidfile = TEST_STATE / "kafka2" / "run" / "kafka.pid"
    state = Path(f"/proc/{pidfile.read_text().strip()}/stat").read_text().split()[2]
    assert state != "T"  # resumed by the heal


def test_nat_idle_stalls_the_reader_silently_and_only_keep_alive_reconnects(env):
    """The nat-idle experiment on the lab's shape (so no worker restarts): keep-alive on
    (tls13, the default) and off (tls12). Rules and conntrack settings are back after."""
    assert run_invoke("lab.up", env=env, timeout=900).rc == 0  # a no-op on a healthy lab
    before = _conntrack()
    ran = run_invoke(
        "experiment",
        "nat-idle",
        "--minutes",
        "3",
        "--set",
        KEEPALIVE_ON_AND_OFF,
        "--set",
        "faults=[{kind: nat-idle, at: 25s, for: 2m, timeout: 15s, idle: 20s}]",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    _assert_nat_idle(_results_dir(ran.stdout), ["tls13"], ["tls12"])
    # Nothing left behind: rules, conntrack settings, the note of them.
    assert not _rules() and _conntrack() == before
    assert not list(Path("/run/cdclab-faults").glob("conntrack-*"))


def test_half_open_leaves_the_reader_waiting_until_keep_alive_reconnects(env):
    """The half-open experiment on the lab's shape: keep-alive on (tls13) and off (tls12)."""
    ran = run_invoke(
        "experiment",
        "half-open",
        "--minutes",
        "2.5",
        "--set",
        KEEPALIVE_ON_AND_OFF,
        "--set",
        "faults=[{kind: half-open, host: db, peer: connect, at: 22s, for: 15s}]",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    _assert_half_open(_results_dir(ran.stdout), ["tls13"], ["tls12"])
    assert not _rules("cdclab-db")
    assert not list(Path(TEST_STATE).rglob("*.pid.killed"))


def _catalog_runs(results: Path) -> dict[str, Path]:
    """experiment -> its run directory, in the newest catalog directory under results."""
    (root,) = sorted(results.glob("catalog-*"))[-1:]
    return {
        d.name.rsplit("-", 2)[0]: d for d in root.iterdir() if d.is_dir() and not d.is_symlink()
    }


def test_a_ca_rotation_the_connectors_do_not_trust_is_silent_until_the_heal(env):
    """The database serves a certificate from a new CA and the connectors' sessions end:
    each reconnect of the keep-alive is refused, unlogged, while REST says RUNNING; once the
    original certificate is back, both arms deliver again. Nothing of the rotation is left."""
    up = run_invoke("lab.up", env=env, timeout=900)  # seconds when it is up already
    assert up.rc == 0, up.stdout + up.stderr
    tls = TEST_STATE / "db" / "tls"
    served = (tls / "server-cert.pem").read_bytes()
    log = TEST_STATE / "connect" / "tls13" / "log" / "connect.log"
    start = log.stat().st_size  # the lab is up: its worker has logged
    ran = run_invoke(
        "experiment",
        "ca-rotation",
        "--minutes",
        "2.5",
        "--set",
        "faults=[{kind: ca-rotation, host: db, at: 22s, for: 30s}]",
        # The ended session is noticed by the binlog client's keep-alive: at 10 s (not the
        # default 60 s), its reconnect meets the rotated certificate within the fault.
        "--set",
        "connector={connect.keep.alive.interval.ms: 10000}",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    run = _results_dir(ran.stdout)
    faults = {r["event"]: r for r in _faults(run)}
    applied = parse_iso(faults["fault-applied"]["at"])
    healed = parse_iso(faults["fault-healed"]["at"])
    checks = _checks(run)
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)

    def written(arm, start, end):
        return [c for c in checks if c["arm"] == arm and start <= parse_iso(c["written_at"]) < end]

    for arm in ("tls13", "tls12"):
        during = written(arm, applied + 3, healed)
        # A canary a second while rotated (a canary has a record per outcome it reached).
        assert len({c["canary_id"] for c in during}) >= 20, arm
        # Nothing written while the old CA was away arrived before it was back.
        assert not [c for c in during if c["seen_at"] and parse_iso(c["seen_at"]) < healed], arm
        # A later retry gets through after the heal, and from then on every canary
        # arrives in time.
        after = written(arm, healed, healed + 200)
        recovered = [c for c in after if c["outcome"] == "delivered"]
        assert recovered, arm
        last = after[-20:]
        assert len(last) == 20 and all(c["outcome"] == "delivered" for c in last), arm
    opened = {e["arm"] for e in _events(run) if e["event"] == "silent_failure_open"}
    assert opened == {"tls13", "tls12"}
    with log.open("rb") as handle:
        handle.seek(start)
        logged = handle.read()
    # The keep-alive tried to reconnect, and its refusals were logged nowhere (at INFO):
    # not even the worker's log says why.
    assert b"blc-keepalive" in logged and b"PKIX path building failed" not in logged
    assert (tls / "server-cert.pem").read_bytes() == served
    assert not list(tls.glob("*.cdclab-orig"))
    assert not list(Path("/run/cdclab-faults").glob("ca-rotation-*"))


# Last in this module: its arms differ from the lab's shape, and so do the next module's
# (ssl-debug), so the lab changes once between them, not twice.
def test_the_quick_catalog_of_a_lost_replica_across_two_debezium_releases(env):
    """invoke catalog --quick --only under-replicated, every arm once on the pinned Debezium
    (2.7, Kafka Connect 3.7) and once on the newest (3.5, its own Kafka Connect 4 worker):
    both releases registered and delivering before the fault, the failure as it is on both,
    the matrix written; the broker resumed.
    (nat-idle and half-open run above on the lab's own shape, which spares two lab changes.)"""
    assert run_invoke("lab.up", env=env, timeout=900).rc == 0  # a no-op on a healthy lab
    versions = load_versions()
    pinned, compared = versions.debezium, versions.debezium_latest
    ran = run_invoke(
        "catalog",
        "--only",
        "under-replicated",
        "--quick",
        "--debezium",
        f"{pinned},{compared}",
        env=env,
        timeout=1800,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    # Four arms on two releases and a second broker instead of the lab's two arms: the rest
    # of the lab stayed as it was, so only the workers' plays ran.
    assert "changing the workers only" in ran.stderr, ran.stderr
    runs = _catalog_runs(Path(env["CDCLAB_RESULTS_DIR"]))
    assert set(runs) == {"under-replicated"}, ran.stdout
    run, tags = runs["under-replicated"], ("dbz27", "dbz35")
    # Each release registered its own connector, ran its own plugin directory, delivered.
    ran_arms = json.loads((run / "manifest.json").read_text())["versions"]["arms"]
    arms = [f"default_{t}" for t in tags]
    assert [ran_arms[a]["debezium"] for a in arms] == [pinned, compared]
    assert [ran_arms[a]["connect"] for a in arms] == [versions.kafka, versions.connect4]
    assert ran_arms[arms[0]]["binlog_client"] != ran_arms[arms[1]]["binlog_client"]
    # The Connect 4 worker really runs Kafka 4's runtime, and logs as the others do.
    connect4_log = TEST_STATE / "connect" / arms[1] / "log" / "connect.log"
    line = rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] INFO \[.+\] Kafka version: "
    version = re.escape(versions.connect4.encode())
    logged = re.search(line + version, connect4_log.read_bytes(), re.M)
    assert logged, "the Connect 4 worker's log lacks its Kafka version in the lab's line format"
    applied = parse_iso({r["event"]: r for r in _faults(run)}["fault-applied"]["at"])
    for arm in arms + [f"bounded_{t}" for t in tags]:
        before = [
            c for c in _checks(run) if c["arm"] == arm and parse_iso(c["written_at"]) < applied
        ]
        assert sum(c["outcome"] == "delivered" for c in before) >= 15, arm
    _assert_under_replicated(run, tags)
    # The matrix: a row per arm, linked to the run's own report.
    cells = json.loads((run.parent / "catalog.json").read_text())
    assert {c["arm"] for c in cells} == {f"{k}_{t}" for k in ("default", "bounded") for t in tags}
    assert f"]({run.name}/report.md)" in (run.parent / "catalog.md").read_text()
    assert not list(Path("/run/cdclab-faults").glob("*-*"))
    assert not list(Path(TEST_STATE).rglob("*.pid.killed"))
