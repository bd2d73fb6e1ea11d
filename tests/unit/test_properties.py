"""Property-based tests (Hypothesis) for everything with rules: durations, journals, the
tracker and the detector. Each property is a rule the README states."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdclab.canary import Canary, Sighting
from cdclab.connect_rest import ConnectorState
from cdclab.core.durations import format_duration, parse_duration
from cdclab.core.journal import Journal, JournalError, numbered_records, parse_iso, read_journal
from cdclab.core.outcomes import FAILED, outcome_of
from cdclab.experiment.tracker import CanaryTracker
from cdclab.report.summary import load_checks, replay_episodes

RUNNING = ConnectorState("RUNNING", "RUNNING")
PAUSED = ConnectorState("PAUSED", "RUNNING")
T0 = 1_790_000_000.0
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- durations ----------------------------------------------------------------------------
@given(st.floats(min_value=0, max_value=7 * 86400, allow_nan=False, allow_infinity=False))
def test_parse_of_format_is_the_identity(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(0, 200), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_compound_durations_add_up(hours, minutes, seconds, millis):
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    expected = hours * 3600 + minutes * 60 + seconds + millis / 1000
    assert abs(parse_duration(text) - expected) < 1e-9


# -- journals -------------------------------------------------------------------------------
records = st.lists(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=4),
        st.one_of(st.integers(), st.text(max_size=20), st.none(), st.booleans()),
        max_size=4,
    ),
    max_size=12,
)


@given(records, st.data())
@SETTINGS
def test_any_prefix_of_a_journal_reads_back_every_complete_line(rows, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.jsonl"
        journal = Journal(path)
        for row in rows:
            journal.write(row)
        journal.close()
        raw = path.read_bytes()
        cut = data.draw(st.integers(0, len(raw)))
        path.write_bytes(raw[:cut])
        complete = raw[:cut].count(b"\n")
        warnings: list[str] = []
        back = list(read_journal(path, warnings))
        assert back == rows[:complete] or (
            # a cut right before a newline leaves the last record whole
            back == rows[: complete + 1] and not raw[:cut].endswith(b"\n")
        )
        # Resuming after the cut appends on a new line: nothing merges, nothing is lost.
        again = Journal(path)
        again.write({"resumed": True})
        again.close()
        reread = list(read_journal(path))
        assert reread == [*back, {"resumed": True}]


journal_lines = st.lists(
    st.one_of(
        st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(), max_size=3).map(
            json.dumps
        ),
        st.just(json.dumps({"_journal": "resumed"})),
        st.just('{"a": 1}, {"b": 2}'),  # two records on one line
        st.just('{"a": '),  # a torn write
        st.just("[1, 2]"),
        st.just(""),
    ),
    max_size=8,
)


def _read_or_error(path: Path) -> tuple[list, list[str]] | str:
    warnings: list[str] = []
    try:
        return list(numbered_records(path, warnings)), warnings
    except JournalError as exc:
        return f"error: {exc}"


@given(journal_lines, st.booleans())
@SETTINGS
def test_a_journal_decoded_whole_reads_exactly_as_line_by_line(lines, torn_end):
    """The report's fast path (one json.loads for a clean file) never differs from the
    line reader's rules: same records, same line numbers, same warnings, same errors."""
    import cdclab.core.journal as journal_module

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.jsonl"
        path.write_text("\n".join(lines) + ("" if torn_end or not lines else "\n"))
        fast = _read_or_error(path)
        whole = journal_module.WHOLE_FILE_BYTES
        journal_module.WHOLE_FILE_BYTES = -1  # every file streamed line by line
        try:
            slow = _read_or_error(path)
        finally:
            journal_module.WHOLE_FILE_BYTES = whole
        assert fast == slow


# -- tracker and detector -------------------------------------------------------------------
@st.composite
def schedules(draw):
    """Canaries written every interval; per arm a latency (None: never arrives) and the
    REST state read before the write; processing lags and ticks at arbitrary moments."""
    n = draw(st.integers(1, 25))
    interval = draw(st.sampled_from([1.0, 2.5, 5.0]))
    deadline = draw(st.sampled_from([2.0, 5.0, 12.5]))
    arms = ["a", "b"]
    canaries = []
    for seq in range(n):
        per_arm = {}
        for arm in arms:
            latency = draw(st.one_of(st.none(), st.floats(0.05, deadline * 3, allow_nan=False)))
            running = draw(st.booleans().map(lambda b: b or draw(st.booleans())))
            per_arm[arm] = (latency, running)
        canaries.append((seq, T0 + seq * interval, per_arm))
    ticks = draw(st.lists(st.floats(0, n * interval + deadline * 4), max_size=30))
    misses = draw(st.integers(1, 3))
    return arms, canaries, deadline, misses, sorted(ticks)


def _drive(arms, canaries, deadline, misses, ticks, path):
    """Feed the tracker in time order, as the clock does: an arrival is stamped when it is
    processed (however late the consumer got to it), ticks fall anywhere in between."""
    opened = []
    tracker = CanaryTracker(
        arms,
        deadline_s=deadline,
        misses=misses,
        checks=Journal(path),
        on_episode_open=opened.append,
    )
    events = []  # (processing time, order, action)
    for seq, written, per_arm in canaries:
        states = {arm: RUNNING if running else PAUSED for arm, (_, running) in per_arm.items()}
        canary = Canary(f"c{seq}", "r", seq, written)
        events.append((written, 0, lambda c=canary, s=states: tracker.written(c, s)))
        for arm, (latency, _) in per_arm.items():
            if latency is not None:
                seen = written + latency
                sighting = Sighting(arm, canary.canary_id, seen, None)
                events.append((seen, 1, lambda s=sighting: tracker.sighted(s)))
    for tick in ticks:
        events.append((T0 + tick, 2, lambda t=T0 + tick: tracker.tick(t)))
    end = canaries[-1][1] + deadline * 4
    events.append((end, 3, lambda: tracker.tick(end)))
    for _, _, action in sorted(events, key=lambda e: (e[0], e[1])):
        action()
    return tracker, opened


@given(schedules())
@SETTINGS
def test_outcomes_follow_timestamps_and_the_deadline_and_the_report_agrees(schedule):
    arms, canaries, deadline, misses, ticks = schedule
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checks.jsonl"
        tracker, opened = _drive(arms, canaries, deadline, misses, ticks, path)
        last = {}
        for record in read_journal(path):
            last[(record["canary_id"], record["arm"])] = record
        for seq, _, per_arm in canaries:
            for arm in arms:
                record = last[(f"c{seq}", arm)]
                written_ms = round(json_epoch(record["written_at"]) * 1000)
                seen = record["seen_at"]
                seen_ms = None if seen is None else round(json_epoch(seen) * 1000)
                assert record["outcome"] == outcome_of(written_ms, seen_ms, deadline)
                assert (seen is None) == (per_arm[arm][0] is None)
        checks = load_checks(path, deadline)
        assert {(c.canary_id, c.arm): c.outcome for c in checks} == {
            key: r["outcome"] for key, r in last.items()
        }
        # The report's replay finds the episodes the live run opened.
        replayed = replay_episodes(checks, deadline, misses)
        assert sorted((e.arm, round(e.start, 3)) for e in replayed) == sorted(
            (e.arm, round(e.start, 3)) for e in opened
        )
        # An episode opens iff `misses` canaries in a row failed while REST said RUNNING.
        for arm in arms:
            mine = sorted((c for c in checks if c.arm == arm), key=lambda c: c.written_at)
            run = longest = 0
            for check in mine:
                failed_running = check.outcome in FAILED and check.running
                run = run + 1 if failed_running else 0
                longest = max(longest, run)
            assert any(e.arm == arm for e in opened) == (longest >= misses), arm
        counts = {arm: tracker.counts[arm] for arm in arms}
        for arm in arms:
            outcomes = [r["outcome"] for (cid, a), r in last.items() if a == arm]
            assert counts[arm].late == outcomes.count("late")
            assert counts[arm].missing == outcomes.count("missing")
            assert counts[arm].delivered == outcomes.count("delivered")


def json_epoch(text: str) -> float:
    return parse_iso(text)
