"""invoke report's numbers, from a directory that holds only checks.jsonl."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from cdclab.core.journal import utc_iso
from cdclab.report.render import build_report
from cdclab.report.summary import Check, _not_running_spans, load_checks, summarize

T0 = 1_790_000_000.0


def _line(seq, arm, outcome, latency_ms=None, state="RUNNING"):
    written = T0 + seq * 5
    seen = None if latency_ms is None else written + latency_ms / 1000
    return {
        "canary_id": f"c{seq}",
        "seq": seq,
        "arm": arm,
        "written_at": utc_iso(written),
        "seen_at": utc_iso(seen),
        "latency_ms": latency_ms,
        "outcome": outcome,
        "connector_state": "RUNNING",
        "task_state": state,
    }


def _write(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _field_report_like(tmp_path, solo_a=3, solo_b=0, n=41):
    """n paired canaries; arm tls13 alone fails solo_a, tls12 alone solo_b, 4 both."""
    lines = []
    for seq in range(n):
        fail_a = seq < solo_a or solo_a + solo_b <= seq < solo_a + solo_b + 4
        fail_b = solo_a <= seq < solo_a + solo_b or solo_a + solo_b <= seq < solo_a + solo_b + 4
        lines.append(
            _line(seq, "tls13", "missing") if fail_a else _line(seq, "tls13", "delivered", 300)
        )
        lines.append(
            _line(seq, "tls12", "missing") if fail_b else _line(seq, "tls12", "delivered", 400)
        )
    _write(tmp_path / "checks.jsonl", lines)


def test_report_from_checks_only_reproduces_the_field_report_table(tmp_path):
    _field_report_like(tmp_path)
    summary = build_report(tmp_path)
    for name in ("summary.json", "report.md", "report.html", "timeline.png", "latency.png"):
        assert (tmp_path / name).stat().st_size > 0
    arms = {a.arm: a for a in summary.arms}
    assert arms["tls13"].failed.count == 7 and arms["tls12"].failed.count == 4
    pair = summary.pairs[0]
    assert (pair.only_a_failed, pair.only_b_failed, pair.both_failed) == (3, 0, 4)
    assert pair.p_value == 0.25
    assert not pair.significant
    assert "not significant" in pair.verdict and "at least 6" in pair.verdict
    assert summary.deadline_source == "default"
    assert "replayed" in summary.episode_source


def test_twenty_five_to_nothing_is_significant(tmp_path):
    _field_report_like(tmp_path, solo_a=25, solo_b=0, n=60)
    pair = summarize(tmp_path).pairs[0]
    assert pair.p_value < 1e-7
    assert "significantly more often" in pair.verdict


def test_the_last_line_per_canary_and_arm_wins(tmp_path):
    _write(
        tmp_path / "checks.jsonl",
        [
            _line(0, "a", "missing"),
            _line(0, "a", "late", 45_000),
            _line(1, "a", "delivered", 200),
        ],
    )
    checks = load_checks(tmp_path / "checks.jsonl", 30.0)
    assert [(c.canary_id, c.outcome) for c in checks] == [("c0", "late"), ("c1", "delivered")]


def test_episodes_are_replayed_with_the_engine_detector(tmp_path):
    lines = [_line(s, "a", "delivered", 200) for s in range(3)]
    lines += [_line(s, "a", "missing") for s in range(3, 7)]
    lines += [_line(s, "a", "delivered", 200) for s in range(7, 9)]
    _write(tmp_path / "checks.jsonl", lines)
    summary = summarize(tmp_path)
    (episode,) = summary.arms[0].episodes
    assert episode.start == T0 + 15  # c3 written
    assert episode.detected_at == T0 + 20 + 30  # c4's deadline
    assert episode.end == T0 + 35 + 0.2  # c7 delivered: before the outage was even known
    assert episode.canaries_affected == 4  # c5 and c6 join it after it closed
    assert "Silent failure observed" in summary.verdict[0]


def test_a_torn_last_line_does_not_break_the_report(tmp_path):
    _field_report_like(tmp_path, n=10)
    with open(tmp_path / "checks.jsonl", "a") as handle:
        handle.write('{"canary_id": "c99", "ar')
    assert summarize(tmp_path).arms[0].canaries == 10


def test_the_setup_table_says_per_arm_what_it_ran(tmp_path):
    _field_report_like(tmp_path, n=10)
    arms = {
        "tls13": {"debezium": "2.7.0.Final", "binlog_client": "0.29.2", "connect": "3.7.2"},
        "tls12": {"debezium": "3.5.0.Final", "binlog_client": "0.40.6", "connect": "4.1.1"},
    }
    manifest = {"versions": {"kafka": "3.7.2", "arms": arms}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    build_report(tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "| kafka | 3.7.2 |" in markdown
    row = "| arm tls12 | Debezium 3.5.0.Final, binlog client 0.40.6, Kafka Connect 4.1.1 |"
    assert row in markdown and "{'" not in markdown
    html = (tmp_path / "report.html").read_text()
    assert "<th>arm tls13</th><td>Debezium 2.7.0.Final, binlog client 0.29.2, Kafka" in html


@given(st.lists(st.sampled_from(["RUNNING", "FAILED", "PAUSED", None]), max_size=40))
def test_not_running_spans_cover_exactly_the_checks_rest_saw_not_running(states):
    """Each span starts and ends on a not-RUNNING check, spans are ordered and apart, every
    not-RUNNING check lies in one and no RUNNING check does; unsampled checks do not count."""
    checks = [
        Check(f"c{i}", "a", T0 + i, None, None, "missing", state and "RUNNING", state)
        for i, state in enumerate(states)
    ]
    spans = _not_running_spans(checks)
    down = {c.written_at for c in checks if c.connector_state and not c.running}
    up = {c.written_at for c in checks if c.running}
    covered = {t for t in down | up if any(a <= t <= b for a, b in spans)}
    assert covered == down
    assert all(a in down and b in down and a <= b for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    # two spans are separate only because a RUNNING check came between them
    assert all(any(b1 < t < a2 for t in up) for (_, b1), (a2, _) in itertools.pairwise(spans))
