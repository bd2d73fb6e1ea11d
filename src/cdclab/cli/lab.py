"""invoke lab.*: the local lab's lifecycle and its two runbook checks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from invoke import Collection, task

from cdclab.cli._common import flag_duration, print_json, user_errors
from cdclab.progress import ansible_printer, console, out

if TYPE_CHECKING:  # imported where used: every `invoke` command loads this module
    from cdclab.lab.config import LabConfig


def _config(c, subnet: str | None) -> LabConfig | None:
    """--subnet > invoke config (lab.subnet, e.g. INVOKE_LAB_SUBNET) > the running lab's."""
    chosen = subnet or c.config.get("lab", {}).get("subnet")
    if chosen is None:
        return None
    from pydantic import ValidationError

    from cdclab.errors import from_validation
    from cdclab.lab.config import LabConfig, load_saved

    base = load_saved() or LabConfig()
    try:
        return LabConfig.model_validate({**base.model_dump(), "subnet": chosen})
    except ValidationError as exc:
        raise from_validation(exc, "lab settings (--subnet)") from exc


@task(
    help={
        "subnet": "IPv4 range for the lab hosts (default 198.18.213.0/24, RFC 2544's lab range)",
        "keep-on-failure": "leave a half-built lab in place for debugging instead of removing it",
        "dry-run": "change nothing: show the plan, or what would change on a running lab",
        "docker": "also start the Docker engine of the docker target in the connect host",
        "full": "run every playbook even when the running lab is proven healthy",
    }
)
@user_errors
def up(c, subnet=None, keep_on_failure=False, dry_run=False, docker=False, full=False):
    """Build the lab from nothing (idempotent): namespaces, sshd, MariaDB, Kafka, Connect."""
    from cdclab.lab.up import lab_up

    if docker and dry_run:
        from cdclab.errors import InvalidInputError

        raise InvalidInputError("--docker: a dry run does not start the engine; drop one")

    started = time.monotonic()
    result = lab_up(
        _config(c, subnet),
        keep_on_failure=keep_on_failure,
        dry_run=dry_run,
        event_handler=ansible_printer(),
        full=full,
    )
    took = time.monotonic() - started
    if isinstance(result, str):
        out.print("no lab is up; lab.up would build:\n" + result)
    elif result.playbook is None:
        console.print(
            f"[green]lab is up and proven healthy[/green] ({took:.1f} s): every process alive, "
            "every connector RUNNING with lab.up's config, a canary on every arm's topic, "
            "nothing lab.up writes has changed. `--full` runs the playbooks anyway."
        )
    elif dry_run:
        console.print(f"dry run: {result.changed} change(s) would be made ({took:.1f} s)")
    elif result.changed == 0:
        console.print(f"[green]lab is up; nothing changed[/green] ({took:.1f} s)")
    else:
        console.print(f"[green]lab is up[/green]: {result.changed} change(s) in {took:.1f} s")
    if docker and not isinstance(result, str):
        _start_docker(result.config)


def _start_docker(config: LabConfig) -> None:
    from cdclab.images.connect import choose_image
    from cdclab.lab.docker_engine import engine_cli, start_engine

    image, tarball = choose_image(None)
    start_engine(config, image, tarball, event_handler=ansible_printer())
    console.print(f"[green]docker engine is up[/green] in the connect host: {engine_cli()} ps")


@task(help={"purge": "also remove data (database, Kafka), downloaded jars and caches"})
@user_errors
def down(c, purge=False):
    """Stop every lab process; remove namespaces, veths, keys and cdclab iptables rules."""
    from cdclab.lab.teardown import teardown
    from cdclab.prereqs import check_root

    check_root()
    report = teardown(purge=purge)
    for item in report.removed:
        console.print(f"  removed {item}")
    if report.errors:
        for error in report.errors:
            console.print(f"  [red]{error}[/red]")
        raise SystemExit(1)
    console.print("[green]lab is down[/green]" + (" (purged)" if purge else ""))


@task(help={"json": "print machine-readable JSON"})
@user_errors
def status(c, json=False):
    """Per arm: connector/task state, negotiated TLS, topic, REST URL; per host: answers?"""
    from cdclab.lab.status import lab_status, render_status

    report = lab_status()
    if json:
        print_json(report.model_dump(mode="json"))
    else:
        render_status(report)
    if not report.healthy:
        raise SystemExit(1)


@task(
    help={
        "json": "print machine-readable JSON",
        "timeout": "how long to wait for the canary on every arm's topic (30, 45s, 2m)",
    }
)
@user_errors
def canary(c, json=False, timeout="30s"):
    """Insert one canary row; report each arm's delivery latency, or `missing`."""
    from cdclab.lab.smoke import lab_canary, render_canary

    result = lab_canary(timeout_s=flag_duration("--timeout", timeout, "s"))
    if json:
        print_json(result.model_dump(mode="json"))
    else:
        render_canary(result)
    if not result.all_delivered:
        raise SystemExit(1)


ns = Collection("lab", up, down, status, canary)
ns.configure({"lab": {"subnet": None}})
