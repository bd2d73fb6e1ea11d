"""`invoke catalog`: every catalog experiment, one after the other, in one results
directory, then the matrix."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from cdclab.catalog.entries import CATALOG, CatalogEntry, chosen
from cdclab.catalog.matrix import write_catalog
from cdclab.core.spec import DEBEZIUM_VERSION, ExperimentSpec, debezium_label, load_spec
from cdclab.errors import InvalidInputError, from_validation
from cdclab.paths import results_dir


def version_tags(releases: list[str]) -> dict[str, str]:
    """release -> a tag short enough for arm names: 3.0.1.Final -> dbz30, or dbz301 where
    two releases of one line are compared (their line tags would collide)."""
    parts = {r: r.split(".")[:3] for r in releases}
    lines = [f"dbz{p[0]}{p[1]}" for p in parts.values()]
    if len(set(lines)) == len(lines):
        return dict(zip(releases, lines, strict=True))
    return {r: f"dbz{p[0]}{p[1]}{p[2]}" for r, p in parts.items()}


def with_debezium(spec: ExperimentSpec, releases: list[str]) -> ExperimentSpec:
    """Every arm of spec once per Debezium release, named <arm>_<tag> (version_tags)."""
    for release in releases:
        if not re.fullmatch(DEBEZIUM_VERSION, release):
            raise InvalidInputError(
                f"--debezium: {release!r} is not a Debezium release; write them like "
                "3.0.1.Final (the releases of debezium-connector-mariadb)"
            )
    if len(set(releases)) != len(releases):
        raise InvalidInputError(f"--debezium: {','.join(releases)} names a release twice")
    tags = version_tags(releases)
    data = spec.model_dump(mode="json", by_alias=True)
    data["matrix"] = {}
    data["arms"] = {
        f"{name}_{tags[release]}": {
            **arm.model_dump(mode="json"),
            "debezium": release,
            "description": "; ".join(filter(None, [arm.description, debezium_label(release)])),
        }
        for name, arm in spec.resolved_arms().items()
        for release in releases
    }
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, f"{spec.name} with --debezium") from exc


def catalog_specs(
    only: list[str] | None, debezium: list[str] | None = None, *, quick: bool = False
) -> list[tuple[CatalogEntry, ExperimentSpec]]:
    """Every chosen experiment's spec at its catalog (or --quick) size, each arm once per
    Debezium release if given, validated before anything runs."""
    specs = []
    for entry in chosen(only):
        minutes, settings = entry.sized(quick)
        spec = load_spec(entry.experiment, assignments=list(settings), duration=minutes * 60)
        specs.append((entry, with_debezium(spec, debezium) if debezium else spec))
    return specs


def run_catalog(
    only: list[str] | None = None,
    debezium: list[str] | None = None,
    *,
    quick: bool = False,
    say=print,
) -> Path:
    """Run the catalog; returns the matrix (catalog.md) in results/catalog-<UTC time>/."""
    from cdclab.experiment.runner import run_experiment

    specs = catalog_specs(only, debezium, quick=quick)
    root = results_dir() / time.strftime("catalog-%Y%m%dT%H%M%SZ", time.gmtime())
    root.mkdir(parents=True)
    runs = []
    for index, (entry, spec) in enumerate(specs, 1):
        minutes = spec.duration / 60
        say(f"catalog {index}/{len(specs)}: {entry.experiment} ({minutes:g} min)")
        outcome = run_experiment(spec, results_root=root)
        say(f"  {outcome.status}: {outcome.directory}")
        if (outcome.directory / "summary.json").exists():
            runs.append(outcome.directory)
    return write_catalog(root, runs, {e.experiment: e.teaches for e, _ in specs})


def _started(run: Path) -> str:
    """A run directory's UTC start from its name (<experiment>-<UTC time>-<id>)."""
    found = re.search(r"-(\d{8}T\d{6}Z)-", run.name)
    return found.group(1) if found else run.name


def _is_run(entry: Path) -> bool:
    # `latest` is a link to the newest run, not a run of its own
    return entry.is_dir() and not entry.is_symlink() and (entry / "checks.jsonl").is_file()


def rebuild_catalog(root: Path, rebuild: Callable[[Path], object]) -> Path:
    """A catalog's matrix again from its runs' journals, each run's report rebuilt first by
    `rebuild`: results taken with an older cdclab read with this one's rules."""
    runs = sorted((d for d in root.iterdir() if _is_run(d)), key=_started)
    if not runs:
        raise InvalidInputError(f"{root} holds no run of the catalog: give a catalog's directory")
    for run in runs:
        rebuild(run)
    return write_catalog(root, runs, {e.experiment: e.teaches for e in CATALOG})
