"""One test per defect the review reproduced; each failed on the code before the fix."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cdclab.canary import Canary, Sighting
from cdclab.connect_rest import UNREACHABLE, ConnectRest
from cdclab.connect_rest import ConnectorState as State
from cdclab.core.durations import format_duration, parse_duration
from cdclab.core.journal import Journal, JournalError, read_journal, utc_iso
from cdclab.core.spec import load_spec, parse_assignment
from cdclab.errors import InvalidInputError
from cdclab.experiment.results import RunDirectory
from cdclab.experiment.tracker import CanaryTracker
from cdclab.report.render import build_report
from cdclab.report.summary import load_checks, summarize

RUNNING = State("RUNNING", "RUNNING")
T0 = 1_790_000_000.0


def _check(seq, latency_ms=None, outcome="delivered", arm="a"):
    written = T0 + seq * 5
    return {
        "canary_id": f"c{seq}",
        "seq": seq,
        "arm": arm,
        "written_at": utc_iso(written),
        "seen_at": utc_iso(None if latency_ms is None else written + latency_ms / 1000),
        "latency_ms": latency_ms,
        "outcome": outcome,
        "connector_state": "RUNNING",
        "task_state": "RUNNING",
    }


def _lines(path):
    return list(read_journal(path))


# -- 2. a late canary is never `delivered` ------------------------------------------------
def test_an_arrival_processed_after_its_deadline_is_late_even_without_a_tick(tmp_path):
    tracker = CanaryTracker(
        ["a"], deadline_s=30.0, misses=2, checks=Journal(tmp_path / "checks.jsonl")
    )
    tracker.written(Canary("c0", "r", 0, 100.0), {"a": RUNNING})
    # A REST poll blocked the clock: the first thing it processes is the arrival at +45 s.
    tracker.sighted(Sighting("a", "c0", 145.0, None))
    (*_, last) = _lines(tmp_path / "checks.jsonl")
    assert (last["outcome"], last["latency_ms"]) == ("late", 45000)
    assert tracker.counts["a"].late == 1 and tracker.counts["a"].delivered == 0


def test_the_report_recomputes_outcomes_from_timestamps_and_deadline(tmp_path):
    lines = [_check(0, 45_000, "delivered"), _check(1, 300, "delivered"), _check(2, 29_999)]
    (tmp_path / "checks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    outcomes = [c.outcome for c in load_checks(tmp_path / "checks.jsonl", 30.0)]
    assert outcomes == ["late", "delivered", "delivered"]
    assert summarize(tmp_path).arms[0].late.count == 1


def test_long_missing_canaries_are_forgotten_so_memory_stays_bounded(tmp_path):
    tracker = CanaryTracker(
        ["a"], deadline_s=1.0, misses=2, checks=Journal(tmp_path / "c.jsonl"), late_window_s=60
    )
    for seq in range(200):
        tracker.written(Canary(f"c{seq}", "r", seq, T0 + seq), {"a": RUNNING})
        tracker.tick(T0 + seq + 0.5)
    assert tracker.awaiting_late <= 62


def test_the_commit_time_is_journalled_beside_the_write_time(tmp_path):
    tracker = CanaryTracker(["a"], deadline_s=30.0, misses=2, checks=Journal(tmp_path / "c.jsonl"))
    tracker.written(Canary("c0", "r", 0, T0, commit_ms=3.4), {"a": RUNNING})
    tracker.sighted(Sighting("a", "c0", T0 + 0.25, None))
    (line,) = _lines(tmp_path / "c.jsonl")
    assert (line["commit_ms"], line["latency_ms"]) == (3.4, 250)


# -- 5. YAML 1.2 ------------------------------------------------------------------------
def test_set_values_follow_yaml_1_2():
    assert parse_assignment("detector.misses=010") == (["detector", "misses"], 10)
    assert parse_assignment("canary.deadline=1:00") == (["canary", "deadline"], "1:00")
    assert parse_assignment("arms.on.jvm_opts=no") == (["arms", "on", "jvm_opts"], "no")
    assert load_spec("tls-compare", assignments=["detector.misses=010"]).detector.misses == 10
    with pytest.raises(InvalidInputError, match=r"canary\.deadline"):
        load_spec("tls-compare", assignments=["canary.deadline=1:00"])


# -- 6. durations round-trip exactly ------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"), [(1.5, "1.5s"), (2.5, "2.5s"), (0.25, "250ms"), (5400, "1h30m")]
)
def test_durations_are_written_exactly(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_a_2500ms_deadline_survives_spec_yaml_into_a_rebuilt_report(tmp_path):
    spec = load_spec("tls-compare", assignments=["canary.interval=1s", "canary.deadline=2500ms"])
    run = RunDirectory.create(spec, "abcd1234", root=tmp_path)
    lines = [_check(0, 2_400, arm="tls13"), _check(1, 2_600, arm="tls13")]
    (run.path / "checks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    summary = summarize(run.path)
    assert summary.deadline_s == 2.5
    assert summary.arms[0].late.count == 1 and summary.arms[0].delivered.count == 1


# -- 7. bad journals are errors -----------------------------------------------------------
def test_an_empty_or_garbage_journal_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "checks.jsonl").write_text("")
    with pytest.raises(InvalidInputError, match=r"checks\.jsonl holds no canary check"):
        build_report(tmp_path)
    (tmp_path / "checks.jsonl").write_text(json.dumps(_check(0, 200)) + "\nnot json\n")
    with pytest.raises(JournalError, match=r"checks.jsonl: line 2 is not a JSON record"):
        summarize(tmp_path)
    (tmp_path / "checks.jsonl").write_text('{"canary_id": "c0"}\n')
    with pytest.raises(JournalError, match="line 1 is not a canary check"):
        summarize(tmp_path)


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path):
    text = json.dumps(_check(0, 200)) + "\n" + '{"canary_id": "c1", "se'
    (tmp_path / "checks.jsonl").write_text(text)
    summary = summarize(tmp_path)
    assert summary.arms[0].canaries == 1
    assert summary.warnings == [
        f"{tmp_path / 'checks.jsonl'}: line 2 is torn (a write cut short); skipped"
    ]


def test_a_resumed_journal_starts_on_a_new_line(tmp_path):
    path = tmp_path / "checks.jsonl"
    path.write_text(json.dumps(_check(0, 200)) + "\n" + '{"canary_id": "c1", "se')
    journal = Journal(path)
    journal.write(_check(2, 300))
    journal.close()
    warnings: list[str] = []
    assert [r["canary_id"] for r in read_journal(path, warnings)] == ["c0", "c2"]
    assert len(warnings) == 1 and "line 2 is torn" in warnings[0]


# -- 8. a proxy's HTML answer means unreachable -------------------------------------------
class _Proxy(BaseHTTPRequestHandler):
    status = 502

    def do_GET(self):
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [502, 200, 500])
def test_a_non_json_answer_from_connect_rest_is_reported_unreachable(status):
    handler = type("Proxy", (_Proxy,), {"status": status})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rest = ConnectRest(f"http://127.0.0.1:{server.server_port}", attempts=2, backoff=0.01)
        state = rest.connector_state("c")
        assert (state.connector, state.task) == (UNREACHABLE, UNREACHABLE)
        assert "Bad Gateway" in (state.error or "")
    finally:
        server.shutdown()
        server.server_close()


# -- 11. smaller ------------------------------------------------------------------------
def test_report_html_escapes_what_the_run_recorded(tmp_path):
    (tmp_path / "spec.yaml").write_text('name: "<script>alert(1)</script>"\n')
    (tmp_path / "checks.jsonl").write_text(json.dumps(_check(0, 200)) + "\n")
    build_report(tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_checksums_cover_every_file_ansible_artifacts_included(tmp_path):
    run = RunDirectory.create(load_spec("tls-compare"), "abcd1234", root=tmp_path)
    (run.path / "ansible" / "stdout").write_text("PLAY RECAP")
    assert "ansible/stdout" in run.checksums()
