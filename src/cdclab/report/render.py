"""report.md and report.html (one self-contained file) from a run's journals."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cdclab.core.journal import utc_iso
from cdclab.report.plots import latency_distribution, timeline
from cdclab.report.stats import discordant_pairs_needed
from cdclab.report.summary import Summary, summarize_with_checks
from cdclab.templating import environment

TIMELINE_PNG = "timeline.png"
LATENCY_PNG = "latency.png"


def _pct(rate) -> str:
    if rate.rate is None:
        return "–"
    return f"{rate.count} ({rate.rate:.1%}, 95% CI {rate.ci95_low:.1%}–{rate.ci95_high:.1%})"


def _ms(value: float | None) -> str:
    if value is None or value != value:  # NaN
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _when(epoch: float | None) -> str:
    return (utc_iso(epoch) or "–").replace("T", " ")


def _context(directory: Path, summary: Summary) -> dict[str, Any]:
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return {
        "s": summary,
        "manifest": manifest,
        "pct": _pct,
        "ms": _ms,
        "when": _when,
        "secs": _secs,
        "needed": discordant_pairs_needed(),
        "timeline_png": TIMELINE_PNG,
        "latency_png": LATENCY_PNG,
        "duration": (summary.ended_at - summary.started_at)
        if summary.started_at and summary.ended_at
        else None,
    }


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def build_report(directory: Path, *, allow_empty: bool = False) -> Summary:
    """Write summary.json, the two plots, report.md and report.html; return the summary."""
    summary, checks = summarize_with_checks(directory, allow_empty=allow_empty)
    (directory / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    context = _context(directory, summary)
    if checks:
        timeline(summary, checks, directory / TIMELINE_PNG)
        latency_distribution(summary, checks, directory / LATENCY_PNG)
    env = environment(html=False)
    (directory / "report.md").write_text(
        env.get_template("report.md.j2").render(**context, has_plots=bool(checks))
    )
    images = {}
    if checks:
        images = {
            "timeline": _data_uri(directory / TIMELINE_PNG),
            "latency": _data_uri(directory / LATENCY_PNG),
        }
    (directory / "report.html").write_text(
        environment(html=True)
        .get_template("report.html.j2")
        .render(**context, has_plots=bool(checks), images=images)
    )
    return summary
