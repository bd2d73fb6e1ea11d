"""The second witness: Debezium's MilliSecondsSinceLastEvent and Connected at the moment an
episode is detected, live (the tracker) and replayed (the report) alike."""

from __future__ import annotations

import json

import pytest

from cdclab.canary import Canary
from cdclab.connect_rest import ConnectorState
from cdclab.core.journal import Journal, utc_iso
from cdclab.core.witness import witness
from cdclab.experiment.tracker import CanaryTracker
from cdclab.metrics import StreamingMetrics
from cdclab.report.summary import summarize

RUNNING = ConnectorState("RUNNING", "RUNNING")


@pytest.mark.parametrize(
    ("metrics", "says"),
    [
        (None, "no second witness (metrics not read)"),
        ({"error": "metrics unreachable: timed out"}, "no second witness (metrics unreachable"),
        ({"connected": False, "ms_since_last_event": 0}, "agrees: its binlog client is disc"),
        ({"connected": True, "ms_since_last_event": 6200}, "agrees: no binlog event read for 6.2"),
        ({"connected": True, "ms_since_last_event": -1}, "agrees: it has read no binlog event"),
        ({"connected": True, "ms_since_last_event": 1999}, "disagrees: it read a binlog event"),
    ],
)
def test_the_witness_reads_debeziums_own_metric(metrics, says):
    assert says in witness(metrics, interval_s=1.0)


def test_a_live_episode_carries_the_metrics_read_before_the_last_write(tmp_path):
    opened = []
    tracker = CanaryTracker(
        ["a"],
        deadline_s=5.0,
        misses=2,
        checks=Journal(tmp_path / "checks.jsonl"),
        on_episode_open=opened.append,
        interval_s=1.0,
    )
    for seq in range(8):
        since = 1000 * seq  # the reader has read nothing since the first canary
        metrics = {"a": StreamingMetrics(connected=True, ms_since_last_event=since)}
        tracker.written(Canary(f"c{seq}", "r", seq, 1000.0 + seq), {"a": RUNNING}, metrics)
        tracker.tick(1000.0 + seq + 0.5)
    assert len(opened) == 1
    assert opened[0].witness.startswith("Debezium agrees: no binlog event read for 6.0 s")


def _check(seq: int, outcome: str, since: int) -> dict:
    written = 1_800_000_000.0 + seq
    return {
        "canary_id": f"c{seq}",
        "seq": seq,
        "arm": "a",
        "written_at": utc_iso(written),
        "seen_at": utc_iso(written + 0.3) if outcome == "delivered" else None,
        "latency_ms": 300 if outcome == "delivered" else None,
        "outcome": outcome,
        "connector_state": "RUNNING",
        "task_state": "RUNNING",
        "metrics": {"connected": True, "ms_since_last_event": since},
    }


@pytest.mark.parametrize(("since", "says"), [(0, "disagrees"), (9000, "agrees")])
def test_the_report_replays_the_same_witness(tmp_path, since, says):
    lines = [_check(seq, "delivered", 0) for seq in range(10)]
    lines += [_check(seq, "missing", since) for seq in range(10, 20)]
    (tmp_path / "checks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "spec.yaml").write_text("canary: {interval: 1s, deadline: 5s}\n")
    summary = summarize(tmp_path)
    (episode,) = summary.arms[0].episodes
    assert episode.witness is not None and f"Debezium {says}" in episode.witness
