"""The bench's arithmetic on handcrafted journals (the figures themselves are not tested:
benchmarks are not tests)."""

from __future__ import annotations

import json

from cdclab.bench.measure import CpuSample, Measured, spread
from cdclab.bench.suite import cadence, detection, fault_precision
from cdclab.core.journal import utc_iso

T0 = 1_795_600_000.0


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_detection_is_measured_from_the_drops_actual_apply_against_the_floor(tmp_path):
    _write(
        tmp_path / "faults.jsonl",
        [
            {"event": "fault-start", "at": utc_iso(T0)},
            {"event": "fault-applied", "at": utc_iso(T0 + 20.1), "offset_ms": 100.0},
            {
                "event": "fault-healed",
                "at": utc_iso(T0 + 30.2),
                "offset_ms": 200.0,
                "healed_by": "schedule",
            },
            {"event": "fault-applied", "at": utc_iso(T0 + 60.0), "offset_ms": -50.0},
            {
                "event": "fault-healed",
                "at": utc_iso(T0 + 65.0),
                "offset_ms": 0.0,
                "healed_by": "interrupt",
            },
        ],
    )
    _write(
        tmp_path / "events.jsonl",
        [
            {"event": "clock_start", "at": utc_iso(T0), "interval_s": 1.0, "deadline_s": 30.0},
            {"event": "deadline_learned", "deadline_s": 5.0, "rule": "learned: …"},
            {"event": "silent_failure_open", "arm": "tls13", "detected_at": utc_iso(T0 + 27.1)},
            {"event": "silent_failure_open", "arm": "tls13", "detected_at": utc_iso(T0 + 67.0)},
        ],
    )
    # canaries every second on the second: the first after each drop is 0.9 s / 1.0 s later
    _write(
        tmp_path / "checks.jsonl",
        [{"arm": "tls13", "seq": k, "written_at": utc_iso(T0 + k)} for k in range(80)],
    )
    found = detection(tmp_path, "defaults")
    arm = found["per_arm"]["tls13"]
    # The learned deadline, not the provisional one of clock_start, is the floor's.
    assert found["deadline_s"] == 5.0 and found["deadline_rule"] == "learned: …"
    assert found["floor_s"] == 6.0 and arm["episodes"] == 2
    assert arm["detect_s"]["max"] == 7.0 and arm["excess_over_floor_s"] == 1.0
    # own floors 0.9 + 1 + 5 and 1.0 + 1 + 5: cdclab itself added 0.1 s at most
    assert arm["excess_over_own_floor_s"] == 0.1
    precision = fault_precision(tmp_path)
    assert precision["faults"] == 2
    assert precision["apply_offset_ms"]["max"] == 100.0  # |-50| and 100
    assert precision["heal_offset_ms"]["max"] == 200.0  # the interrupt heal is not a schedule


def test_cadence_drift_cpu_and_the_field_report_ratio(tmp_path):
    _write(
        tmp_path / "events.jsonl",
        [
            {"event": "clock_start", "at": utc_iso(T0)},
            {"event": "clock_end", "at": utc_iso(T0 + 10)},
        ],
    )
    _write(
        tmp_path / "checks.jsonl",
        [
            {"arm": arm, "seq": seq, "written_at": utc_iso(T0 + seq + 0.004)}
            for seq in range(10)
            for arm in ("tls13", "tls12")
        ],
    )
    measured = Measured([], 0, 12.0, "", "", 80.0, [CpuSample(T0, 1.0), CpuSample(T0 + 10, 1.2)])
    found = cadence(measured, tmp_path, 1.0)
    assert found["drift_ms"]["p50"] == 4.0
    assert found["cpu_percent_of_one_core"] == 2.0  # 0.2 s of CPU in 10 s
    assert found["canaries_per_arm"] == {"tls13": 10, "tls12": 10}
    assert found["checks_per_field_report_check"] == 87.0


def test_spread_is_median_min_max():
    assert spread([3.0, 1.0, 2.0, 10.0]) == {"runs": 4, "median": 2.5, "min": 1.0, "max": 10.0}


def test_bench_md_holds_detection_beside_the_previous_defaults_and_false_episodes():
    from cdclab.bench.markdown import render

    def arm(p50, worst):
        return {
            "episodes": 10,
            "detect_s": {"p50": p50, "max": worst},
            "excess_over_floor_s": 0.5,
            "excess_over_own_floor_s": 0.05,
        }

    results = {
        "started_at": "x",
        "command": "invoke bench",
        "machine": {"cpus": 4, "memory_gb": 8, "os": "12", "kernel": "k", "python": "3.11"},
        "detection": [
            {
                "label": "defaults",
                "interval_s": 1.0,
                "deadline_s": 5.0,
                "per_arm": {"a": arm(6.5, 7.2)},
            },
            {
                "label": "before",
                "interval_s": 5.0,
                "deadline_s": 30.0,
                "per_arm": {"a": arm(38, 41)},
            },
        ],
        "false_episodes": {
            "minutes": 30,
            "load_bytes_per_s": 1024000,
            "disturbances": "a pause",
            "deadline_s": 5.0,
            "latency_ms": {"p50": 400, "p99": 800},
            "false_episodes": 1,
        },
    }
    text = render(results)
    assert (
        "| detection, defaults (1 s canaries, deadline 5 s), arm a, 10 drops: p50 / max | "
        "6.5 / 7.2 s | ≤ 10 / 15 s | meets |" in text
    )
    assert (
        "| detection, before (5 s canaries, deadline 30 s), arm a, 10 drops: p50 / max | "
        "38 / 41 s | ≤ 10 / 15 s | **misses** |" in text
    )
    assert "| 1 | 0 | **misses** |" in text


def test_bench_md_judges_the_orchestrator_over_eight_arms():
    from cdclab.bench.markdown import render

    def count(arms, cpu, rss):
        return {
            "arms": arms,
            "cpu_percent_of_one_core": cpu,
            "peak_rss_mb": rss,
            "drift_ms": {"p50": 10, "p99": 30},
        }

    results = {
        "started_at": "x",
        "command": "invoke bench",
        "machine": {"cpus": 4, "memory_gb": 8, "os": "12", "kernel": "k", "python": "3.11"},
        "arms": {"minutes": 3, "per_count": [count(2, 0.8, 197.0), count(8, 6.1, 230.0)]},
    }
    text = render(results)
    assert (
        "over 2 arms (3 min): CPU of one core, peak RSS; write drift p99 | "
        "0.8 %, 197.0 MB; 30 ms | < 5 %, < 250 MB | meets |"
    ) in text
    assert (
        "over 8 arms (3 min)" in text
        and "| 6.1 %, 230.0 MB; 30 ms | < 5 %, < 250 MB | **misses** |" in text
    )


def test_bench_md_puts_a_change_of_arms_beside_every_playbook_run():
    from cdclab.bench.markdown import render

    def spread_of(median):
        return {"runs": 2, "median": median, "min": median - 1, "max": median + 1}

    lab = {
        key: spread_of(value)
        for key, value in {
            "down_s": 3,
            "cold_up_s": 150,
            "warm_up_s": 2,
            "warm_up_before_s": 70,
            "first_canary_s": 4,
            "first_canary_before_s": 75,
            "reshape_s": 45,
            "reshape_before_s": 80,
        }.items()
    }
    text = render(
        {
            "started_at": "x",
            "command": "invoke bench --parts lab",
            "machine": {"cpus": 4, "memory_gb": 8, "os": "12", "kernel": "k", "python": "3.11"},
            "lab_start": lab,
        }
    )
    assert (
        "| `invoke experiment` to first canary, the lab on another experiment's arms (median "
        "of 2, min–max; previous behaviour) | 45 s (44–46); before: 80 s | | |"
    ) in text
