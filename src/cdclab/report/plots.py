"""Plots: the timeline (latency per canary, missing marked, faults and episodes shaded) and
the latency distribution per arm. PNG files, referenced by both reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np

# Figures without pyplot: files only, no display, and half a second less of imports.
from matplotlib.figure import Figure

from cdclab.core.journal import parse_iso
from cdclab.report.summary import Check, Summary

# Markers on a line with no line (one stamped marker), not scatter (a path per point):
# the same picture in a fraction of the time for hours of 1 s canaries.
OUTCOME_STYLE = {
    "delivered": {"color": "#2a7d2e", "marker": "o", "markersize": 2.8},
    "late": {"color": "#e08a00", "marker": "o", "markersize": 3.7},
}


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _days(epochs: list[float]) -> np.ndarray:
    """Epoch seconds as matplotlib dates (days since 1970, its default epoch), vectorised:
    converting each canary through datetime was most of a long run's plotting time."""
    return np.asarray(epochs, dtype=float) / 86400.0


def fault_windows(summary: Summary) -> list[tuple[float, float, str]]:
    """(applied, healed, label) from faults.jsonl, when the run had faults."""
    applied: dict[str, tuple[float, str]] = {}
    windows = []
    for record in summary.faults:
        key = str(record.get("fault_id"))
        at = parse_iso(record.get("at"))
        if at is None:
            continue
        if record.get("event") == "fault-applied":
            applied[key] = (at, str(record.get("label", record.get("kind", "fault"))))
        elif record.get("event") == "fault-healed" and key in applied:
            start, label = applied.pop(key)
            windows.append((start, at, label))
    end = summary.ended_at or 0.0
    windows += [(start, end, label) for start, label in applied.values()]
    return windows


def _margins(fig: Figure, *, left: float, right: float, top: float, bottom: float) -> None:
    """Fixed margins in inches, not tight_layout: measuring every tick label's extent to
    place the axes was a third of a long run's plotting time, for the same picture."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
    )


def timeline(summary: Summary, checks: list[Check], path: Path) -> Path:
    arms = [a.arm for a in summary.arms]
    fig = Figure(figsize=(11, 2.2 + 1.8 * len(arms)))
    axes = fig.subplots(len(arms), 1, sharex=True, squeeze=False)
    seen = [c.latency_ms for c in checks if c.latency_ms]
    top = max(seen) * 3 if seen else 1000.0
    for ax, arm in zip(axes[:, 0], arms, strict=True):
        rows = [c for c in checks if c.arm == arm]
        _canaries(ax, rows, top)
        _windows(ax, summary, arm)
        _since_last_event(ax, rows, summary.stall_after_s)
        ax.set_yscale("log")
        ax.set_ylabel(f"{arm}\nlatency (ms)")
        ax.grid(True, which="both", alpha=0.3)
    # One legend for the figure, under the plots: per-axis legends hid the late canaries.
    unique: dict = {}
    for axis in fig.axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))
    axes[-1, 0].set_xlabel("canary written at (UTC)")
    fig.suptitle("Canary delivery latency per arm (missing canaries marked ×)")
    # Room for the title above, the time axis and the legend below, both y labels aside.
    _margins(fig, left=0.9, right=0.85, top=0.5, bottom=1.05)
    if unique:
        fig.legend(
            unique.values(), unique.keys(), loc="lower center", ncol=min(4, len(unique)), fontsize=8
        )
    fig.savefig(path, dpi=110)
    return path


def _canaries(ax, rows: list[Check], top: float) -> None:
    """Delivered and late canaries at their latency; missing ones marked at the top."""
    for outcome, style in OUTCOME_STYLE.items():
        pts = [c for c in rows if c.outcome == outcome and c.latency_ms]
        if pts:
            ax.plot(
                _days([c.written_at for c in pts]),
                [c.latency_ms for c in pts],
                linestyle="none",
                markeredgewidth=0,
                label=outcome,
                zorder=3,
                **style,
            )
    missing = [c for c in rows if c.outcome == "missing"]
    if missing:
        ax.plot(
            _days([c.written_at for c in missing]),
            [top] * len(missing),
            linestyle="none",
            color="#c62828",
            marker="x",
            markersize=5.5,
            label="missing",
            zorder=4,
        )


def _windows(ax, summary: Summary, arm: str) -> None:
    """Faults shaded grey, the arm's silent-failure episodes red (dashed: detected)."""
    for start, end, label in fault_windows(summary):
        ax.axvspan(_dt(start), _dt(end), color="#9e9e9e", alpha=0.25, lw=0, label=f"fault: {label}")
    for episode in (a for a in summary.arms if a.arm == arm):
        for e in episode.episodes:
            ax.axvspan(
                _dt(e.start),
                _dt(e.end or summary.ended_at or e.detected_at),
                color="#c62828",
                alpha=0.12,
                lw=0,
                label="silent-failure episode",
            )
            ax.axvline(_dt(e.detected_at), color="#c62828", lw=1, ls="--")


def _since_last_event(ax, rows: list[Check], stall_after_s: float) -> None:
    """Debezium's MilliSecondsSinceLastEvent on a second axis, when the run sampled it."""
    sampled = [c for c in rows if c.metric("ms_since_last_event") is not None]
    if not sampled:
        return
    twin = ax.twinx()
    twin.plot(
        _days([c.written_at for c in sampled]),
        [max(c.metric("ms_since_last_event"), 0) / 1000 for c in sampled],
        color="#1f5fa8",
        lw=1,
        alpha=0.8,
        label="MilliSecondsSinceLastEvent (s, right)",
    )
    twin.axhline(stall_after_s, color="#1f5fa8", ls=":", lw=1, label="stall threshold")
    twin.set_ylabel("since last event (s)", color="#1f5fa8")
    twin.set_ylim(bottom=0)


def latency_distribution(summary: Summary, checks: list[Check], path: Path) -> Path:
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for arm in (a.arm for a in summary.arms):
        values = np.sort([c.latency_ms for c in checks if c.arm == arm and c.latency_ms])
        if len(values):
            ax.step(
                values,
                np.arange(1, len(values) + 1) / len(values),
                where="post",
                label=f"{arm} (n={len(values)})",
            )
    ax.set_xscale("log")
    ax.set_xlabel("delivery latency (ms, log scale)")
    ax.set_ylabel("fraction of delivered canaries")
    ax.axvline(
        summary.deadline_s * 1000,
        color="#c62828",
        ls="--",
        lw=1,
        label=f"deadline {summary.deadline_s:g} s",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Latency distribution (ECDF) per arm")
    _margins(fig, left=0.75, right=0.2, top=0.4, bottom=0.55)
    fig.savefig(path, dpi=110)
    return path
