"""The benchmarks, each a function returning a JSON-able dict; `invoke bench` writes them.

Lab start, check cadence and cost, detection latency and fault precision run real
experiments on the lab; the report benchmark runs `invoke report` on a synthetic journal.
Nothing here asserts a target: the figures and the targets are written side by side.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdclab.bench.measure import Measured, run_measured, spread
from cdclab.bench.synthetic import directory_size_mb, write_synthetic_run
from cdclab.core.journal import parse_iso, read_journal
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.paths import PROJECT_ROOT
from cdclab.report.stats import percentiles

MANUAL_CHECK_S = 87.0  # the original investigation checked by hand every ~87 s
TARGETS = {
    "cold_up_s": 300.0,  # with downloads; here jars are cached
    "warm_up_s": 5.0,
    "first_canary_s": 10.0,
    "cpu_percent_at_1s": 5.0,
    "report_s": 2.0,
    "fault_offset_ms": 500.0,
    "detection_excess_s": 1.0,
    "detection_p50_s": 10.0,
    "detection_max_s": 15.0,
    "false_episodes": 0,
    "rss_mb": 250.0,
}


def _ok(measured: Measured) -> Measured:
    if measured.rc != 0:
        raise CdclabError(
            f"`invoke {' '.join(measured.argv)}` failed (rc {measured.rc}): "
            f"{(measured.stderr or measured.stdout)[-800:]}"
        )
    return measured


def _results_dir(stdout: str) -> Path:
    match = re.search(r"^results: (.+)$", stdout, re.M)
    if not match:
        raise CdclabError("the experiment printed no results directory")
    return Path(match.group(1).strip())


# -- lab start ----------------------------------------------------------------------------
# The behaviour before the lab was proven healthy: every lab.up ran every playbook.
BASELINE_ENV = {"CDCLAB_LAB_PROOF": "off"}
# The behaviour before a change of arms alone ran only the workers' plays.
ARMS_BASELINE_ENV = {"CDCLAB_LAB_ARMS_ONLY": "off"}
# Another experiment's arms: tls12's JVM options differ, so its worker restarts.
RESHAPED = ["arms.tls12.jvm_opts=-Djdk.tls.client.protocols=TLSv1.2 -Dcdclab.bench=reshaped"]


def _first_canary_s(env: dict[str, str], sets: tuple[str, ...] = ()) -> float:
    """From typing `invoke experiment` to the first canary written, on a running lab."""
    measured, run = _experiment(1.0, ["dumps.triggers=[]", *sets], env=env)
    first = min(parse_iso(c["written_at"]) for c in read_journal(run / "checks.jsonl"))
    return first - measured.started_at


def bench_lab_start(runs: int) -> dict[str, Any]:
    """Cold and warm lab.up, and run start to first canary; each warm figure beside the
    previous behaviour (every playbook on every lab.up) measured in the same bench."""
    figures: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    for _ in range(runs):
        add("down_s", _ok(run_measured(["lab.down"])).wall_s)
        add("cold_up_s", _ok(run_measured(["lab.up"])).wall_s)
        add("warm_up_s", _ok(run_measured(["lab.up"])).wall_s)
        add("warm_up_before_s", _ok(run_measured(["lab.up"], env=BASELINE_ENV)).wall_s)
        add("first_canary_s", _first_canary_s({}))
        add("first_canary_before_s", _first_canary_s(BASELINE_ENV))
        for env, key in (({}, "reshape_s"), (ARMS_BASELINE_ENV, "reshape_before_s")):
            add(key, _first_canary_s(env, tuple(RESHAPED)))  # to the other arms
            add(key, _first_canary_s(env))  # and back
    return {
        **{key: spread(values) for key, values in figures.items()},
        "note": "cold = from nothing with jars in the Maven cache; warm = lab already up; "
        "before = CDCLAB_LAB_PROOF=off, every playbook runs (the previous behaviour); "
        "reshape = to the first canary of an experiment whose arms differ from the lab's, "
        "before = CDCLAB_LAB_ARMS_ONLY=off, every playbook runs for it",
    }


# -- one experiment, measured -------------------------------------------------------------
def _experiment(
    minutes: float, sets: list[str], env: dict[str, str] | None = None
) -> tuple[Measured, Path]:
    args = ["experiment", "tls-compare", "--minutes", f"{minutes:g}"]
    for assignment in sets:
        args += ["--set", assignment]
    measured = _ok(run_measured(args, env=env))
    return measured, _results_dir(measured.stdout)


def _clock_window(run: Path) -> tuple[float, float]:
    events = {e["event"]: e for e in read_journal(run / "events.jsonl")}
    return parse_iso(events["clock_start"]["at"]), parse_iso(events["clock_end"]["at"])


def cadence(measured: Measured, run: Path, interval: float) -> dict[str, Any]:
    """Drift of each canary's write from its slot, CPU % of one core and peak RSS during the
    clock, canaries per arm; and the ratio to the original investigation's one check per ~87 s."""
    start, end = _clock_window(run)
    checks = list(read_journal(run / "checks.jsonl"))
    first_arm = checks[0]["arm"] if checks else None
    drift_ms = [
        (parse_iso(c["written_at"]) - (start + c["seq"] * interval)) * 1000
        for c in checks
        if c["arm"] == first_arm
    ]
    per_arm: dict[str, int] = {}
    for c in checks:
        per_arm[c["arm"]] = per_arm.get(c["arm"], 0) + 1
    cpu = measured.cpu_percent_between(start, end)
    return {
        "interval_s": interval,
        "clock_s": round(end - start, 1),
        "drift_ms": {k: round(v, 1) for k, v in percentiles(drift_ms, (50, 99)).items()},
        "cpu_percent_of_one_core": None if cpu is None else round(cpu, 2),
        "peak_rss_mb": measured.peak_rss_mb,
        "canaries_per_arm": per_arm,
        "checks_per_field_report_check": round(MANUAL_CHECK_S / interval, 1),
    }


def _detection_settings(events: list[dict[str, Any]]) -> tuple[float, float, str]:
    """The run's interval and deadline, and how the deadline was set (its events)."""
    start = next(e for e in events if e["event"] == "clock_start")
    learned = [e for e in events if e["event"] == "deadline_learned"]
    if learned:
        return start["interval_s"], learned[-1]["deadline_s"], learned[-1]["rule"]
    return start["interval_s"], start["deadline_s"], "set by the spec"


def detection(run: Path, label: str, misses: int = 2) -> dict[str, Any]:
    """Per arm and drop: the episode's detected_at minus the DROP's actual apply time.

    Two floors: interval + deadline (a drop just before a canary write), and the
    drop's own: the first canary written after it (phase φ), then misses - 1 more intervals,
    then the deadline. The excess over the drop's own floor is cdclab's overhead.
    """
    events = list(read_journal(run / "events.jsonl"))
    interval, deadline, rule = _detection_settings(events)
    applied = sorted(
        parse_iso(f["at"])
        for f in read_journal(run / "faults.jsonl")
        if f["event"] == "fault-applied"
    )
    writes = sorted({parse_iso(c["written_at"]) for c in read_journal(run / "checks.jsonl")})
    opened = [e for e in events if e["event"] == "silent_failure_open"]
    samples: dict[str, list[tuple[float, float]]] = {}
    for episode in opened:
        detected = parse_iso(episode["detected_at"])
        before = [a for a in applied if a <= detected]
        if not before:
            continue
        drop = before[-1]
        first = next((w for w in writes if w > drop), None)
        if first is None:
            continue
        own_floor = (first - drop) + (misses - 1) * interval + deadline
        samples.setdefault(episode["arm"], []).append((detected - drop, own_floor))
    return {
        "label": label,
        "interval_s": interval,
        "deadline_s": deadline,
        "deadline_rule": rule,
        "floor_s": interval + deadline,
        "faults": len(applied),
        "per_arm": {
            arm: {
                "episodes": len(values),
                "detect_s": {
                    k: round(v, 2) for k, v in percentiles([d for d, _ in values], (50,)).items()
                },
                "excess_over_floor_s": round(max(d for d, _ in values) - interval - deadline, 2),
                "excess_over_own_floor_s": round(max(d - f for d, f in values), 3),
            }
            for arm, values in samples.items()
        },
    }


def fault_precision(run: Path) -> dict[str, Any]:
    offsets: dict[str, list[float]] = {"apply": [], "heal": []}
    for record in read_journal(run / "faults.jsonl"):
        if record["event"] == "fault-applied":
            offsets["apply"].append(abs(record["offset_ms"]))
        elif record["event"] == "fault-healed" and record.get("healed_by") == "schedule":
            offsets["heal"].append(abs(record["offset_ms"]))
    return {
        "faults": len(offsets["apply"]),
        **{
            f"{kind}_offset_ms": {k: round(v, 1) for k, v in percentiles(vs, (50,)).items()}
            for kind, vs in offsets.items()
        },
    }


# The detection settings before the deadline was learned: a canary every 5 s, 30 s deadline.
DETECTION_BEFORE = ["canary.interval=5s", "canary.deadline=30s"]
WARMUP_S = 30.0  # campaigns start after the 20-canary warm-up


def bench_runs(minutes: float, drops: int) -> dict[str, Any]:
    """Two drop campaigns: at the defaults (1 s canaries, the learned deadline; also cadence,
    cost and fault precision), and at the previous defaults (5 s, 30 s) with drops long
    enough for them to see."""
    gap, length = 20.0, 15.0
    campaign = (
        "campaign={durations: ["
        + ", ".join([f"{length:g}s"] * drops)
        + f"], start: {WARMUP_S:g}s, gap: {gap:g}s}}"
    )
    now_minutes = max(minutes, (WARMUP_S + drops * (length + gap) + 15) / 60)
    measured, run = _experiment(now_minutes, ["dumps.triggers=[]", campaign])
    before = [
        *DETECTION_BEFORE,
        "dumps.triggers=[]",
        "campaign={durations: [50s, 50s], start: 30s, gap: 40s}",
    ]
    before_minutes = max(minutes, (30 + 50 + 40 + 50 + 30) / 60)
    before_measured, before_run = _experiment(before_minutes, before)
    return {
        "cadence": [cadence(measured, run, 1.0), cadence(before_measured, before_run, 5.0)],
        "detection": [detection(run, "defaults"), detection(before_run, "before")],
        "fault_precision": fault_precision(run),
        "runs": [str(run), str(before_run)],
    }


def bench_false_episodes(minutes: float) -> dict[str, Any]:
    """A run at the defaults with no network fault, under a 1 MB/s write load, in which one
    worker stops the world for 2 s (a GC pause: SIGSTOP) and the other is killed and
    restarted (its group rebalances, its connector restarts): every episode is false."""
    length = max(minutes, 3.0) * 60
    faults = (
        f"faults=[{{kind: pause, at: {length / 3:.0f}s, for: 2s, process: 'worker:tls13'}}, "
        f"{{kind: kill, at: {2 * length / 3:.0f}s, for: 1s, process: 'worker:tls12'}}]"
    )
    load = "load={rows_per_second: 250, row_bytes: 4096}"
    _, run = _experiment(length / 60, ["dumps.triggers=[]", load, faults])
    events = list(read_journal(run / "events.jsonl"))
    opened = [e for e in events if e["event"] == "silent_failure_open"]
    _, deadline, rule = _detection_settings(events)
    latencies = [
        c["latency_ms"] for c in read_journal(run / "checks.jsonl") if c["latency_ms"] is not None
    ]
    return {
        "minutes": round(length / 60, 1),
        "load_bytes_per_s": 250 * 4096,
        "disturbances": "2 s pause of worker tls13; kill and restart of worker tls12",
        "deadline_s": deadline,
        "deadline_rule": rule,
        "latency_ms": {k: round(v) for k, v in percentiles(latencies, (50, 99)).items()},
        "false_episodes": len(opened),
        "episodes": opened,
        "run": str(run),
    }


def bench_arms(minutes: float, most: int = 8) -> dict[str, Any]:
    """The orchestrator's own CPU and memory at 1 s canaries, with two arms and with the
    most one lab holds (one JVM per arm), no faults, the same length."""
    figures = []
    for count in (2, most):
        arms = ", ".join(f"a{k}: {{}}" for k in range(1, count + 1))
        measured, run = _experiment(minutes, ["dumps.triggers=[]", f"arms={{{arms}}}"])
        figures.append({"arms": count, **cadence(measured, run, 1.0)})
    return {"minutes": minutes, "per_count": figures}


# -- report cost ----------------------------------------------------------------------------
def commit_of(revision: str) -> str:
    """The commit a --baseline revision names in this checkout, or a clear error."""
    found = subprocess.run(
        [
            "git",
            "-C",
            str(PROJECT_ROOT),
            "rev-parse",
            "--verify",
            "--quiet",
            f"{revision}^{{commit}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise InvalidInputError(
            f"--baseline: {revision!r} is not a commit of this checkout; give a revision "
            "`git log` shows (e.g. the commit before a change), or leave --baseline out"
        )
    return found.stdout.strip()


@contextlib.contextmanager
def checkout_of(revision: str) -> Iterator[Path]:
    """A temporary git worktree of revision (the previous behaviour's code), removed after."""
    git = ["git", "-C", str(PROJECT_ROOT)]
    commit = commit_of(revision)
    place = Path(tempfile.mkdtemp(prefix="cdclab-bench-baseline-")) / "checkout"
    subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(place), commit], check=True)
    try:
        yield place
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(place)], check=False)
        shutil.rmtree(place.parent, ignore_errors=True)


REPORT_REPEATS = 5  # a two-second command on a shared machine: one run is noise


def _report_at(scratch: Path, checkout: Path | None = None) -> Measured:
    """`invoke report` on scratch, with this checkout's code or another's."""
    env = {"PYTHONPATH": str(checkout / "src")} if checkout else None
    # Sampled often: the drawing process lives about a second.
    measured = run_measured(
        ["report", str(scratch)], env=env, cwd=checkout or PROJECT_ROOT, sample_every=0.05
    )
    return _ok(measured)


def _report_walls(scratch: Path, baseline: str | None, repeats: int) -> tuple[list, list]:
    """This checkout's runs and the baseline's, interleaved so drift hits both alike."""
    new: list[Measured] = []
    old: list[Measured] = []
    with contextlib.ExitStack() as stack:
        checkout = stack.enter_context(checkout_of(baseline)) if baseline else None
        for _ in range(repeats):
            if checkout:
                old.append(_report_at(scratch, checkout))
            new.append(_report_at(scratch))
    return new, old


def bench_report(
    hours: float, baseline: str | None = None, repeats: int = REPORT_REPEATS
) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="cdclab-bench-report-"))
    try:
        started = time.time()
        checks = write_synthetic_run(scratch, hours=hours)
        journal_s = time.time() - started
        new, old = _report_walls(scratch, baseline, repeats)
        before: dict[str, Any] = {}
        if old:
            walls = spread([m.wall_s for m in old])
            before = {"baseline": baseline, "report_wall_before_s": walls["median"]}
        walls = spread([m.wall_s for m in new])
        size = directory_size_mb(scratch)
        return {
            "hours": hours,
            "arms": 2,
            "interval_s": 1.0,
            "checks": checks,
            "report_wall_s": walls["median"],
            "report_wall_spread_s": walls,
            "report_peak_rss_mb": max(m.peak_rss_mb for m in new),
            "report_drawing_peak_rss_mb": max(m.children_peak_rss_mb for m in new),
            **before,
            "results_mb": round(size, 1),
            "results_mb_per_hour": round(size / hours, 1),
            "note": f"synthetic journal written in {journal_s:.1f}s; wall (median of "
            f"{repeats}) includes Python start",
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


PARTS = ("lab", "runs", "false", "arms", "report")
LAB_PARTS = {"lab", "runs", "false", "arms"}


@dataclass(frozen=True)
class BenchOptions:
    runs: int  # repetitions of the lab start
    minutes: float  # at least this long, each experiment
    faults: int  # drops in the campaign at the defaults
    report_hours: float
    false_minutes: float


def run_parts(
    chosen: set[str], o: BenchOptions, baseline: str | None, say: Callable[[str], None]
) -> dict[str, Any]:
    """The chosen parts, in the order of PARTS, each under its own key."""
    results: dict[str, Any] = {}
    if "lab" in chosen:
        say("lab start (down, cold up, warm up) …")
        results["lab_start"] = bench_lab_start(o.runs)
    if "runs" in chosen:
        say("drop campaigns at the defaults and at the previous 5 s / 30 s …")
        results.update(bench_runs(o.minutes, o.faults))
    if "false" in chosen:
        say(f"{o.false_minutes:g} min without network faults, counting episodes …")
        results["false_episodes"] = bench_false_episodes(o.false_minutes)
    if "arms" in chosen:
        say("the orchestrator's cost with 2 and 8 arms at 1 s …")
        results["arms"] = bench_arms(o.minutes)
    if "report" in chosen:
        say("report on a synthetic journal …")
        results["report"] = bench_report(o.report_hours, baseline)
    return results


def machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "os": Path("/etc/debian_version").read_text().strip()
        if Path("/etc/debian_version").exists()
        else platform.platform(),
    }


def write_results(directory: Path, results: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=False)
    (directory / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    from cdclab.bench.markdown import render

    (directory / "bench.md").write_text(render(results))
