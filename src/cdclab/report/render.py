"""report.md and report.html (one self-contained file) from a run's journals."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

from cdclab.core.journal import utc_iso
from cdclab.errors import CdclabError
from cdclab.report.figures import plot_data
from cdclab.report.renderer import PlotRenderer
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


def _setup_rows(versions: dict[str, Any]) -> list[tuple[str, str]]:
    """The manifest's versions as (component, version) rows: one row per arm for what
    that arm ran (its Debezium, binlog client and Kafka Connect), not a dict's repr."""
    rows = [(name, str(value)) for name, value in versions.items() if name != "arms"]
    for arm, ran in (versions.get("arms") or {}).items():
        parts = [
            f"{label} {ran[key]}"
            for key, label in (
                ("debezium", "Debezium"),
                ("binlog_client", "binlog client"),
                ("connect", "Kafka Connect"),
            )
            if ran.get(key)
        ]
        rows.append((f"arm {arm}", ", ".join(parts)))
    return rows


def _context(directory: Path, summary: Summary) -> dict[str, Any]:
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return {
        "s": summary,
        "manifest": manifest,
        "setup_rows": _setup_rows(manifest.get("versions") or {}),
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


def build_report(
    directory: Path, *, allow_empty: bool = False, renderer: PlotRenderer | None = None
) -> Summary:
    """Write summary.json, the two plots, report.md and report.html; return the summary.
    A renderer started earlier by the caller gets a head start on importing matplotlib; the
    caller then ends it, as it owns it."""
    owned = contextlib.nullcontext(renderer) if renderer else PlotRenderer()
    with owned as drawing:  # matplotlib loads while the journals are read
        summary, checks = summarize_with_checks(directory, allow_empty=allow_empty)
        if checks:
            drawing.start(
                plot_data(summary, checks), directory / TIMELINE_PNG, directory / LATENCY_PNG
            )
        # Compiled while the plots are drawn.
        markdown = environment(html=False).get_template("report.md.j2")
        html = environment(html=True).get_template("report.html.j2")
        has_plots = bool(checks) and _drew(drawing, summary)
    (directory / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    context = {**_context(directory, summary), "has_plots": has_plots}
    (directory / "report.md").write_text(markdown.render(**context))
    images = {}
    if has_plots:
        images = {
            "timeline": _data_uri(directory / TIMELINE_PNG),
            "latency": _data_uri(directory / LATENCY_PNG),
        }
    (directory / "report.html").write_text(html.render(**context, images=images))
    return summary


def _drew(drawing: PlotRenderer, summary: Summary) -> bool:
    """Both plots drawn; a failure to draw costs the report its pictures, not its numbers."""
    try:
        drawing.finish()
    except CdclabError as exc:
        summary.warnings.append(str(exc))
        return False
    return True
