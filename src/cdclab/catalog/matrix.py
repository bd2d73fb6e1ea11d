"""The catalog's matrix: per failure and arm → what noticed it and what ended it.

Read from each run's own summary.json and spec.yaml (the report has already computed every
number); nothing here re-derives a statistic.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from cdclab import yaml12
from cdclab.report.summary import ArmSummary, EpisodeSummary, FaultImpact, Summary
from cdclab.templating import environment


class Cell(BaseModel):
    failure: str  # the experiment
    about: str  # its description
    run: str  # the run's directory, relative to the catalog's
    status: str | None
    arm: str
    arm_config: str
    silent: bool  # an episode opened: canaries failed while REST said RUNNING
    rest_left_running: bool
    connected_dropped: bool
    peak_ms_since_last_event: int | None
    detect_s: float | None  # the fault's apply (or the first lost canary) -> the episode
    detect_from: str | None  # "the fault" or, in a run without one, "the first lost canary"
    recovered: str  # by itself (and when) / after the heal / not by the end
    cure: str


def _episode(arm: ArmSummary, impact: FaultImpact | None) -> EpisodeSummary | None:
    if not arm.episodes:
        return None
    if impact is None or impact.applied_at is None:
        return arm.episodes[0]
    after = [e for e in arm.episodes if e.detected_at >= impact.applied_at]
    return after[0] if after else None


def _detection(
    arm: ArmSummary, episode: EpisodeSummary | None, impact: FaultImpact | None
) -> tuple[float | None, str | None]:
    """Seconds to the episode from the fault's start; a failure with no fault to time from
    (it arises by itself, e.g. TLS key updates) is timed from its first lost canary."""
    if impact is not None:
        by_fault = {a.arm: a for a in impact.arms}
        found = by_fault[arm.arm].episode_detected_s if arm.arm in by_fault else None
        return found, None if found is None else "the fault"
    if episode is None:
        return None, None
    return round(episode.detected_at - episode.start, 3), "the first lost canary"


def _turned_loud(arm: ArmSummary, episode: EpisodeSummary) -> float | None:
    """When REST stopped saying RUNNING while the episode lasted (a bounded producer failed
    the task, a reader gave up): from then on the failure is no longer silent, whatever
    arrives later (a record already in a leader's log can still surface after the heal)."""
    return next(
        (
            start
            for start, _ in arm.rest_not_running_spans
            if episode.start <= start and (episode.end is None or start < episode.end)
        ),
        None,
    )


def _recovered(
    arm: ArmSummary, episode: EpisodeSummary | None, impact: FaultImpact | None
) -> tuple[str, str]:
    """(when it ended, what ended it): REST leaving RUNNING if it did while the episode
    lasted, else the binlog client's own reconnect if it counted one (while the fault
    lasted, or once it had ended), else the fault's heal if the episode ended after it,
    else the arm by itself."""
    if episode is None:
        return "no silent failure", "–"
    if (loud := _turned_loud(arm, episode)) is not None:
        return (
            f"{loud - episode.start:.0f} s after it began (REST no longer RUNNING)",
            "it turned loud: REST stopped saying RUNNING",
        )
    if episode.end is None:
        return "not by the end of the run", "nothing in the run"
    ended = f"{episode.end - episode.start:.0f} s after it began"
    healed = impact.healed_at if impact else None
    after_heal = healed is not None and episode.end >= healed
    if after_heal:
        ended += f" ({episode.end - healed:.0f} s after the heal)"
    if arm.metrics and arm.metrics.reconnects:
        if after_heal:
            return ended, "its binlog client reconnected once the fault had ended"
        return ended, "its binlog client reconnected (keep-alive)"
    return ended, "the fault's end" if after_heal else "the arm by itself"


def _cells(directory: Path, root: Path) -> list[Cell]:
    summary = Summary.model_validate_json((directory / "summary.json").read_text())
    spec_path = directory / "spec.yaml"
    spec = (yaml12.load(spec_path.read_text()) or {}) if spec_path.exists() else {}
    arms_spec = spec.get("arms") or {}
    impact = summary.fault_impacts[0] if summary.fault_impacts else None
    cells = []
    for arm in summary.arms:
        episode = _episode(arm, impact)
        recovered, cure = _recovered(arm, episode, impact)
        detect_s, detect_from = _detection(arm, episode, impact)
        metrics = arm.metrics
        cells.append(
            Cell(
                failure=summary.name or directory.name,
                about=spec.get("description", ""),
                run=str(directory.relative_to(root)),
                status=summary.status,
                arm=arm.arm,
                arm_config=(arms_spec.get(arm.arm) or {}).get("description", ""),
                silent=episode is not None,
                rest_left_running=arm.rest_not_running > 0,
                connected_dropped=bool(metrics and metrics.disconnected),
                peak_ms_since_last_event=metrics.max_ms_since_last_event if metrics else None,
                detect_s=detect_s,
                detect_from=detect_from,
                recovered=recovered,
                cure=cure,
            )
        )
    return cells


def catalog_cells(run_dirs: list[Path], root: Path) -> list[Cell]:
    return [cell for directory in run_dirs for cell in _cells(directory, root)]


def write_catalog(root: Path, run_dirs: list[Path], teaches: dict[str, str]) -> Path:
    """catalog.json and catalog.md in root (the runs are its subdirectories)."""
    cells = catalog_cells(run_dirs, root)
    shown = {c.failure for c in cells}
    teaches = {name: text for name, text in teaches.items() if name in shown}
    (root / "catalog.json").write_text(json.dumps([c.model_dump() for c in cells], indent=2) + "\n")
    text = (
        environment(html=False).get_template("catalog.md.j2").render(cells=cells, teaches=teaches)
    )
    path = root / "catalog.md"
    path.write_text(text)
    return path
