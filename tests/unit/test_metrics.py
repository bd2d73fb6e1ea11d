"""Debezium's streaming metrics through Jolokia: the answers the agent gives, and the report's
reading of them (which signal noticed a fault first)."""

from __future__ import annotations

import socket
from pathlib import Path

from cdclab.core.journal import utc_iso
from cdclab.metrics import JolokiaMetrics, parse_streaming, streaming_mbean_pattern
from cdclab.report.render import build_report
from cdclab.report.summary import summarize
from tests.unit.test_summary import T0, _line, _write

MBEAN = "debezium.mariadb:context=streaming,server=run_ab12_tls13,type=connector-metrics"


def test_a_pattern_read_gives_the_four_signals():
    # The shape Jolokia 2.1 answers a read with an ObjectName pattern and attribute list.
    answer = {
        "request": {"mbean": streaming_mbean_pattern("run_ab12_tls13"), "type": "read"},
        "value": {
            MBEAN: {
                "Connected": True,
                "MilliSecondsSinceLastEvent": 1834,
                "NumberOfDisconnects": 2,
                "TotalNumberOfEventsSeen": 57,
            }
        },
        "status": 200,
    }
    metrics = parse_streaming(answer)
    assert (metrics.connected, metrics.ms_since_last_event) == (True, 1834)
    assert (metrics.disconnects, metrics.events_seen, metrics.error) == (2, 57, None)
    assert metrics.as_record() == {
        "connected": True,
        "ms_since_last_event": 1834,
        "disconnects": 2,
        "events_seen": 57,
    }


def test_no_streaming_mbean_yet_is_an_error_not_a_stall():
    answer = {
        "error_type": "javax.management.InstanceNotFoundException",
        "error": "javax.management.InstanceNotFoundException : No MBean with pattern … found",
        "status": 404,
    }
    metrics = parse_streaming(answer)
    assert metrics.ms_since_last_event is None
    assert "not streaming" in metrics.error


def test_an_unreachable_agent_is_reported_not_raised():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = JolokiaMetrics(f"http://127.0.0.1:{port}/jolokia/", timeout=0.5).streaming("x")
    assert metrics.error and "unreachable" in metrics.error


def _check(seq, arm, outcome, since_ms, connected=True, disconnects=0):
    line = _line(seq, arm, outcome, 300.0 if outcome == "delivered" else None)
    metrics = {"connected": connected, "ms_since_last_event": since_ms, "events_seen": seq}
    return {**line, "metrics": {**metrics, "disconnects": disconnects}}


def test_the_report_says_which_signal_noticed_a_black_hole_first(tmp_path):
    """A 60 s drop from canary 4 (T0+20 s): canaries 4..15 missing; the reader's idle time
    grows by 5 s per canary; the keep-alive reconnects once (disconnects 0 -> 1) after it."""
    lines = []
    for seq in range(24):
        lost = 4 <= seq <= 15
        since = (seq - 4) * 5000 + 200 if lost else 300
        disconnects = 1 if seq > 15 else 0
        lines.append(
            _check(seq, "tls13", "missing" if lost else "delivered", since, True, disconnects)
        )
    _write(tmp_path / "checks.jsonl", lines)
    faults = [
        {"event": "fault-applied", "fault_id": "f1", "label": "drop 60s", "at": utc_iso(T0 + 19.5)},
        {
            "event": "fault-healed",
            "fault_id": "f1",
            "healed_by": "schedule",
            "at": utc_iso(T0 + 79.5),
        },
    ]
    _write(tmp_path / "faults.jsonl", faults)

    summary = summarize(tmp_path)
    arm = summary.arms[0].metrics
    assert arm.samples == 24 and arm.unavailable == 0
    assert arm.max_ms_since_last_event == 55_200
    # stall threshold = the 30 s default deadline: 30.2 s .. 55.2 s idle, canaries 10..15
    assert arm.stalled == 6
    assert arm.disconnected == 0 and arm.reconnects == 1
    impact = summary.fault_impacts[0].arms[0]
    assert impact.detect_s == 30.5  # first missing canary (T0+20) + 30 s deadline - apply
    assert impact.stall_s == 30.5  # canary 10 at T0+50: 30.2 s since the last event
    assert impact.rest_s is None and not impact.rest_left_running
    assert impact.disconnected_s is None  # Connected stays true during a black hole
    assert impact.reconnects == 1
    # Both fall on the canary grid: the deadline of canary 4 is the write of canary 10.
    assert impact.first_signal == "canary past deadline + MilliSecondsSinceLastEvent"

    build_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "Signals beyond REST" in report and "first to notice" in report
    assert "canary past deadline" in report


def test_a_lower_stall_threshold_lets_the_metric_notice_first(tmp_path):
    lines = [
        _check(seq, "a", "missing" if seq >= 2 else "delivered", max(0, seq - 2) * 5000 + 200)
        for seq in range(12)
    ]
    _write(tmp_path / "checks.jsonl", lines)
    (tmp_path / "spec.yaml").write_text(
        "name: x\ncanary: {deadline: 30s}\nmetrics: {stall_after: 8s}\n"
    )
    faults = [{"event": "fault-applied", "fault_id": "f1", "label": "drop", "at": utc_iso(T0 + 9)}]
    _write(tmp_path / "faults.jsonl", faults)
    summary = summarize(tmp_path)
    assert summary.stall_after_s == 8.0
    impact = summary.fault_impacts[0].arms[0]
    assert impact.stall_s == 11.0  # canary 4 at T0+20: 10.2 s idle > 8 s
    assert impact.detect_s == 31.0
    assert impact.first_signal == "MilliSecondsSinceLastEvent"


def test_a_dump_is_read_beside_the_canaries_of_the_same_moment(tmp_path):
    """The same waiting stack is healthy with a delivery 0.3 s ago and stuck after 40 s."""
    dump = Path(__file__).parent / "dumps" / "binlog-reader-idle-tls13.txt"
    (tmp_path / "dumps" / "a").mkdir(parents=True)
    lines, events = [], []
    for seq in range(20):
        lines.append(_check(seq, "a", "delivered" if seq < 10 else "missing", 300))
    for name, at in (("early", T0 + 26), ("late", T0 + 91)):
        (tmp_path / "dumps" / "a" / f"{name}.txt").write_text(dump.read_text())
        events.append(
            {
                "event": "dump",
                "arm": "a",
                "trigger": "fault",
                "at": utc_iso(at),
                "path": f"dumps/a/{name}.txt",
            }
        )
    _write(tmp_path / "checks.jsonl", lines)
    _write(tmp_path / "events.jsonl", events)
    early, late = summarize(tmp_path).dumps
    assert "waiting-for-data" in early["classes"] and "waiting-for-data" in late["classes"]
    assert early["since_last_delivery_s"] == 0.7  # canary 5 written T0+25, seen 0.3 s later
    assert early["reader"].startswith("delivering")
    assert late["since_last_delivery_s"] == 45.7  # last arrival: canary 9 at T0+45.3
    assert late["reader"].startswith("stuck") and late["last_canary_outcome"] == "missing"


def test_a_fault_that_lost_nothing_has_no_detection_time(tmp_path):
    """Two faults: a short one nobody noticed, then one that lost canaries 10..13. The first
    must not borrow the second's losses as its own detection."""
    lines = [
        _check(seq, "a", "missing" if 10 <= seq <= 13 else "delivered", 300) for seq in range(20)
    ]
    _write(tmp_path / "checks.jsonl", lines)
    faults = [
        {"event": "fault-applied", "fault_id": "f1", "label": "short", "at": utc_iso(T0 + 1)},
        {"event": "fault-healed", "fault_id": "f1", "healed_by": "schedule", "at": utc_iso(T0 + 3)},
        {"event": "fault-applied", "fault_id": "f2", "label": "long", "at": utc_iso(T0 + 49)},
        {
            "event": "fault-healed",
            "fault_id": "f2",
            "healed_by": "schedule",
            "at": utc_iso(T0 + 69),
        },
    ]
    _write(tmp_path / "faults.jsonl", faults)
    short, long = (impact.arms[0] for impact in summarize(tmp_path).fault_impacts)
    assert short.lost == 0 and short.detect_s is None
    assert long.lost == 4 and long.detect_s == 31.0  # canary 10 at T0+50, deadline 30 s


def test_after_a_quiet_window_the_readers_idle_time_is_not_a_stall(tmp_path):
    """Canaries every 5 s, then none for 60 s (a nat-idle fault's idle window): the first
    canary after it finds every reader idle for ~65 s, which says nothing; a reader that
    still reads nothing a canary later has stalled."""
    lines = []
    for seq in list(range(8)) + list(range(20, 26)):
        quiet_over = seq >= 20
        healthy = _check(seq, "ok", "delivered", 65_000 if seq == 20 else 300)
        stuck_since = 65_000 + (seq - 20) * 5000 if quiet_over else 300
        stuck = _check(seq, "stuck", "missing" if quiet_over else "delivered", stuck_since)
        lines += [healthy, stuck]
    _write(tmp_path / "checks.jsonl", lines)
    summary = summarize(tmp_path)
    metrics = {a.arm: a.metrics for a in summary.arms}
    assert metrics["ok"].stalled == 0
    assert metrics["stuck"].stalled == 5  # every canary after the first past the window
