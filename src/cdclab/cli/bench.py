"""invoke bench: cdclab's own speed and footprint (README "Performance")."""

from __future__ import annotations

import time

from invoke import task

from cdclab.cli._common import user_errors
from cdclab.progress import console, out


@task(
    help={
        "runs": "repetitions of the lab start measurements (default 3)",
        "minutes": "at least this long for each experiment run (default 3)",
        "faults": "short drops in the fault-precision campaign (default 10)",
        "report-hours": "hours of synthetic 1 s checks for the report benchmark (default 2)",
        "smoke": "only the report benchmark on 0.05 h: keeps the command working in CI",
        "parts": "comma-separated subset of lab,runs,false,arms,report (default: all)",
        "false-minutes": "length of the fault-free run that counts false episodes (default 30)",
        "baseline": "a git revision: the report benchmark also runs that revision's "
        "`invoke report` on the same journal, beside this checkout's",
    }
)
@user_errors
def bench(
    c,
    runs=3,
    minutes=3.0,
    faults=10,
    report_hours=2.0,
    smoke=False,
    parts="lab,runs,false,arms,report",
    baseline=None,
    false_minutes=30.0,
):
    """Measure lab start, check cadence and CPU, detection latency, fault precision and report
    cost; write results/bench-<UTC time>/bench.json and bench.md."""
    from cdclab.bench import suite
    from cdclab.paths import results_dir
    from cdclab.prereqs import check_lab_prerequisites

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    chosen = {p.strip() for p in parts.split(",") if p.strip()}
    unknown = chosen - set(suite.PARTS)
    if unknown:
        from cdclab.errors import InvalidInputError

        raise InvalidInputError(
            f"--parts: {sorted(unknown)}; use lab, runs, false, arms and/or report"
        )
    if baseline:
        suite.commit_of(baseline)  # a bad revision fails before anything runs
    command = (
        "invoke bench --smoke"
        if smoke
        else (
            f"invoke bench --runs {runs} --minutes {minutes} --faults {faults} "
            f"--report-hours {report_hours} --false-minutes {false_minutes} "
            f"--parts {','.join(sorted(chosen))}"
        )
    ) + (f" --baseline {baseline}" if baseline else "")
    results = {"started_at": stamp, "command": command, "machine": suite.machine()}
    if smoke:
        results["report"] = suite.bench_report(0.05, baseline, repeats=1)
    else:
        if chosen & suite.LAB_PARTS:
            check_lab_prerequisites()
        options = suite.BenchOptions(
            int(runs), float(minutes), int(faults), float(report_hours), float(false_minutes)
        )
        results.update(suite.run_parts(chosen, options, baseline, say=console.print))
    directory = results_dir() / f"bench-{stamp}"
    suite.write_results(directory, results)
    out.print(f"bench: {directory / 'bench.json'}")
    out.print((directory / "bench.md").read_text())
