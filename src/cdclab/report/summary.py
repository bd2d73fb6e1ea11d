"""summary.json: every number of a run, computed from its journals alone.

Works on a directory holding only checks.jsonl; events.jsonl, spec.yaml, manifest.json,
faults.jsonl and dumps/ add to it when present.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cdclab import yaml12
from cdclab.core.detector import Episode, SilentFailureDetector
from cdclab.core.faults import FAULT_NOTES, PROCESS_NOTES
from cdclab.core.journal import JournalError, numbered_records, parse_iso, read_journal
from cdclab.core.outcomes import FAILED, iso_ms, latency_ms, outcome_of
from cdclab.core.spec import CanarySpec, DetectorSpec, MetricsSpec
from cdclab.core.witness import witness
from cdclab.errors import InvalidInputError, from_validation
from cdclab.report.stats import (
    ALPHA,
    discordant_pairs_needed,
    mcnemar_exact,
    percentiles,
    wilson,
)
from cdclab.tls_handshakes import ArmHandshakes, handshakes_in_results


@dataclass(slots=True)
class Check:
    """One canary on one arm, as the report reads it: a plain record (tens of thousands of
    them per run, built from values load_checks has just parsed and checked)."""

    canary_id: str
    arm: str
    written_at: float
    seen_at: float | None
    latency_ms: float | None
    outcome: str
    connector_state: str | None = None
    task_state: str | None = None
    metrics: dict[str, Any] | None = None  # streaming metrics read just before the write
    # How much longer than usual the arm went without a canary before this one (a quiet
    # window, a slip): the reader had nothing to read for that long.
    idle_ms: float = 0.0

    @property
    def running(self) -> bool:
        return self.connector_state == self.task_state == "RUNNING"

    @property
    def rest_down(self) -> bool:
        """REST was asked and said the connector or task was not RUNNING."""
        return bool(self.connector_state) and not self.running

    def metric(self, name: str) -> Any:
        return (self.metrics or {}).get(name)

    def stalled(self, stall_after_s: float) -> bool:
        since = self.metric("ms_since_last_event")
        return since is not None and since > stall_after_s * 1000 + self.idle_ms


class ArmMetrics(BaseModel):
    """Debezium's streaming metrics over the run, as sampled at every canary."""

    samples: int
    unavailable: int  # samples with an error (worker unreachable, not streaming yet)
    max_ms_since_last_event: int | None
    stalled: int  # samples with MilliSecondsSinceLastEvent above stall_after
    disconnected: int  # samples with Connected = false
    reconnects: int | None  # NumberOfDisconnects, last sample minus first


class Rate(BaseModel):
    count: int
    rate: float | None
    ci95_low: float | None
    ci95_high: float | None


class EpisodeSummary(BaseModel):
    arm: str
    start: float
    detected_at: float
    end: float | None
    duration_s: float | None
    canaries_affected: int
    witness: str | None = None  # Debezium's own metric at the detection (core.witness)


class ArmSummary(BaseModel):
    arm: str
    canaries: int
    delivered: Rate
    late: Rate
    missing: Rate
    failed: Rate
    latency_ms: dict[str, float | None]
    rest_not_running: int
    episodes: list[EpisodeSummary]
    metrics: ArmMetrics | None = None
    # [first, last] write time of each stretch of consecutive checks whose connector or
    # task was not RUNNING: when REST said so, fault or none
    rest_not_running_spans: list[tuple[float, float]] = []


class PairSummary(BaseModel):
    arm_a: str
    arm_b: str
    paired: int
    both_ok: int
    only_a_failed: int
    only_b_failed: int
    both_failed: int
    p_value: float
    significant: bool
    min_p_possible: float
    verdict: str


class FaultArmImpact(BaseModel):
    arm: str
    canaries_in_window: int  # written between apply and heal
    lost: int  # of those, failed (late or missing)
    detect_s: float | None  # apply -> deadline of the first failed canary written after it
    episode_detected_s: float | None  # apply -> the detector's episode detection
    rest_left_running: bool  # any check in the window with connector or task not RUNNING
    recover_s: float | None  # heal -> first arrival after it
    # apply -> the first sample of each signal that saw something wrong (None: never)
    rest_s: float | None = None  # REST connector or task not RUNNING
    stall_s: float | None = None  # MilliSecondsSinceLastEvent above stall_after
    disconnected_s: float | None = None  # Connected = false
    reconnects: int | None = None  # NumberOfDisconnects grew by this much
    first_signal: str | None = None  # which of canary/detector/rest/stall/connected came first


class FaultImpact(BaseModel):
    fault_id: str
    label: str
    applied_at: float | None
    healed_at: float | None
    healed_by: str | None
    apply_offset_ms: float | None
    heal_offset_ms: float | None
    error: str | None = None
    arms: list[FaultArmImpact]


class Summary(BaseModel):
    name: str | None
    run_id: str | None
    status: str | None
    started_at: float | None
    ended_at: float | None
    deadline_s: float
    deadline_source: str
    stall_after_s: float
    misses: int
    episode_source: str
    arms: list[ArmSummary]
    pairs: list[PairSummary]
    silent_failures: int
    verdict: list[str]
    faults: list[dict[str, Any]]
    fault_impacts: list[FaultImpact]
    dumps: list[dict[str, Any]]
    tls: dict[str, Any]
    about: list[str] = []  # what the run reproduces: its spec's description, its fault kinds
    # The client's side (javax.net.debug in the worker logs), when a run enabled it.
    handshakes: dict[str, ArmHandshakes] = {}
    warnings: list[str] = []  # torn last lines skipped


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Tens of thousands of records that all live to the end: the cyclic collector would
    walk them again and again and free none (a sixth of the time to read a long journal)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_checks(path: Path, deadline_s: float, warnings: list[str] | None = None) -> list[Check]:
    """The last line per (canary, arm), a `late` line superseding the earlier `missing`;
    each outcome recomputed from the line's timestamps and the run's deadline."""
    with _collector_paused():
        return _load_checks(path, deadline_s, warnings)


def _load_checks(path: Path, deadline_s: float, warnings: list[str] | None) -> list[Check]:
    latest: dict[tuple[str, str], Check] = {}
    for number, record in numbered_records(path, warnings):
        try:
            written_ms = iso_ms(record["written_at"])
            seen_ms = iso_ms(record.get("seen_at"))
            if written_ms is None:
                raise ValueError("written_at is null")
            canary_id, arm = record["canary_id"], record["arm"]
            if not (isinstance(canary_id, str) and isinstance(arm, str)):
                raise TypeError("canary_id and arm must be strings")
            check = Check(
                canary_id=canary_id,
                arm=arm,
                written_at=written_ms / 1000,
                seen_at=None if seen_ms is None else seen_ms / 1000,
                latency_ms=latency_ms(written_ms, seen_ms),
                outcome=outcome_of(written_ms, seen_ms, deadline_s),
                connector_state=record.get("connector_state"),
                task_state=record.get("task_state"),
                metrics=record.get("metrics"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(
                f"{path}: line {number} is not a canary check ({type(exc).__name__}: {exc})"
            ) from exc
        latest[(check.canary_id, check.arm)] = check
    # Stable on write time: arms keep the order they first appear in the journal.
    return sorted(latest.values(), key=lambda c: c.written_at)


def replay_episodes(checks: list[Check], deadline_s: float, misses: int) -> list[EpisodeSummary]:
    """Run the engine's own detector over the checks, in the order the engine saw events:
    deadlines as they fell, arrivals as they came. The same checks give the same episodes
    live and in any later report."""
    timeline: list[tuple[float, int, Check]] = []
    for check in checks:
        if check.outcome in FAILED:
            timeline.append((check.written_at + deadline_s, 1, check))
        if check.seen_at is not None:
            timeline.append((check.seen_at, 0, check))
    timeline.sort(key=lambda item: (item[0], item[1]))
    detectors: dict[str, SilentFailureDetector] = {}
    episodes: dict[int, Episode] = {}
    for at, kind, check in timeline:
        detector = detectors.setdefault(check.arm, SilentFailureDetector(check.arm, misses))
        if kind == 1:
            change = detector.overdue(check.canary_id, check.written_at, check.running, at)
        else:
            change = detector.delivered(check.written_at, at)
        for episode in (change.opened, change.closed):
            if episode is not None:
                episodes[id(episode)] = episode
    return sorted(
        (
            EpisodeSummary(
                arm=e.arm,
                start=e.start,
                detected_at=e.detected_at,
                end=e.end,
                duration_s=e.duration_s,
                canaries_affected=len(e.canaries),
            )
            for e in episodes.values()
        ),
        key=lambda e: e.start,
    )


def with_witnesses(
    episodes: list[EpisodeSummary], checks: list[Check], interval_s: float
) -> list[EpisodeSummary]:
    """Each episode's second witness, as the engine saw it: the metrics read before the
    arm's last canary written at or before the detection."""
    written: dict[str, list[Check]] = {}
    for check in checks:
        written.setdefault(check.arm, []).append(check)
    for rows in written.values():
        rows.sort(key=lambda c: c.written_at)
    for episode in episodes:
        rows = written.get(episode.arm, [])
        index = bisect.bisect_right(rows, episode.detected_at, key=lambda c: c.written_at)
        episode.witness = witness(rows[index - 1].metrics if index else None, interval_s)
    return episodes


def _rate(k: int, n: int) -> Rate:
    p = wilson(k, n)
    if n == 0:
        return Rate(count=0, rate=None, ci95_low=None, ci95_high=None)
    return Rate(count=k, rate=p.rate, ci95_low=p.low, ci95_high=p.high)


def _arm_metrics(checks: list[Check], stall_after_s: float) -> ArmMetrics | None:
    sampled = [c for c in checks if c.metrics is not None]
    if not sampled:
        return None  # a run without metrics (or from before they existed)
    ok = [c for c in sampled if c.metric("error") is None]
    since = [c.metric("ms_since_last_event") for c in ok]
    counts = [c.metric("disconnects") for c in ok if c.metric("disconnects") is not None]
    return ArmMetrics(
        samples=len(sampled),
        unavailable=len(sampled) - len(ok),
        max_ms_since_last_event=max((s for s in since if s is not None), default=None),
        stalled=sum(1 for c in ok if c.stalled(stall_after_s)),
        disconnected=sum(1 for c in ok if c.metric("connected") is False),
        reconnects=(counts[-1] - counts[0]) if counts else None,
    )


def _arm_summary(
    arm: str, checks: list[Check], episodes: list[EpisodeSummary], stall_after_s: float
) -> ArmSummary:
    n = len(checks)
    count = {o: sum(1 for c in checks if c.outcome == o) for o in ("delivered", "late", "missing")}
    latencies = [c.latency_ms for c in checks if c.latency_ms is not None]
    return ArmSummary(
        arm=arm,
        canaries=n,
        delivered=_rate(count["delivered"], n),
        late=_rate(count["late"], n),
        missing=_rate(count["missing"], n),
        failed=_rate(count["late"] + count["missing"], n),
        latency_ms=percentiles(latencies),
        rest_not_running=sum(1 for c in checks if c.rest_down),
        episodes=[e for e in episodes if e.arm == arm],
        metrics=_arm_metrics(checks, stall_after_s),
        rest_not_running_spans=_not_running_spans(checks),
    )


def _not_running_spans(checks: list[Check]) -> list[tuple[float, float]]:
    """Stretches of consecutive checks (in write order) that saw REST not RUNNING; a
    check without a REST state neither opens nor ends one."""
    sampled = [c for c in checks if c.connector_state]
    spans = []
    for down, run in itertools.groupby(sampled, key=lambda c: c.rest_down):
        if down:
            stretch = list(run)
            spans.append((stretch[0].written_at, stretch[-1].written_at))
    return spans


def pair_verdict(
    a: str, b: str, only_a: int, only_b: int, both: int, p: float, min_p: float
) -> str:
    needed = discordant_pairs_needed()
    if only_a + only_b + both == 0:
        return (
            f"Neither {a} nor {b} failed a paired canary: this run shows no difference "
            "between them, and could not have shown one."
        )
    if only_a + only_b == 0:
        return (
            f"{a} and {b} failed on exactly the same {both} canaries: nothing tells them "
            f"apart (exact McNemar p = 1)."
        )
    more, fewer = (a, b) if only_a > only_b else (b, a)
    counts = f"{a} alone failed {only_a} time(s), {b} alone {only_b}"
    if p < ALPHA:
        return (
            f"{more} failed significantly more often than {fewer} ({counts}; "
            f"exact McNemar p = {p:.2g} < {ALPHA})."
        )
    sentence = (
        f"The difference between {a} and {b} is not significant at {ALPHA} "
        f"({counts}; exact McNemar p = {p:.2g})."
    )
    if min_p >= ALPHA:
        sentence += (
            f" With {only_a + only_b} discordant pair(s) no outcome could be: it takes "
            f"at least {needed} solo failures, all on one arm, to reach p < {ALPHA}."
        )
    return sentence


def _pairs(by_arm: dict[str, dict[str, Check]]) -> list[PairSummary]:
    pairs = []
    for a, b in itertools.combinations(by_arm, 2):
        shared = sorted(set(by_arm[a]) & set(by_arm[b]))
        fa = [by_arm[a][cid].outcome in FAILED for cid in shared]
        fb = [by_arm[b][cid].outcome in FAILED for cid in shared]
        both_ok = sum(1 for x, y in zip(fa, fb, strict=True) if not x and not y)
        only_a = sum(1 for x, y in zip(fa, fb, strict=True) if x and not y)
        only_b = sum(1 for x, y in zip(fa, fb, strict=True) if not x and y)
        both = sum(1 for x, y in zip(fa, fb, strict=True) if x and y)
        test = mcnemar_exact(both_ok, only_a, only_b, both)
        pairs.append(
            PairSummary(
                arm_a=a,
                arm_b=b,
                paired=len(shared),
                both_ok=both_ok,
                only_a_failed=only_a,
                only_b_failed=only_b,
                both_failed=both,
                p_value=test.p_value,
                significant=test.significant,
                min_p_possible=test.min_p_possible,
                verdict=pair_verdict(a, b, only_a, only_b, both, test.p_value, test.min_p_possible),
            )
        )
    return pairs


def _first_after(start: float, checks: list[Check], predicate) -> float | None:
    """Seconds from `start` to the write time of the first check matching `predicate`."""
    hit = next((c for c in checks if predicate(c)), None)
    return None if hit is None else hit.written_at - start


def _sampled(checks) -> list[int]:
    """NumberOfDisconnects of the checks that sampled it."""
    return [v for v in (c.metric("disconnects") for c in checks) if v is not None]


def _first_signal(timings: dict[str, float | None], tie_s: float = 0.5) -> str | None:
    """The signal that noticed first; signals within `tie_s` of it are named with it."""
    known = {name: t for name, t in timings.items() if t is not None}
    if not known:
        return None
    first = min(known.values())
    return " + ".join(name for name, t in known.items() if t - first <= tie_s)


@dataclass(frozen=True)
class _Window:
    """One fault's time: from its apply to its heal (None: never applied / healed)."""

    start: float | None
    end: float | None
    deadline_s: float
    stall_after_s: float

    def during(self, check: Check) -> bool:
        """Written while the fault was on."""
        return (
            self.start is not None
            and self.start <= check.written_at
            and (self.end is None or check.written_at < self.end)
        )

    def signals(self, check: Check) -> bool:
        """The fault's own signals: written from the apply to one deadline past the heal
        (a later fault's losses are not this one's detection)."""
        return (
            self.start is not None
            and self.start <= check.written_at
            and (self.end is None or check.written_at <= self.end + self.deadline_s)
        )


def fault_impacts(
    records: list[dict[str, Any]],
    checks: list[Check],
    episodes: list[EpisodeSummary],
    deadline_s: float,
    stall_after_s: float | None = None,
    arm_order: list[str] | None = None,
) -> list[FaultImpact]:
    stall_after_s = deadline_s if stall_after_s is None else stall_after_s
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = by_id.setdefault(record["fault_id"], {"label": record.get("label", "")})
        entry[record["event"]] = record
    arms = arm_order or list(dict.fromkeys(c.arm for c in checks))
    by_arm = {arm: [c for c in checks if c.arm == arm] for arm in arms}
    return [
        _fault_impact(fault_id, entry, by_arm, episodes, deadline_s, stall_after_s)
        for fault_id, entry in by_id.items()
    ]


def _fault_impact(
    fault_id: str,
    entry: dict[str, Any],
    by_arm: dict[str, list[Check]],
    episodes: list[EpisodeSummary],
    deadline_s: float,
    stall_after_s: float,
) -> FaultImpact:
    applied, healed = entry.get("fault-applied"), entry.get("fault-healed")
    error = entry.get("fault-error")
    window = _Window(
        parse_iso(applied["at"]) if applied else None,
        parse_iso(healed["at"]) if healed else None,
        deadline_s,
        stall_after_s,
    )
    return FaultImpact(
        fault_id=fault_id,
        label=entry["label"],
        applied_at=window.start,
        healed_at=window.end,
        healed_by=healed.get("healed_by") if healed else None,
        apply_offset_ms=applied.get("offset_ms") if applied else None,
        heal_offset_ms=healed.get("offset_ms") if healed else None,
        error=error.get("error") if error else None,
        arms=[_arm_impact(arm, mine, episodes, window) for arm, mine in by_arm.items()],
    )


def _arm_impact(
    arm: str, mine: list[Check], episodes: list[EpisodeSummary], window: _Window
) -> FaultArmImpact:
    start, end = window.start, window.end
    during = [c for c in mine if window.during(c)]
    signal_window = [c for c in mine if window.signals(c)]
    first_failed = next((c for c in signal_window if c.outcome in FAILED), None)
    episode = next(
        (
            e
            for e in episodes
            if e.arm == arm
            and start is not None
            and e.detected_at >= start
            and (end is None or e.start <= end + window.deadline_s)
        ),
        None,
    )
    arrivals = sorted(
        c.seen_at for c in mine if c.seen_at is not None and end is not None and c.seen_at > end
    )
    detect_s = (
        (first_failed.written_at + window.deadline_s - start)
        if first_failed and start is not None
        else None
    )
    episode_s = (episode.detected_at - start) if episode and start else None
    signals = _signals_beyond_rest(mine, signal_window, window)
    return FaultArmImpact(
        arm=arm,
        canaries_in_window=len(during),
        lost=sum(1 for c in during if c.outcome in FAILED),
        detect_s=detect_s,
        episode_detected_s=episode_s,
        rest_left_running=signals["rest_s"] is not None,
        recover_s=(arrivals[0] - end) if arrivals and end is not None else None,
        **signals,
        first_signal=_first_signal(
            {
                "canary past deadline": detect_s,
                "detector episode": episode_s,
                "REST not RUNNING": signals["rest_s"],
                "MilliSecondsSinceLastEvent": signals["stall_s"],
                "Connected=false": signals["disconnected_s"],
            }
        ),
    )


def _signals_beyond_rest(
    mine: list[Check], signal_window: list[Check], window: _Window
) -> dict[str, Any]:
    """Apply -> the first sample of each signal that saw something wrong (None: never)."""
    start = window.start
    found: dict[str, Any] = dict.fromkeys(("rest_s", "stall_s", "disconnected_s", "reconnects"))
    if start is None:
        return found
    found["rest_s"] = _first_after(start, signal_window, lambda c: c.rest_down)
    found["stall_s"] = _first_after(start, signal_window, lambda c: c.stalled(window.stall_after_s))
    found["disconnected_s"] = _first_after(
        start, signal_window, lambda c: c.metric("connected") is False
    )
    before = _sampled(c for c in mine if c.written_at < start)
    during = _sampled(signal_window)
    if before and during:
        found["reconnects"] = max(during) - before[-1]
    return found


def _canaries_at(arm_checks: list[Check], at: float, deadline_s: float) -> dict[str, Any]:
    """What the arm's canaries said at a moment: the stack cannot tell an idle reader from a
    stuck one, the time since the last delivery can."""
    arrivals = [c.seen_at for c in arm_checks if c.seen_at is not None and c.seen_at <= at]
    last_written = next((c for c in reversed(arm_checks) if c.written_at <= at), None)
    since = (at - max(arrivals)) if arrivals else None
    return {
        "since_last_delivery_s": None if since is None else round(since, 1),
        "last_canary_outcome": last_written.outcome if last_written else None,
        "reader": None
        if since is None
        else (
            "stuck: nothing delivered for longer than the deadline"
            if since > deadline_s
            else "delivering (an idle read is healthy waiting)"
        ),
    }


def _with_classes(
    directory: Path, event: dict[str, Any], checks: list[Check], deadline_s: float
) -> dict[str, Any]:
    """A dump event, the class of each binlog thread in its file, and the arm's canaries
    at the same moment."""
    from cdclab.dumps.analyze import analyze_file

    at = parse_iso(event.get("at"))
    arm_checks = [c for c in checks if c.arm == event.get("arm")]
    context = _canaries_at(arm_checks, at, deadline_s) if at is not None else {}
    path = directory / str(event.get("path", ""))
    if not path.is_file():
        return {**event, **context, "classes": "file missing"}
    analysis = analyze_file(path)
    classes = ", ".join(f"{t.name}: {t.klass}" for t in analysis.threads) or "no binlog thread"
    return {**event, **context, "classes": classes}


@dataclass(frozen=True)
class _RunSettings:
    """What the run's spec.yaml says the report needs, read through the spec's own models
    (so a setting it leaves out has the spec's default, declared once)."""

    spec: dict[str, Any]
    canary: CanarySpec
    detector: DetectorSpec
    metrics: MetricsSpec

    learned_rule: str | None = None  # the run's deadline_learned event

    @property
    def deadline_s(self) -> float:
        return self.canary.first_deadline

    @property
    def deadline_source(self) -> str:
        if self.learned_rule:
            return self.learned_rule
        if not self.spec:
            return "default"  # a journal without its spec: the provisional deadline
        if self.canary.deadline is None:
            return "the ceiling: the run ended before its deadline was learned"
        return "spec.yaml"

    @property
    def stall_after_s(self) -> float:
        return self.metrics.stall_after or self.deadline_s

    @property
    def arm_order(self) -> list[str]:
        return list(self.spec.get("arms") or {})


def _run_settings(directory: Path, events: list[dict[str, Any]]) -> _RunSettings:
    path = directory / "spec.yaml"
    spec = (yaml12.load(path.read_text()) or {}) if path.exists() else {}
    learned = [e.get("rule") for e in events if e.get("event") == "deadline_learned"]
    try:
        return _RunSettings(
            spec,
            CanarySpec.model_validate(spec.get("canary") or {}),
            DetectorSpec.model_validate(spec.get("detector") or {}),
            MetricsSpec.model_validate(spec.get("metrics") or {}),
            learned[-1] if learned else None,
        )
    except ValidationError as exc:
        raise from_validation(exc, str(path)) from exc


def _about(spec: dict[str, Any], faults: list[dict[str, Any]]) -> list[str]:
    kinds = dict.fromkeys(f.get("kind") for f in faults)
    processes = dict.fromkeys(f.get("process") for f in faults)
    notes = [FAULT_NOTES[k] for k in kinds if k in FAULT_NOTES]
    notes += [PROCESS_NOTES[p] for p in processes if p in PROCESS_NOTES]
    return ([spec["description"]] if spec.get("description") else []) + notes


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _read_checks(directory: Path, deadline_s: float, allow_empty: bool, warnings) -> list[Check]:
    path = directory / "checks.jsonl"
    if not path.exists():
        raise InvalidInputError(f"{directory} has no checks.jsonl: it is not a results directory")
    checks = load_checks(path, deadline_s, warnings)
    if not checks and not allow_empty:
        raise InvalidInputError(
            f"{path} holds no canary check: nothing to report (was the run stopped "
            "before its first canary, or is this the wrong file?)"
        )
    return checks


def _arms_in_order(checks: list[Check], order: list[str]) -> dict[str, dict[str, Check]]:
    """Each arm's checks by canary id; arms in spec order, then as they appear."""
    by_arm: dict[str, dict[str, Check]] = {arm: {} for arm in order}
    for check in checks:
        by_arm.setdefault(check.arm, {})[check.canary_id] = check
    return {arm: rows for arm, rows in by_arm.items() if rows}


def _note_idle_gaps(rows: list[Check]) -> None:
    """Each check learns how much longer than the arm's usual gap it came after the one
    before (a quiet window, a slip): the reader had nothing to read for that long."""
    gaps = [b.written_at - a.written_at for a, b in itertools.pairwise(rows)]
    if not gaps:
        return
    usual = statistics.median(gaps)
    for check, gap in zip(rows[1:], gaps, strict=True):
        check.idle_ms = max(0.0, (gap - usual) * 1000)


def _verdict(
    checks: list[Check],
    arms: list[ArmSummary],
    pairs: list[PairSummary],
    episodes: list[EpisodeSummary],
    impacts: list[FaultImpact],
    misses: int,
) -> list[str]:
    verdict = []
    if episodes:
        per_arm = {a.arm: len(a.episodes) for a in arms if a.episodes}
        longest = max((e.duration_s or 0) for e in episodes)
        verdict.append(
            "Silent failure observed: "
            + ", ".join(f"{arm} {n} episode(s)" for arm, n in per_arm.items())
            + f" (REST said RUNNING while canaries went missing; longest {longest:.0f} s)."
        )
    elif checks:
        verdict.append(
            f"No silent failure: no arm missed {misses} canaries in a row while REST said RUNNING."
        )
    verdict += [p.verdict for p in pairs]
    verdict += [
        f"Fault {impact.label} was applied but its heal is not recorded: "
        "check the host (the dead-man switch removes it at for + grace)."
        for impact in impacts
        if impact.applied_at is not None and impact.healed_at is None
    ]
    return verdict


def summarize(directory: Path, *, allow_empty: bool = False) -> Summary:
    """Every number of a run. A journal with no check is an error, unless allow_empty (a
    run that failed before its first canary still gets a report that says so)."""
    return summarize_with_checks(directory, allow_empty=allow_empty)[0]


def summarize_with_checks(
    directory: Path, *, allow_empty: bool = False
) -> tuple[Summary, list[Check]]:
    """summarize(), and the checks it read (the plots draw them: read checks.jsonl once)."""
    warnings: list[str] = []
    events = list(read_journal(directory / "events.jsonl", warnings))
    settings = _run_settings(directory, events)
    manifest = _read_manifest(directory)
    deadline_s, misses = settings.deadline_s, settings.detector.misses
    checks = _read_checks(directory, deadline_s, allow_empty, warnings)
    # Always replayed from checks.jsonl: identical to what the engine decided live, and
    # complete even where a closed episode later absorbed a canary still pending at close.
    episodes = with_witnesses(
        replay_episodes(checks, deadline_s, misses), checks, settings.canary.interval
    )
    by_arm = _arms_in_order(checks, settings.arm_order)
    for rows in by_arm.values():
        _note_idle_gaps(list(rows.values()))
    arms = [
        _arm_summary(arm, list(rows.values()), episodes, settings.stall_after_s)
        for arm, rows in by_arm.items()
    ]
    pairs = _pairs(by_arm)
    faults = list(read_journal(directory / "faults.jsonl", warnings))
    impacts = fault_impacts(
        faults, checks, episodes, deadline_s, settings.stall_after_s, [a.arm for a in arms]
    )
    started = checks[0].written_at if checks else None
    summary = Summary(
        name=settings.spec.get("name") or manifest.get("name"),
        run_id=manifest.get("run_id"),
        status=manifest.get("status"),
        started_at=started,
        ended_at=max((c.seen_at or c.written_at) for c in checks) if checks else None,
        deadline_s=deadline_s,
        deadline_source=settings.deadline_source,
        stall_after_s=settings.stall_after_s,
        misses=misses,
        episode_source="replayed from checks.jsonl with the engine's detector",
        arms=arms,
        pairs=pairs,
        silent_failures=len(episodes),
        verdict=_verdict(checks, arms, pairs, episodes, impacts, misses),
        faults=faults,
        fault_impacts=impacts,
        dumps=[
            _with_classes(directory, e, checks, deadline_s)
            for e in events
            if e.get("event") == "dump"
        ],
        tls=manifest.get("tls", {}),
        about=_about(settings.spec, faults),
        warnings=warnings,
        handshakes=handshakes_in_results(
            directory,
            [a.arm for a in arms],
            since=parse_iso(manifest.get("started_at")) or started,
        ),
    )
    return summary, checks
