"""invoke experiment NAME …, invoke report DIR."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task

from cdclab.cli._common import flag_duration, user_errors
from cdclab.progress import console, out


def _duration(hours, minutes) -> float | None:
    from cdclab.errors import InvalidInputError

    if hours is not None and minutes is not None:
        raise InvalidInputError("give --hours or --minutes, not both")
    if hours is not None:
        return flag_duration("--hours", hours, "h")
    if minutes is not None:
        return flag_duration("--minutes", minutes, "m")
    return None


@task(
    name="run",
    positional=["name"],
    iterable=["set_", "values"],
    help={
        "name": "experiment kind (a file in experiments/); see --list",
        "hours": "run for H hours: 2, 1.5 or 1h30m (overrides the spec's duration)",
        "minutes": "run for M minutes: 5, 2.5 or 90s (overrides the spec's duration)",
        "target": "local (default: the namespace lab), docker (the arms as containers) or aws",
        "spec": "a spec file instead of experiments/NAME.yaml",
        "values": "a YAML file of spec values merged over the spec, e.g. your external: "
        "section (repeatable; --set applies after)",
        "set": "override a spec value, e.g. --set canary.interval=1s (repeatable)",
        "dry-run": "print the resolved spec and the plan; change nothing",
        "keep": "aws: leave the instance running after the run (remove it with aws.down)",
        "detach": "aws: start the run on the instance and return (experiment.attach follows "
        "it, results.pull fetches it)",
    },
)
@user_errors
def experiment(
    c,
    name,
    hours=None,
    minutes=None,
    target=None,
    spec=None,
    set_=None,
    values=None,
    dry_run=False,
    keep=False,
    detach=False,
):
    """Run an experiment (NAME = a kind, or `list`) and write one results directory."""
    import yaml

    from cdclab.core.spec import load_spec

    # Invoke makes positional arguments mandatory, so `invoke experiment --list` cannot
    # exist; the kinds are listed by `invoke experiment list` (or `invoke experiments`).
    if name == "list":
        experiments(c)
        return
    assignments = [*(set_ or []), *(["aws.keep=true"] if keep else [])]
    resolved = load_spec(
        spec or name,
        assignments=assignments,
        duration=_duration(hours, minutes),
        target=target,
        values=[Path(v) for v in values or []],
    )
    from cdclab.experiment.runner import describe_plan, run_experiment

    if dry_run:
        out.print(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False).rstrip())
        out.print("---")
        out.print(describe_plan(resolved))
        return
    outcome = run_experiment(resolved, detach=detach)
    for error in outcome.errors:
        console.print(f"[yellow]note:[/yellow] {error}")
    out.print(f"results: {outcome.directory}")
    out.print(f"status: {outcome.status}")
    for line in outcome.verdict:
        out.print(f"verdict: {line}")
    if outcome.status == "failed":
        raise SystemExit(1)
    if outcome.status == "interrupted":
        raise SystemExit(130)  # the shell's convention for a run stopped by Ctrl-C


@task
def experiments(c):
    """List the experiment kinds in experiments/, one line each."""
    from cdclab import yaml12
    from cdclab.core.spec import available_specs

    specs = available_specs()
    width = max(map(len, specs), default=0) + 2  # a column wide enough for every name
    for kind, path in specs.items():
        data = yaml12.load(path.read_text()) or {}
        out.print(f"{kind:{width}}{data.get('description', '')}")


@task(
    name="report",
    help={
        "directory": "a results directory (needs at least checks.jsonl), or a catalog's "
        "(every run's report and the matrix are rebuilt)"
    },
)
@user_errors
def report(c, directory):
    """Rebuild summary.json, report.md and report.html from a run's journals alone."""
    from cdclab.errors import InvalidInputError
    from cdclab.report.renderer import PlotRenderer

    path = Path(directory)
    if not path.is_dir():
        raise InvalidInputError(f"{directory} is not a directory: give a results directory")
    if (path / "catalog.json").is_file():
        _rebuild_catalog(path)
        return
    # Started before the report's own imports: matplotlib loads in it meanwhile.
    with PlotRenderer() as renderer:
        from cdclab.report.render import build_report

        summary = build_report(path, renderer=renderer)
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"report: {path / 'report.md'} and {path / 'report.html'}")
    for line in summary.verdict:
        out.print(f"verdict: {line}")


def _rebuild_catalog(path: Path) -> None:
    from cdclab.catalog.run import rebuild_catalog
    from cdclab.report.render import build_report

    out.print(f"catalog: {rebuild_catalog(path, build_report)}")


def _remote(run):
    from cdclab.aws.handover import remote_for

    return remote_for(run)


@task(name="attach", positional=["run"], help={"run": "the run id (`invoke aws.ls`)"})
@user_errors
def attach(c, run):
    """Follow a run on its instance until it ends (Ctrl-C leaves it running)."""
    from cdclab.experiment.follow import FollowedRun

    remote = _remote(run)
    try:
        code = remote.follow(FollowedRun().line)
    except KeyboardInterrupt:
        out.print(f"left run {run} running: invoke experiment.attach {run}")
        return
    out.print(f"run {run} ended ({code}): invoke results.pull {run}")


@task(name="stop", positional=["run"], help={"run": "the run id (`invoke aws.ls`)"})
@user_errors
def stop(c, run):
    """Stop a run on its instance as Ctrl-C would: faults healed, report written."""
    _remote(run).stop()
    out.print(f"asked run {run} to stop; invoke experiment.attach {run} follows it to its end")


@task(
    name="pull",
    positional=["run"],
    help={
        "run": "the run id (`invoke aws.ls`)",
        "keep": "leave the instance running after the pull (remove it with aws.down)",
    },
)
@user_errors
def pull(c, run, keep=False):
    """Fetch a run's results directory, complete, from its instance; then remove the
    instance unless --keep."""
    from cdclab.aws.handover import find_handover
    from cdclab.paths import aws_state_dir, results_dir

    remote = _remote(run)
    if remote.exit_code() is None:
        raise SystemExit(f"run {run} is still running: invoke experiment.attach {run}")
    directory = remote.pull(results_dir())
    out.print(f"results: {directory}")
    if not keep:
        from cdclab.aws.lifecycle import aws_down
        from cdclab.core.aws_settings import AwsSettings

        state, _record = find_handover(run, aws_state_dir())
        aws_down(AwsSettings(), state.name)


# `invoke experiment NAME` runs one; `experiment.attach` / `experiment.stop` act on a run
# handed over to an instance; `results.pull` fetches it.
ns = Collection("experiment")
ns.add_task(experiment, default=True)
ns.add_task(attach)
ns.add_task(stop)
results = Collection("results")
results.add_task(pull)
