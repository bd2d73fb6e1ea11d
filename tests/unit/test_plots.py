"""The report's plots: what they are drawn from, the process that draws them, and a report
that survives a failure to draw."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdclab.core.journal import utc_iso
from cdclab.errors import InvalidInputError
from cdclab.report.figures import plot_data
from cdclab.report.render import build_report
from cdclab.report.renderer import DRAWING_PROCESS
from cdclab.report.summary import summarize_with_checks

T0 = 1_790_000_000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

outcomes = st.sampled_from(["delivered", "late", "missing"])
checks_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        outcomes,
        st.floats(min_value=1, max_value=90_000, allow_nan=False),
        st.one_of(st.none(), st.integers(min_value=-5, max_value=10**6)),
    ),
    max_size=60,
)


def _journal(directory: Path, rows) -> None:
    lines = []
    for seq, (arm, outcome, latency, since) in enumerate(rows):
        written = T0 + seq
        seen = None if outcome == "missing" else written + latency / 1000
        line = {
            "canary_id": f"c{seq}",
            "arm": arm,
            "written_at": utc_iso(written),
            "seen_at": utc_iso(seen),
            "connector_state": "RUNNING",
            "task_state": "RUNNING",
        }
        if since is not None:
            line["metrics"] = {"ms_since_last_event": since}
        lines.append(json.dumps(line) + "\n")
    (directory / "checks.jsonl").write_text("".join(lines))


@settings(max_examples=60, deadline=None)
@given(rows=checks_strategy)
def test_every_check_is_drawn_once_where_its_outcome_puts_it(tmp_path_factory, rows):
    directory = tmp_path_factory.mktemp("run")
    _journal(directory, rows)
    if not rows:
        return
    summary, checks = summarize_with_checks(directory)
    data = plot_data(summary, checks)
    assert [s.arm for s in data.arms] == [a.arm for a in summary.arms]
    for series in data.arms:
        mine = [c for c in checks if c.arm == series.arm]
        for outcome, (at, latency) in (("delivered", series.delivered), ("late", series.late)):
            picked = [c for c in mine if c.outcome == outcome and c.latency_ms]
            assert list(at) == [c.written_at for c in picked]
            assert list(latency) == [c.latency_ms for c in picked]
        assert list(series.missing_at) == [c.written_at for c in mine if c.outcome == "missing"]
        assert list(series.latencies_ms) == sorted(c.latency_ms for c in mine if c.latency_ms)
        at, seconds = series.since_last_event
        sampled = [c for c in mine if c.metric("ms_since_last_event") is not None]
        assert list(at) == [c.written_at for c in sampled]
        assert all(s >= 0 for s in seconds)
    latencies = [c.latency_ms for c in checks if c.latency_ms]
    assert data.missing_mark_ms > max(latencies, default=0)


def _report_dir(tmp_path: Path) -> Path:
    _journal(tmp_path, [("a", "delivered", 300, 100), ("b", "missing", 0, None)] * 20)
    return tmp_path


def test_both_plots_are_real_pictures(tmp_path):
    build_report(_report_dir(tmp_path))
    for name in ("timeline.png", "latency.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2


def test_a_plot_that_cannot_be_drawn_costs_the_pictures_not_the_report(tmp_path):
    _report_dir(tmp_path)
    (tmp_path / "timeline.png").mkdir()  # matplotlib cannot write its file there
    summary = build_report(tmp_path)
    assert any("drawing the report's plots failed" in w for w in summary.warnings)
    assert "data:image/png" not in (tmp_path / "report.html").read_text()
    assert "timeline.png" not in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["arms"]


def _drawing_processes() -> list[int]:
    """This test process's drawing children (other reports may be drawn on the machine)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if DRAWING_PROCESS in cmdline and parent == os.getpid():
            found.append(int(proc.name))
    return found


def test_no_drawing_process_outlives_a_report_that_fails(tmp_path):
    before = _drawing_processes()
    with pytest.raises(InvalidInputError):
        build_report(tmp_path)  # no checks.jsonl: refused
    assert _drawing_processes() == before


def test_a_report_without_checks_draws_nothing_and_leaves_no_process(tmp_path):
    (tmp_path / "checks.jsonl").write_text("")
    before = _drawing_processes()
    build_report(tmp_path, allow_empty=True)
    assert not (tmp_path / "timeline.png").exists()
    assert _drawing_processes() == before
