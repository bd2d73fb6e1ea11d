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
            {"event": "silent_failure_open", "arm": "tls13", "detected_at": utc_iso(T0 + 27.1)},
            {"event": "silent_failure_open", "arm": "tls13", "detected_at": utc_iso(T0 + 67.0)},
        ],
    )
    # canaries every second on the second: the first after each drop is 0.9 s / 1.0 s later
    _write(
        tmp_path / "checks.jsonl",
        [{"arm": "tls13", "seq": k, "written_at": utc_iso(T0 + k)} for k in range(80)],
    )
    found = detection(tmp_path, interval=1.0, deadline=5.0)
    arm = found["per_arm"]["tls13"]
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
