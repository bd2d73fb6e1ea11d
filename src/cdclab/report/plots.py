"""Plots: the timeline (latency per canary, missing marked, faults and episodes shaded) and
the latency distribution per arm. PNG files, referenced by both reports.

Drawn in a process of its own (renderer.PlotRenderer): main() reads the path of a file
holding (PlotData, timeline path, latency path), pickled, on standard input and writes both
files.
"""

from __future__ import annotations

import os
import pickle
import sys
from datetime import UTC
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib import ticker

# Figures without pyplot: files only, no display, and half a second less of imports.
from matplotlib.figure import Figure

from cdclab.report.figures import ArmSeries, PlotData

# Markers on a line with no line (one stamped marker), not scatter (a path per point):
# the same picture in a fraction of the time for hours of 1 s canaries.
OUTCOME_STYLE = {
    "delivered": {"color": "#2a7d2e", "marker": "o", "markersize": 2.8},
    "late": {"color": "#e08a00", "marker": "o", "markersize": 3.7},
}


def _days(epochs: np.ndarray) -> np.ndarray:
    """Epoch seconds as matplotlib dates (days since 1970, its default epoch), vectorised:
    converting each canary through datetime was most of a long run's plotting time."""
    return np.asarray(epochs, dtype=float) / 86400.0


def _plain_log(axis) -> None:
    """A log axis labelled 1, 10, 100, 1,000 with minor lines at 2 and 5: matplotlib's
    default 10^n labels go through its TeX-like text parser and its eight minor ticks a
    decade are objects drawn one by one, together a third of the drawing time."""
    axis.set_major_formatter(ticker.FuncFormatter(_plain))
    axis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(ticker.NullFormatter())


def _plain(value: float, _position: object = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _margins(fig: Figure, *, left: float, right: float, top: float, bottom: float) -> None:
    """Fixed margins in inches, not tight_layout: measuring every tick label's extent to
    place the axes was a third of a long run's plotting time, for the same picture."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height
    )


def timeline(data: PlotData, path: Path) -> Path:
    fig = Figure(figsize=(11, 2.2 + 1.8 * len(data.arms)))
    axes = fig.subplots(len(data.arms), 1, sharex=True, squeeze=False)
    for ax, series in zip(axes[:, 0], data.arms, strict=True):
        _canaries(ax, series, data.missing_mark_ms)
        _windows(ax, data, series)
        _since_last_event(ax, series, data.stall_after_s)
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_ylabel(f"{series.arm}\nlatency (ms)")
        ax.grid(True, which="both", alpha=0.3)
    # One legend for the figure, under the plots: per-axis legends hid the late canaries.
    unique: dict = {}
    for axis in fig.axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    # Times are plotted as day numbers (vectorised), so the axis is told they are dates.
    axes[-1, 0].xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))
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


def _canaries(ax, series: ArmSeries, top: float) -> None:
    """Delivered and late canaries at their latency; missing ones marked at the top."""
    for outcome, (at, latency) in (("delivered", series.delivered), ("late", series.late)):
        if len(at):
            ax.plot(
                _days(at),
                latency,
                linestyle="none",
                markeredgewidth=0,
                label=outcome,
                zorder=3,
                **OUTCOME_STYLE[outcome],
            )
    if len(series.missing_at):
        ax.plot(
            _days(series.missing_at),
            np.full(len(series.missing_at), top),
            linestyle="none",
            color="#c62828",
            marker="x",
            markersize=5.5,
            label="missing",
            zorder=4,
        )


def _windows(ax, data: PlotData, series: ArmSeries) -> None:
    """Faults shaded grey, the arm's silent-failure episodes red (dashed: detected)."""
    for start, end, label in data.fault_windows:
        ax.axvspan(
            _days(start), _days(end), color="#9e9e9e", alpha=0.25, lw=0, label=f"fault: {label}"
        )
    for start, end, detected in series.episodes:
        ax.axvspan(
            _days(start),
            _days(end),
            color="#c62828",
            alpha=0.12,
            lw=0,
            label="silent-failure episode",
        )
        ax.axvline(_days(detected), color="#c62828", lw=1, ls="--")


def _since_last_event(ax, series: ArmSeries, stall_after_s: float) -> None:
    """Debezium's MilliSecondsSinceLastEvent on a second axis, when the run sampled it."""
    at, seconds = series.since_last_event
    if not len(at):
        return
    twin = ax.twinx()
    twin.plot(
        _days(at),
        seconds,
        color="#1f5fa8",
        lw=1,
        alpha=0.8,
        label="MilliSecondsSinceLastEvent (s, right)",
    )
    twin.axhline(stall_after_s, color="#1f5fa8", ls=":", lw=1, label="stall threshold")
    twin.set_ylabel("since last event (s)", color="#1f5fa8")
    twin.set_ylim(bottom=0)


def latency_distribution(data: PlotData, path: Path) -> Path:
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for series in data.arms:
        values = series.latencies_ms
        if len(values):
            ax.step(
                values,
                np.arange(1, len(values) + 1) / len(values),
                where="post",
                label=f"{series.arm} (n={len(values)})",
            )
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel("delivery latency (ms, log scale)")
    ax.set_ylabel("fraction of delivered canaries")
    ax.axvline(
        data.deadline_s * 1000,
        color="#c62828",
        ls="--",
        lw=1,
        label=f"deadline {data.deadline_s:g} s",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Latency distribution (ECDF) per arm")
    _margins(fig, left=0.75, right=0.2, top=0.4, bottom=0.55)
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    payload = Path(sys.stdin.readline().strip())
    with payload.open("rb") as source:
        data, timeline_path, latency_path = pickle.load(source)
    timeline(data, Path(timeline_path))
    latency_distribution(data, Path(latency_path))
    # The files are closed; skip tearing matplotlib down (a tenth of a second nobody needs).
    sys.stderr.flush()
    os._exit(0)
