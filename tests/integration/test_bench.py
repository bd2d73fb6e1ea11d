"""`invoke bench --smoke` keeps the command working (no lab; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess

from cdclab.paths import PROJECT_ROOT
from tests.conftest import run_invoke


def _worktrees() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listed.splitlines() if line.startswith("worktree ")]


def test_bench_smoke_writes_its_json_and_markdown_beside_a_baseline(tmp_path):
    before = _worktrees()
    ran = run_invoke(
        "bench",
        "--smoke",
        "--baseline",
        "HEAD",
        env={"CDCLAB_RESULTS_DIR": str(tmp_path)},
        timeout=300,
    )
    assert ran.rc == 0, ran.stderr
    (directory,) = tmp_path.glob("bench-*")
    results = json.loads((directory / "bench.json").read_text())
    assert results["report"]["checks"] == 360 and results["machine"]["cpus"] >= 1
    # the baseline's own `invoke report` ran, from a checkout of that revision, now gone
    assert results["report"]["baseline"] == "HEAD"
    assert results["report"]["report_wall_before_s"] > 0
    assert _worktrees() == before
    markdown = (directory / "bench.md").read_text()
    assert "`invoke report`" in markdown and "before (HEAD)" in markdown


def test_a_baseline_that_is_no_commit_is_refused_before_anything_runs(tmp_path):
    ran = run_invoke(
        "bench", "--smoke", "--baseline", "no-such-rev", env={"CDCLAB_RESULTS_DIR": str(tmp_path)}
    )
    assert ran.rc != 0
    assert "--baseline: 'no-such-rev' is not a commit" in " ".join(ran.stderr.split())
    assert not list(tmp_path.iterdir())
