"""Outcomes, the silent-failure detector and solo failures, on a synthetic clock."""

from __future__ import annotations

from cdclab.canary import Canary, Sighting
from cdclab.connect_rest import ConnectorState
from cdclab.core.detector import SilentFailureDetector
from cdclab.core.journal import Journal, read_journal
from cdclab.experiment.tracker import CanaryTracker

RUNNING = ConnectorState("RUNNING", "RUNNING")
FAILED = ConnectorState("RUNNING", "FAILED")


def _tracker(tmp_path, misses=2, deadline=30.0):
    opened, closed, solos = [], [], []
    journal = Journal(tmp_path / "checks.jsonl")
    tracker = CanaryTracker(
        ["a", "b"],
        deadline_s=deadline,
        misses=misses,
        checks=journal,
        on_episode_open=opened.append,
        on_episode_close=closed.append,
        on_solo_failure=solos.append,
    )
    return tracker, journal, opened, closed, solos


def _write(tracker, seq, at, states=None):
    canary = Canary(f"c{seq}", "run", seq, at)
    tracker.written(canary, states or {"a": RUNNING, "b": RUNNING})
    return canary


def _lines(tmp_path):
    return list(read_journal(tmp_path / "checks.jsonl"))


def test_delivered_within_deadline(tmp_path):
    tracker, *_ = _tracker(tmp_path)
    _write(tracker, 0, 100.0)
    tracker.sighted(Sighting("a", "c0", 100.25, None))
    tracker.sighted(Sighting("b", "c0", 100.5, None))
    tracker.tick(200.0)
    lines = _lines(tmp_path)
    assert [(r["arm"], r["outcome"], r["latency_ms"]) for r in lines] == [
        ("a", "delivered", 250.0),
        ("b", "delivered", 500.0),
    ]
    assert lines[0]["connector_state"] == lines[0]["task_state"] == "RUNNING"
    assert tracker.unresolved == 0  # settled on every arm before its deadline


def test_missing_at_deadline_then_late_supersedes(tmp_path):
    tracker, *_ = _tracker(tmp_path)
    _write(tracker, 0, 100.0)
    tracker.sighted(Sighting("a", "c0", 100.2, None))
    tracker.tick(129.9)
    assert len(_lines(tmp_path)) == 1  # b not settled before its deadline
    tracker.tick(130.0)
    assert _lines(tmp_path)[-1]["outcome"] == "missing"
    assert tracker.counts["b"].missing == 1
    tracker.sighted(Sighting("b", "c0", 145.0, None))
    last = _lines(tmp_path)[-1]
    assert (last["arm"], last["outcome"], last["latency_ms"]) == ("b", "late", 45000.0)
    assert tracker.counts["b"].missing == 0 and tracker.counts["b"].late == 1


def test_solo_failure_when_one_arm_delivered(tmp_path):
    tracker, _j, _o, _c, solos = _tracker(tmp_path)
    _write(tracker, 0, 100.0)
    tracker.sighted(Sighting("a", "c0", 100.2, None))
    tracker.tick(131.0)
    assert [(s.failed_arm, s.delivered_arms) for s in solos] == [("b", ["a"])]


def test_no_solo_failure_when_both_fail(tmp_path):
    tracker, _j, _o, _c, solos = _tracker(tmp_path)
    _write(tracker, 0, 100.0)
    tracker.tick(131.0)
    assert solos == []


def test_episode_opens_after_misses_in_a_row_and_closes_on_delivery(tmp_path):
    tracker, _j, opened, closed, _s = _tracker(tmp_path, misses=2)
    for seq in range(3):
        _write(tracker, seq, 100.0 + 5 * seq)
        tracker.sighted(Sighting("a", f"c{seq}", 100.2 + 5 * seq, None))
    tracker.tick(130.0)  # c0 overdue on b: one miss
    assert opened == []
    tracker.tick(135.0)  # c1 overdue: two in a row, REST says RUNNING
    assert [(e.arm, e.start, e.detected_at) for e in opened] == [("b", 100.0, 135.0)]
    tracker.tick(140.0)  # c2 joins the episode
    tracker.sighted(Sighting("b", "c1", 150.0, None))  # delivery resumes (late)
    assert [(e.arm, e.start, e.end, len(e.canaries)) for e in closed] == [("b", 100.0, 150.0, 3)]
    lines = _lines(tmp_path)
    assert [r["outcome"] for r in lines if r["arm"] == "b"] == [
        "missing",
        "missing",
        "missing",
        "late",
    ]


def test_a_failed_connector_is_not_a_silent_failure(tmp_path):
    tracker, _j, opened, _c, _s = _tracker(tmp_path, misses=2)
    for seq in range(4):
        _write(tracker, seq, 100.0 + seq, {"a": RUNNING, "b": FAILED})
        tracker.sighted(Sighting("a", f"c{seq}", 100.2 + seq, None))
    tracker.tick(200.0)
    assert opened == []
    assert _lines(tmp_path)[-1]["task_state"] == "FAILED"


def test_detector_streak_is_broken_by_a_canary_delivered_in_between():
    detector = SilentFailureDetector("a", misses=2)
    detector.delivered(written_at=2.0, seen_at=2.3)  # c1 arrived before c0's deadline
    assert detector.overdue("c0", 1.0, True, 31.0).opened is None
    assert detector.overdue("c2", 3.0, True, 33.0).opened is None  # c1 sits between
    change = detector.overdue("c3", 4.0, True, 34.0)
    assert change.opened is not None and change.opened.start == 3.0
    assert change.closed is None


def test_detector_closes_at_once_when_delivery_resumed_before_detection():
    # A 10 s blip: c0, c1 lost; c2 (written at 10) arrived at 10.2, long before the
    # deadlines (30 s) of c0 and c1 revealed the outage.
    detector = SilentFailureDetector("a", misses=2)
    detector.delivered(written_at=10.0, seen_at=10.2)
    detector.overdue("c0", 0.0, True, 30.0)
    change = detector.overdue("c1", 5.0, True, 35.0)
    assert change.opened is change.closed
    assert (change.closed.start, change.closed.detected_at, change.closed.end) == (0.0, 35.0, 10.2)
    assert detector.episode is None


def test_detector_late_arrival_ends_an_open_episode():
    detector = SilentFailureDetector("a", misses=2)
    detector.overdue("c0", 0.0, True, 30.0)
    opened = detector.overdue("c1", 5.0, True, 35.0).opened
    detector.overdue("c2", 10.0, True, 40.0)
    closed = detector.delivered(written_at=0.0, seen_at=50.0).closed  # backlog flushes
    assert closed is opened
    assert (closed.end, closed.canaries) == (50.0, ["c0", "c1", "c2"])


def test_journal_lines_are_readable_before_close_and_a_torn_line_is_skipped(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.write({"n": 1})
    assert list(read_journal(tmp_path / "j.jsonl")) == [{"n": 1}]  # flushed per line
    with open(tmp_path / "j.jsonl", "a") as handle:
        handle.write('{"n": 2, "tor')  # a kill in the middle of a write
    assert list(read_journal(tmp_path / "j.jsonl")) == [{"n": 1}]
    journal.close()
