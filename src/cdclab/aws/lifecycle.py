"""aws.up / aws.down / aws.gc / aws.ls: what the tasks and the aws target call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from cdclab.aws.aurora import SourceAccess
from cdclab.aws.errors import aws_errors
from cdclab.aws.inventory import instance_route, write_inventory
from cdclab.aws.provision import AwsHost, Ec2Provisioner, Resource, caller_cidr, run_state_dir
from cdclab.aws.sandbox import Sandbox, active_sandbox, check_free, hand_out, take_back
from cdclab.aws.settings import AwsSettings, aws_session
from cdclab.errors import InvalidInputError


@dataclass
class UpResult:
    run_id: str
    allow_cidr: str
    planned: list[Resource]
    host: AwsHost | None = None  # None on a dry run
    inventory: str | None = None


def new_aws_run_id() -> str:
    return secrets.token_hex(4)


def provisioner(settings: AwsSettings) -> Ec2Provisioner:
    return Ec2Provisioner(settings, aws_session(settings))


@aws_errors
def aws_up(
    settings: AwsSettings,
    *,
    run_id: str | None = None,
    dry_run: bool = False,
    source: SourceAccess | None = None,
) -> UpResult:
    """Validate everything first (credentials, region, CIDR), then create or only plan."""
    ec2 = provisioner(settings)
    allow_cidr = settings.allow_cidr or caller_cidr()
    run_id = run_id or new_aws_run_id()
    planned = ec2.plan(run_id, allow_cidr, source=source)
    if dry_run:
        return UpResult(run_id, allow_cidr, planned)
    sandbox = active_sandbox()
    if sandbox:
        check_free(sandbox, run_id)
    host = ec2.up(run_id, allow_cidr, source)
    if sandbox:
        host = _handed_out(ec2, host, sandbox)
    inventory = write_run_inventory(host, settings)
    return UpResult(run_id, allow_cidr, planned, host, str(inventory))


def _handed_out(ec2: Ec2Provisioner, host: AwsHost, sandbox: Sandbox) -> AwsHost:
    """In the sandbox, the instance is its stand-in: the run's key authorised there, its
    address the instance's. Rolled back with the instance if that fails."""
    try:
        address = hand_out(sandbox, host.run_id, host.key_file)
    except BaseException:
        ec2.down(host.run_id)
        raise
    host = replace(host, public_ip=address, private_ip=address)
    host.save(run_state_dir(host.run_id))
    return host


def write_run_inventory(host: AwsHost, settings: AwsSettings) -> Path:
    """The run's inventory: the instance's route (direct or through aws.ssh_jump), and in
    the sandbox how its stand-in differs from Amazon Linux (also for a kept run's)."""
    address, jump = instance_route(host.public_ip, host.private_ip, settings)
    sandbox = active_sandbox()
    return write_inventory(
        run_state_dir(host.run_id),
        address=address,
        user=host.ssh_user,
        key_file=host.key_file,
        jump=jump,
        host_vars=sandbox.host_vars if sandbox else None,
    )


@aws_errors
def aws_down(settings: AwsSettings, run_id: str) -> list[Resource]:
    removed = provisioner(in_the_runs_region(settings, run_id)).down(run_id)
    sandbox = active_sandbox()
    if sandbox:  # its stand-in, as a terminated instance leaves it
        removed += [Resource("stand-in", line) for line in take_back(sandbox, run_id)]
    return removed


def in_the_runs_region(settings: AwsSettings, run_id: str) -> AwsSettings:
    """A run provisioned here is taken down where it was made, whatever AWS_REGION says
    now; a different --region is refused before anything is touched."""
    if not (run_state_dir(run_id) / "host.json").exists():
        return settings  # made elsewhere: found by its tags in the region given
    region = AwsHost.load(run_id).region
    if settings.region and settings.region != region:
        raise InvalidInputError(
            f"aws.region: run {run_id} was provisioned in {region}, not {settings.region}; "
            f"leave --region out (or give --region {region}). Nothing was removed."
        )
    return settings.model_copy(update={"region": region})


@aws_errors
def aws_ls(settings: AwsSettings) -> list[Resource]:
    return provisioner(settings).ls()


@aws_errors
def aws_gc(
    settings: AwsSettings, *, dry_run: bool, all_regions: bool = False
) -> dict[str, list[Resource]]:
    """Expired runs, removed unless dry_run; with all_regions, in every region the account
    has enabled (keyed RUN@REGION), for runs left in a region nobody looks at."""
    here = provisioner(settings)
    if not all_regions:
        return here.gc(dry_run=dry_run)
    expired: dict[str, list[Resource]] = {}
    for region in here.regions():
        for run_id, resources in here.in_region(region).gc(dry_run=dry_run).items():
            expired[f"{run_id}@{region}"] = resources
    return expired
