"""invoke fault.*: runbook steps for faults."""

from __future__ import annotations

from invoke import Collection, task

from cdclab.cli._common import print_json, user_errors
from cdclab.progress import out


@task(
    help={
        "all": "also the root namespace (rules a fault on the orchestrator itself left)",
        "json": "print machine-readable JSON",
        "run-id": "an AWS run: clear its instance instead of the lab (`invoke aws.ls`)",
    }
)
@user_errors
def clear(c, all_=False, json=False, run_id=None):
    """Remove every cdclab fault (iptables rules, netem, dead-man timers) on every lab host."""
    from cdclab.targets.places import place_for

    removed = place_for(run_id=run_id).sweep_faults(include_root=all_)
    if json:
        print_json(removed)
        return
    for host, items in removed.items():
        if items:
            for item in items:
                out.print(f"{host}: removed {item}")
        else:
            out.print(f"{host}: no cdclab fault")


ns = Collection("fault", clear)
