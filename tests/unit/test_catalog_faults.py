"""The catalog's faults: nat-idle (its spec rules, the clock's quiet window, the emulated NAT
on a real kernel) and half-open (a database that vanishes without a word, on a real kernel).

The kernel test builds two network namespaces joined by a veth pair (a "connect" host and
a "db" host, not the lab's), streams lines from the db side as a binlog dump does, and runs
the fault's own apply and heal scripts on the connect side: a connection open before the
fault stops receiving without an error (the silent stall), a write on such a connection is
answered with a reset, a new connection works, and the heal removes the rules, restores
the conntrack settings, and lets the stalled connection deliver again.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdclab.core.faults import FaultSpec
from cdclab.core.spec import load_spec
from cdclab.errors import InvalidInputError
from cdclab.experiment.clock import due_slot
from cdclab.faults.actions import Endpoint, FaultAction, sweep_script
from cdclab.lab.processes import alive


def _fault(**fields) -> FaultSpec:
    return FaultSpec.model_validate({"kind": "nat-idle", "at": "30s", "for": "2m", **fields})


# -- the spec -----------------------------------------------------------------------------
def test_defaults_idle_past_the_timeout():
    fault = _fault()
    assert (fault.idle_timeout, fault.idle_for) == (30.0, 45.0)
    assert fault.quiet_windows() == [(30.0, 75.0)]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"timeout": "30s", "idle": "30s"}, "idle:"),
        ({"timeout": "1m", "for": "70s"}, "for:"),  # idle 75 s by default: past the fault
        ({"direction": "egress"}, "direction:"),
    ],
)
def test_an_idle_that_cannot_show_the_failure_is_refused_by_name(fields, named):
    with pytest.raises(ValueError, match=named):
        _fault(**fields)


def test_timeout_and_idle_belong_to_nat_idle_only():
    with pytest.raises(ValueError, match="only a nat-idle fault"):
        FaultSpec.model_validate({"kind": "drop", "at": "1s", "for": "5s", "timeout": "30s"})


def test_a_write_load_would_keep_connections_busy_and_is_refused():
    with pytest.raises(InvalidInputError, match="load:"):
        load_spec("nat-idle", assignments=["load={rows_per_second: 10}"])


def test_the_catalog_experiment_expects_no_canary_while_idle():
    spec = load_spec("nat-idle")
    assert spec.quiet_windows() == [(45.0, 90.0)]
    assert spec.expected_canaries == int((spec.duration - 45) // spec.canary.interval)


# -- the clock's slots ----------------------------------------------------------------------
windows = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 60)).map(lambda w: (float(w[0]), w[0] + w[1])),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    interval=st.sampled_from([0.2, 0.5, 1.0, 2.0, 5.0]),
    quiet=windows,
    duration=st.integers(10, 300),
)
def test_a_clock_on_time_writes_every_slot_outside_the_quiet_windows_and_none_inside(
    interval, quiet, duration
):
    quiet = sorted((float(a), float(b)) for a, b in quiet)
    written, seq = [], 0
    while seq * interval < duration:
        slot = due_slot(seq, 0.0, interval, quiet)
        if slot.write:
            written.append(slot.seq)
            seq = slot.seq + 1
        else:
            assert slot.seq > seq
            seq = slot.seq
    inside = lambda s: any(a <= s * interval < b for a, b in quiet)  # noqa: E731
    expected = [s for s in range(int(duration / interval) + 2) if s * interval < duration]
    assert written == [s for s in expected if not inside(s)]


@given(late=st.floats(0, 100), interval=st.sampled_from([0.5, 1.0, 5.0]))
def test_a_late_clock_skips_what_it_missed_and_never_bursts(late, interval):
    slot = due_slot(10, late, interval, [])
    assert slot.write and slot.skipped == slot.seq - 10
    now = 10 + late / interval  # in slots
    assert slot.seq <= now + 1e-9  # never a slot from the future
    if late <= interval:
        assert slot.seq == 10  # on time or nearly: the due slot itself
    else:
        assert now - slot.seq < 1  # behind: the latest slot that is due, one write only


# -- the emulated NAT on a real kernel -------------------------------------------------------
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="builds network namespaces and conntrack rules (root)",
)
CONNECT, DB = "198.18.215.1", "198.18.215.2"
PORT = 7000

# The db side: every connection gets a line every 0.2 s, as a binlog dump streams events.
SERVER = f"""
import socket, threading, time
def stream(conn):
    try:
        while True:
            conn.sendall(b"%f\\n" % time.time()); time.sleep(0.2)
    except OSError:
        pass
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{DB}", {PORT})); s.listen()
while True:
    c, _ = s.accept(); threading.Thread(target=stream, args=(c,), daemon=True).start()
"""

# The connect side: the scenario, with the fault's scripts run in its own namespace.
# Both clients: connect and read the first line; read for a while (an error is named).
CLIENT_HELPERS = f"""
import json, socket, subprocess, sys, time
def conn():
    c = socket.create_connection(("{DB}", {PORT}), timeout=5); c.recv(64); return c
def reads(c, seconds):
    c.settimeout(seconds)
    try:
        return len(c.recv(4096)) > 0
    except TimeoutError:
        return False
    except OSError as exc:
        return type(exc).__name__
"""
CLIENT = (
    CLIENT_HELPERS
    + """
apply, heal = sys.argv[1], sys.argv[2]
def conntrack():
    return [open("/proc/sys/net/netfilter/" + n).read().strip()
            for n in ("nf_conntrack_tcp_loose", "nf_conntrack_tcp_timeout_established")]
out = {"before": conntrack()}
stalled, written = conn(), conn()
subprocess.run(["sh", "-c", apply], check=True)
time.sleep(0.5); stalled.settimeout(0.1)
try:
    while stalled.recv(4096): pass
except TimeoutError:
    pass
out["during"] = conntrack()
out["stalled_reads"] = reads(stalled, 3)
try:
    written.sendall(b"x"); written.settimeout(5); out["write"] = repr(written.recv(4096))
except OSError as exc:
    out["write"] = type(exc).__name__
fresh = conn(); out["fresh_reads"] = reads(fresh, 3)
heal_out = subprocess.run(["sh", "-c", heal], capture_output=True, text=True)
out["heal_rc"] = heal_out.returncode
out["after"] = conntrack()
out["rules_after"] = [r for r in subprocess.run(["iptables", "-w", "-S"], capture_output=True,
                      text=True).stdout.splitlines() if "cdclab:" in r]
out["stalled_resumes"] = reads(stalled, 30)
print(json.dumps(out))
"""
)


@pytest.fixture
def hosts():
    suffix = uuid.uuid4().hex[:6]
    a, b = f"natc-{suffix}", f"natd-{suffix}"
    veth_a, veth_b = f"nc{suffix}", f"nd{suffix}"

    def run(*argv):
        subprocess.run(argv, check=True)

    run("ip", "netns", "add", a)
    run("ip", "netns", "add", b)
    server = None
    try:
        run("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        run("ip", "link", "set", veth_a, "netns", a)
        run("ip", "link", "set", veth_b, "netns", b)
        for ns, dev, addr in ((a, veth_a, CONNECT), (b, veth_b, DB)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", SERVER])
        time.sleep(0.5)
        yield a
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "delete", a], check=False)
        subprocess.run(["ip", "netns", "delete", b], check=False)


@needs_root
def test_the_emulated_nat_stalls_old_connections_silently_and_heals(hosts):
    action = FaultAction(
        fault_id="f01",
        run_id=f"t{uuid.uuid4().hex[:6]}",
        spec=_fault(timeout="20s", idle="25s"),
        host=Endpoint("connect", CONNECT),
        peer=Endpoint("db", DB),
        scheduled_at=30.0,
        duration=120.0,
    )
    scripts = [action.apply_script(), action.heal_script()]
    done = subprocess.run(
        ["ip", "netns", "exec", hosts, sys.executable, "-c", CLIENT, *scripts],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["during"] == ["0", "20"]  # no pick-up of unknown connections; 20 s idle
    assert out["stalled_reads"] is False  # open, no error, nothing arrives: the stall
    assert out["write"] in ("ConnectionResetError", "b''")  # the gateway's reset
    assert out["fresh_reads"] is True  # a reconnect is a new mapping
    assert out["heal_rc"] == 0
    assert out["after"] == out["before"]
    assert out["rules_after"] == []
    assert out["stalled_resumes"] is True  # the db's retransmissions get through again


@needs_root
def test_the_sweep_restores_what_a_killed_run_left(hosts, tmp_path):
    action = FaultAction(
        fault_id="f01",
        run_id=f"t{uuid.uuid4().hex[:6]}",
        spec=_fault(),
        host=Endpoint("connect", CONNECT),
        peer=Endpoint("db", DB),
        scheduled_at=30.0,
        duration=120.0,
    )

    def in_host(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", hosts, "bash", "-c", script],
            capture_output=True,
            text=True,
            check=False,
        )

    before = in_host("cat /proc/sys/net/netfilter/nf_conntrack_tcp_loose").stdout
    assert in_host(action.apply_script()).returncode == 0
    swept = in_host(sweep_script(str(tmp_path)))
    assert swept.returncode == 0, swept.stderr
    assert "conntrack settings restored" in swept.stdout
    assert in_host("cat /proc/sys/net/netfilter/nf_conntrack_tcp_loose").stdout == before
    assert "cdclab:" not in in_host("iptables -w -S").stdout


# -- half-open: the database vanishes without a word and comes back --------------------------
HALF_OPEN_CLIENT = (
    CLIENT_HELPERS
    + """
old = conn(); print("ready", flush=True)
sys.stdin.readline()  # the database is gone
old.settimeout(0.1)
try:
    while old.recv(4096): pass
except TimeoutError:
    pass
out = {"during": reads(old, 3)}
print("checked", flush=True); sys.stdin.readline()  # the database is back
out["new_reads"] = reads(conn(), 5)
out["old_reads_after"] = reads(old, 5)
try:
    old.sendall(b"x"); old.settimeout(5); out["old_write"] = repr(old.recv(4096))
except OSError as exc:
    out["old_write"] = type(exc).__name__
print(json.dumps(out), flush=True)
"""
)


@needs_root
@pytest.mark.skipif(not shutil.which("start-stop-daemon"), reason="start-stop-daemon (dpkg)")
def test_half_open_leaves_a_reading_client_on_a_connection_the_server_forgot(hosts, tmp_path):
    connect_ns, db_ns = hosts, hosts.replace("natc-", "natd-")
    pidfile = tmp_path / "server.pid"
    server_py = tmp_path / "server.py"
    server_py.write_text(SERVER)
    # As lab.up writes it: the heal starts the database again with this script.
    Path(f"{pidfile}.start").write_text(
        f"exec start-stop-daemon --start --background --make-pidfile --pidfile {pidfile} "
        f"--startas {sys.executable} -- {server_py}\n"
    )
    action = FaultAction(
        fault_id="f01",
        run_id=f"t{uuid.uuid4().hex[:6]}",
        spec=FaultSpec.model_validate(
            {"kind": "half-open", "at": "1s", "for": "30s", "host": "db", "peer": "connect"}
        ),
        host=Endpoint("db", DB),
        peer=Endpoint("connect", CONNECT),
        scheduled_at=1.0,
        duration=30.0,
        pidfiles=[str(pidfile)],
    )

    def in_db(script: str) -> None:
        done = subprocess.run(["ip", "netns", "exec", db_ns, "sh", "-c", script], check=False)
        assert done.returncode == 0

    in_db(f"sh {pidfile}.start")
    time.sleep(0.5)
    client = subprocess.Popen(
        ["ip", "netns", "exec", connect_ns, sys.executable, "-c", HALF_OPEN_CLIENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout.readline().strip() == "ready"
        first = int(pidfile.read_text())
        in_db(action.apply_script())
        assert not Path(f"/proc/{first}").exists() or not alive(first)
        client.stdin.write("gone\n")
        client.stdin.flush()
        assert client.stdout.readline().strip() == "checked"
        in_db(action.heal_script())
        client.stdin.write("back\n")
        client.stdin.flush()
        out = json.loads(client.stdout.readline())
    finally:
        client.kill()
        subprocess.run(["pkill", "-f", str(server_py)], check=False)
    assert out["during"] is False  # nothing arrives, and no error: the server's end was lost
    assert out["new_reads"] is True  # the database is back, for new connections
    assert out["old_reads_after"] is False  # the old one still hears nothing: half-open
    assert out["old_write"] in ("ConnectionResetError", "b''")  # the new server never knew it
    assert int(pidfile.read_text()) != first
    assert not Path(f"{pidfile}.killed").exists()
    done = subprocess.run(
        ["ip", "netns", "exec", db_ns, "iptables", "-w", "-S"], capture_output=True, text=True
    )
    assert "cdclab:" not in done.stdout


@settings(max_examples=30, deadline=None)
@given(starts=st.lists(st.integers(20, 250), min_size=1, max_size=3))
def test_overlapping_idle_windows_are_merged_and_their_seconds_counted_once(starts):
    faults = ", ".join(f"{{kind: nat-idle, at: {a}s, for: 60s, idle: 45s}}" for a in starts)
    spec = load_spec("nat-idle", assignments=[f"faults=[{faults}]"])
    windows = spec.quiet_windows()
    # ordered and disjoint …
    assert all(end < after for (_, end), (after, _) in itertools.pairwise(windows))
    # … and quiet exactly when some fault's own window is
    every = [w for fault in spec.all_faults() for w in fault.quiet_windows()]
    for t in (half / 2 for half in range(int(spec.duration * 2))):
        assert any(a <= t < b for a, b in windows) == any(a <= t < b for a, b in every)
    quiet = sum(b - a for a, b in windows)
    assert spec.expected_canaries == int((spec.duration - quiet) // spec.canary.interval)
