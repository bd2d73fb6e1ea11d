"""invoke catalog: every catalog experiment and one matrix of what noticed each failure."""

from __future__ import annotations

from invoke import task

from cdclab.catalog.entries import CATALOG
from cdclab.cli._common import user_errors
from cdclab.progress import console, out


def _listed(value: str | None) -> list[str] | None:
    return [n.strip() for n in value.split(",") if n.strip()] if value else None


@task(
    help={
        "only": "comma-separated experiments of the catalog to run (default: all of them: "
        + ", ".join(e.experiment for e in CATALOG)
        + ")",
        "debezium": "comma-separated Debezium releases: every arm runs once per release "
        "(e.g. 2.7.0.Final,3.5.0.Final), side by side, each on the Kafka Connect it is built for",
        "quick": "each failure at its shortest useful size (one short fault, about 2-3 "
        "minutes each; keyupdate keeps its size): a first look, or a demo",
        "dry-run": "validate every experiment and list what would run; change nothing",
    }
)
@user_errors
def catalog(c, only=None, debezium=None, quick=False, dry_run=False):
    """Reproduce every silent failure of the catalog on the lab (under 30 minutes) and write
    results/catalog-<UTC time>/catalog.md: per failure and arm, what noticed it, what ended it."""
    from cdclab.catalog.run import catalog_specs, run_catalog

    names = _listed(only)
    releases = _listed(debezium)
    if dry_run:
        specs = catalog_specs(names, releases, quick=quick)
        for entry, spec in specs:
            out.print(
                f"{entry.experiment}: {spec.duration / 60:g} min, {len(spec.resolved_arms())} arms"
            )
        minutes = sum(spec.duration for _, spec in specs) / 60
        out.print(f"in all: {minutes:g} min of runs, plus lab changes")
        return
    matrix = run_catalog(names, releases, quick=quick, say=lambda line: console.print(line))
    out.print(f"catalog: {matrix}")
