"""bench.md: the figures beside their targets, and the command that produced them."""

from __future__ import annotations

from typing import Any

from cdclab.bench.suite import TARGETS


def _mark(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return _verdict(value <= target)


def _verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# cdclab bench {results['started_at']}",
        "",
        f"`{results['command']}` on {m['cpus']} CPUs, {m['memory_gb']} GiB, Debian "
        f"{m['os']}, kernel {m['kernel']}, Python {m['python']}.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        *_lab_rows(results.get("lab_start")),
        *(row for c in results.get("cadence", []) for row in _cadence_rows(c)),
        *(row for d in results.get("detection", []) for row in _detection_rows(d)),
        *_false_rows(results.get("false_episodes")),
        *_arms_rows(results.get("arms")),
        *_fault_rows(results.get("fault_precision")),
        *_report_rows(results.get("report")),
    ]
    return "\n".join(lines) + "\n"


def _lab_rows(lab: dict[str, Any] | None) -> list[str]:
    if not lab:
        return []
    rows = []
    for key, label in (
        ("cold_up_s", "cold lab.up"),
        ("warm_up_s", "warm lab.up"),
        ("first_canary_s", "`invoke experiment` to first canary, lab up"),
    ):
        s, target = lab[key], TARGETS[key]
        before = lab.get(f"{key.removesuffix('_s')}_before_s")
        was = f"; before: {before['median']} s" if before else ""
        rows.append(
            f"| {label} (median of {s['runs']}, min–max{'; previous behaviour' if was else ''})"
            f" | {s['median']} s ({s['min']}–{s['max']}){was} | < {target:g} s | "
            f"{_mark(s['median'], target)} |"
        )
    if reshape := lab.get("reshape_s"):
        was = lab["reshape_before_s"]
        rows.append(
            "| `invoke experiment` to first canary, the lab on another experiment's arms "
            f"(median of {reshape['runs']}, min–max; previous behaviour) | {reshape['median']} s "
            f"({reshape['min']}–{reshape['max']}); before: {was['median']} s | | |"
        )
    s = lab["down_s"]
    rows.append(f"| lab.down (median) | {s['median']} s ({s['min']}–{s['max']}) | | |")
    return rows


def _cadence_rows(c: dict[str, Any]) -> list[str]:
    target = TARGETS["cpu_percent_at_1s"] if c["interval_s"] == 1.0 else None
    cpu = c["cpu_percent_of_one_core"]
    return [
        f"| {c['interval_s']:g} s canaries: drift p50/p99 | {c['drift_ms']['p50']} / "
        f"{c['drift_ms']['p99']} ms | | |",
        f"| {c['interval_s']:g} s canaries: CPU of one core, peak RSS | {cpu} %, "
        f"{c['peak_rss_mb']} MB | {f'< {target:g} %' if target else ''} | "
        f"{_mark(cpu, target) if target else ''} |",
        f"| {c['interval_s']:g} s canaries: per arm; vs one check per 87 s | "
        f"{c['canaries_per_arm']}; {c['checks_per_field_report_check']}× | | |",
    ]


def _detection_rows(d: dict[str, Any]) -> list[str]:
    rows = []
    label = d.get("label", "")
    settings = f"{d['interval_s']:g} s canaries, deadline {d['deadline_s']:g} s"
    for arm, a in d["per_arm"].items():
        p50, worst = a["detect_s"]["p50"], a["detect_s"]["max"]
        meets = p50 <= TARGETS["detection_p50_s"] and worst <= TARGETS["detection_max_s"]
        rows.append(
            f"| detection, {label} ({settings}), arm {arm}, {a['episodes']} drops: p50 / max |"
            f" {p50} / {worst} s | ≤ {TARGETS['detection_p50_s']:g} / "
            f"{TARGETS['detection_max_s']:g} s | {_verdict(meets)} |"
        )
        own = a["excess_over_own_floor_s"]
        rows.append(
            f"| detection, {label}, arm {arm}: excess over each drop's own floor | +{own} s |"
            f" ≤ +{TARGETS['detection_excess_s']:g} s | "
            f"{_mark(own, TARGETS['detection_excess_s'])} |"
        )
    return rows


def _arms_rows(a: dict[str, Any] | None) -> list[str]:
    if not a:
        return []
    rows = []
    for f in a["per_count"]:
        cpu, rss = f["cpu_percent_of_one_core"], f["peak_rss_mb"]
        meets = cpu is not None and cpu <= TARGETS["cpu_percent_at_1s"] and rss <= TARGETS["rss_mb"]
        rows.append(
            f"| orchestrator at 1 s canaries over {f['arms']} arms ({a['minutes']:g} min): CPU of "
            f"one core, peak RSS; write drift p99 | {cpu} %, {rss} MB; {f['drift_ms']['p99']} ms"
            f" | < {TARGETS['cpu_percent_at_1s']:g} %, < {TARGETS['rss_mb']:g} MB | "
            f"{_verdict(meets)} |"
        )
    return rows


def _false_rows(f: dict[str, Any] | None) -> list[str]:
    if not f:
        return []
    return [
        f"| false episodes: {f['minutes']:g} min at the defaults (deadline {f['deadline_s']:g} s),"
        f" {f['load_bytes_per_s'] / 1e6:.1f} MB/s write load, {f['disturbances']}; latency "
        f"p50 / p99 {f['latency_ms']['p50']} / {f['latency_ms']['p99']} ms | "
        f"{f['false_episodes']} | 0 | {_verdict(f['false_episodes'] == 0)} |"
    ]


def _fault_rows(f: dict[str, Any] | None) -> list[str]:
    if not f:
        return []
    rows = []
    for kind in ("apply", "heal"):
        o = f[f"{kind}_offset_ms"]
        rows.append(
            f"| fault {kind} offset ({f['faults']} faults) p50 / max | {o['p50']} / "
            f"{o['max']} ms | < 500 ms | {_mark(o['max'], TARGETS['fault_offset_ms'])} |"
        )
    return rows


def _report_rows(r: dict[str, Any] | None) -> list[str]:
    if not r:
        return []
    return [
        f"| `invoke report`, {r['hours']:g} h × {r['arms']} arms at 1 s "
        f"({r['checks']} checks): wall (median), peak RSS | {r['report_wall_s']} s, "
        f"{r['report_peak_rss_mb']} MB + {r.get('report_drawing_peak_rss_mb', 0)} MB drawing"
        + (f"; before ({r['baseline']}): {r['report_wall_before_s']} s" if "baseline" in r else "")
        + f" | < {TARGETS['report_s']:g} s | {_mark(r['report_wall_s'], TARGETS['report_s'])} |",
        f"| results size per hour of run | {r['results_mb_per_hour']} MB | | |",
    ]
