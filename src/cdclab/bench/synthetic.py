"""A synthetic run directory for the report benchmark: hours by arms at one check a second,
shaped like a real tls-compare run (a silent failure on one arm included)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from cdclab.core.journal import utc_iso

START = 1_795_600_000.0  # a fixed instant: the same journal every time


def write_synthetic_run(
    directory: Path, *, hours: float, interval_s: float = 1.0, arms=("tls13", "tls12")
) -> int:
    """checks.jsonl (+ events, spec, manifest); returns the number of checks written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    count = int(hours * 3600 / interval_s)
    outage = (count // 3, count // 3 + 120)  # two minutes silent on the first arm
    written = 0
    with open(directory / "checks.jsonl", "w") as checks:
        for seq in range(count):
            at = START + seq * interval_s
            for arm in arms:
                silent = arm == arms[0] and outage[0] <= seq < outage[1]
                latency = None if silent else round(rng.lognormvariate(5.8, 0.4), 1)
                record = {
                    "canary_id": f"bench0000-{seq:06d}-{rng.getrandbits(24):06x}",
                    "seq": seq,
                    "arm": arm,
                    "written_at": utc_iso(at),
                    "seen_at": None if latency is None else utc_iso(at + latency / 1000),
                    "latency_ms": latency,
                    "outcome": "missing" if silent else "delivered",
                    "connector_state": "RUNNING",
                    "task_state": "RUNNING",
                    "metrics": {
                        "connected": True,
                        "ms_since_last_event": 10_000 if silent else int(rng.random() * 900),
                        "disconnects": 0,
                        "events_seen": seq,
                    },
                }
                checks.write(json.dumps(record, separators=(",", ":")) + "\n")
                written += 1
    spec = {
        "name": "tls-compare",
        "duration": hours * 3600,
        "canary": {"interval": interval_s, "deadline": 30.0},
        "detector": {"misses": 2},
        "arms": {arm: {"description": arm} for arm in arms},
    }
    (directory / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (directory / "manifest.json").write_text(
        json.dumps(
            {
                "run_id": "bench0000",
                "name": "tls-compare",
                "status": "completed",
                "started_at": utc_iso(START),
                "ended_at": utc_iso(START + count * interval_s),
            }
        )
    )
    events = [
        {"at": utc_iso(START), "event": "clock_start", "interval_s": interval_s},
        {"at": utc_iso(START + count * interval_s), "event": "clock_end", "status": "completed"},
    ]
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return written


def directory_size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6
