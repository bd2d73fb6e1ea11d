"""invoke connect.* and invoke logs: runbook steps on one connector (RUNBOOK.md)."""

from __future__ import annotations

from invoke import Collection, task

from cdclab.cli._common import flag_duration, print_json, user_errors
from cdclab.progress import out

WHERE = {
    "arm": "the arm (lab: see `invoke lab.status`; aws: an arm of --run-id)",
    "target": "local (the lab, default), aws (with --run-id) or explicit (with --connect-url)",
    "run-id": "aws: the run whose instance to reach (`invoke aws.ls`)",
    "connect-url": "a Connect cluster cdclab did not create, e.g. http://connect:8083",
    "connector": "the connector (default: the arm's, or the worker's only one)",
    "json": "print machine-readable JSON",
}


def _where(target, arm, connect_url, connector, run_id):
    from cdclab.targets.places import place_for

    return place_for(target, run_id=run_id, connect_url=connect_url).endpoint(arm, connector)


def _show(result: dict, json: bool) -> None:
    if json:
        print_json(result)
        return
    where = f" (arm {result['arm']})" if result.get("arm") else ""
    out.print(f"{result['connector']}{where} at {result['rest_url']}: {result['state']}")
    for t in result["tasks"]:
        trace = f" — {t['trace'][0]}" if t.get("trace") else ""
        out.print(f"  task {t['id']}: {t['state']} on {t['worker_id']}{trace}")
    if "http_status" in result:
        out.print(f"  (REST answered {result['http_status']})")
    if result.get("note"):
        out.print(f"  note: {result['note']}")


@task(help=WHERE)
@user_errors
def status(c, arm=None, target=None, run_id=None, connect_url=None, connector=None, json=False):
    """The connector's and its tasks' states (RUNNING is not proof of delivery: see watch)."""
    from cdclab.runbook import ops

    with _where(target, arm, connect_url, connector, run_id) as ep:
        _show(ops.status(ep), json)


@task(
    help={
        **WHERE,
        "task": "restart only this task (its id)",
        "include-tasks": "restart the connector and all its tasks",
    }
)
@user_errors
def restart(
    c,
    arm=None,
    target=None,
    run_id=None,
    connect_url=None,
    connector=None,
    task_=None,
    include_tasks=False,
    json=False,
):
    """Restart the connector (and its tasks with --include-tasks, or one --task N)."""
    from cdclab.runbook import ops

    task_id = int(task_) if task_ is not None else None
    with _where(target, arm, connect_url, connector, run_id) as ep:
        _show(ops.restart(ep, task=task_id, include_tasks=include_tasks), json)


@task(help=WHERE)
@user_errors
def pause(c, arm=None, target=None, run_id=None, connect_url=None, connector=None, json=False):
    """Pause the connector and its tasks; waits until Connect says PAUSED."""
    from cdclab.runbook import ops

    with _where(target, arm, connect_url, connector, run_id) as ep:
        _show(ops.pause(ep), json)


@task(help=WHERE)
@user_errors
def resume(c, arm=None, target=None, run_id=None, connect_url=None, connector=None, json=False):
    """Resume a paused connector; waits until Connect says RUNNING."""
    from cdclab.runbook import ops

    with _where(target, arm, connect_url, connector, run_id) as ep:
        _show(ops.resume(ep), json)


@task(help=WHERE)
@user_errors
def config(c, arm=None, target=None, run_id=None, connect_url=None, connector=None, json=False):
    """The connector's configuration, literal secrets masked."""
    from cdclab.runbook import ops

    with _where(target, arm, connect_url, connector, run_id) as ep:
        settings = ops.masked_config(ep)
    if json:
        print_json(settings)
        return
    for key, value in settings.items():
        out.print(f"{key}={value}", markup=False, highlight=False)


@task(
    help={
        "arm": WHERE["arm"],
        "since": "how far back, e.g. 10m, 2h (default 10m)",
        "run-id": WHERE["run-id"],
    }
)
@user_errors
def logs(c, arm, since="10m", run_id=None):
    """A worker's log since a while ago: the lab's worker log, or the instance's container."""
    from cdclab.targets.places import place_for

    seconds = flag_duration("--since", since, "s")
    text = place_for(run_id=run_id).worker_log(arm, seconds)
    out.print(text, markup=False, highlight=False)


ns = Collection("connect", status, restart, pause, resume, config)
