"""`invoke bench --smoke` keeps the command working (no lab; no timing is asserted)."""

from __future__ import annotations

import json

from tests.conftest import run_invoke


def test_bench_smoke_writes_its_json_and_markdown(tmp_path):
    ran = run_invoke("bench", "--smoke", env={"CDCLAB_RESULTS_DIR": str(tmp_path)}, timeout=300)
    assert ran.rc == 0, ran.stderr
    (directory,) = tmp_path.glob("bench-*")
    results = json.loads((directory / "bench.json").read_text())
    assert results["report"]["checks"] == 360 and results["machine"]["cpus"] >= 1
    assert "`invoke report`" in (directory / "bench.md").read_text()
