"""invoke aws.*: one EC2 host per run, and finding and removing what cdclab left on AWS."""

from __future__ import annotations

from dataclasses import asdict

from invoke import Collection, task

from cdclab.cli._common import print_json, user_errors
from cdclab.errors import from_validation
from cdclab.progress import ansible_printer, console, out

SETTINGS_HELP = {
    "region": "AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)",
    "profile": "AWS profile (default: AWS_PROFILE / default)",
    "json": "print machine-readable JSON",
}


def _settings(**given):
    from pydantic import ValidationError  # here: every `invoke` command loads this module

    from cdclab.aws.settings import AwsSettings

    try:
        return AwsSettings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise from_validation(exc, "AWS settings") from exc


def _show(resources, title: str) -> None:
    if not resources:
        out.print(f"{title}: nothing")
        return
    out.print(f"{title}:")
    for r in resources:
        ident = f" {r.resource_id}" if r.resource_id else ""
        details = ", ".join(f"{k}={v}" for k, v in r.details.items() if v is not None)
        tags = ", ".join(f"{k}={v}" for k, v in r.tags.items())
        line = f"  {r.kind} {r.name}{ident}  {details}" + (f"  (tags: {tags})" if tags else "")
        out.print(line, markup=False, highlight=False)


@task(
    help={
        **SETTINGS_HELP,
        "instance-type": "instance type (an allow-list: t3.large by default)",
        "allow-cidr": "who may reach SSH, e.g. 203.0.113.7/32 (default: this machine's /32)",
        "max-hours": "tag the run to expire after this many hours (aws.gc removes it then)",
        "run-id": "use this run id (default: a new one)",
        "instance-profile": "attach this instance profile of yours (name or ARN), e.g. for MSK IAM",
        "subnet-id": "put the instance in this subnet (default: the default VPC's)",
        "vpc-id": "or in a subnet of this VPC",
        "security-group-id": "attach a group of yours as well (repeatable)",
        "ssh-jump": "reach the instance's private address through this bastion, "
        "[user@]host[:port] (needs --allow-cidr: the bastion's address)",
        "ssh-jump-key-file": "the bastion's private key (default: your SSH agent)",
        "dry-run": "print every resource to be created, with tags and rules; create nothing",
    },
    iterable=["security_group_id"],
    auto_shortflags=False,  # too many options share initials (-h would be --ssh-jump's)
)
@user_errors
def up(
    c,
    region=None,
    profile=None,
    instance_type=None,
    allow_cidr=None,
    max_hours=None,
    run_id=None,
    instance_profile=None,
    subnet_id=None,
    vpc_id=None,
    security_group_id=None,
    ssh_jump=None,
    ssh_jump_key_file=None,
    dry_run=False,
    json=False,
):
    """Provision one EC2 host for a run: key pair, SSH-only security group, instance."""
    from cdclab.aws.lifecycle import aws_up

    settings = _settings(
        region=region,
        profile=profile,
        instance_type=instance_type,
        allow_cidr=allow_cidr,
        max_hours=float(max_hours) if max_hours is not None else None,
        instance_profile=instance_profile,
        subnet_id=subnet_id,
        vpc_id=vpc_id,
        security_group_ids=security_group_id or None,
        ssh_jump=ssh_jump,
        ssh_jump_key_file=ssh_jump_key_file,
    )
    result = aws_up(settings, run_id=run_id, dry_run=dry_run)
    if json:
        print_json(asdict(result))
        return
    _show(result.planned, f"run {result.run_id}: {'would create' if dry_run else 'created'}")
    if result.host:
        out.print(
            f"instance {result.host.instance_id} at {result.host.public_ip} "
            f"(ssh {result.host.ssh_user}@{result.host.public_ip} -i {result.host.key_file}); "
            f"inventory {result.inventory}; expires {result.host.expires_at}. "
            f"Remove it with `invoke aws.down {result.run_id}`."
        )


@task(help={**SETTINGS_HELP})
@user_errors
def down(c, run_id, region=None, profile=None, json=False):
    """Terminate a run's instance, delete its security group and key pair; wait until gone."""
    from cdclab.aws.lifecycle import aws_down

    removed = aws_down(_settings(region=region, profile=profile), run_id)
    if json:
        print_json([asdict(r) for r in removed])
        return
    _show(removed, f"run {run_id}: removed")


@task(help={**SETTINGS_HELP})
@user_errors
def ls(c, region=None, profile=None, json=False):
    """Every cdclab-tagged instance, security group and key pair in the region."""
    from cdclab.aws.lifecycle import aws_ls

    found = aws_ls(_settings(region=region, profile=profile))
    if json:
        print_json([asdict(r) for r in found])
        return
    _show(found, "cdclab resources")


@task(
    help={
        **SETTINGS_HELP,
        "dry-run": "list what would be removed; remove nothing",
        "all-regions": "look in every region the account has enabled (runs keyed RUN@REGION)",
    }
)
@user_errors
def gc(c, region=None, profile=None, dry_run=False, all_regions=False, json=False):
    """Remove every cdclab run whose cdclab:expires-at has passed (instances, groups, keys)."""
    from cdclab.aws.lifecycle import aws_gc

    settings = _settings(region=region, profile=profile)
    expired = aws_gc(settings, dry_run=dry_run, all_regions=all_regions)
    if json:
        print_json({run: [asdict(r) for r in rs] for run, rs in expired.items()})
        return
    if not expired:
        out.print("no expired cdclab run")
    for run, resources in expired.items():
        _show(resources, f"run {run}: {'would remove' if dry_run else 'removed'} (expired)")


@task(help={"down": "remove the sandbox: its stand-in taken back, moto stopped (the lab stays)"})
@user_errors
def sandbox(c, down=False):
    """Try the AWS path without an account: moto on loopback, the lab's connect host as the
    instance. Prints the environment to use: eval "$(invoke aws.sandbox)"."""
    from cdclab.aws.sandbox import export_lines, unset_lines
    from cdclab.aws.sandbox_up import check_prerequisites, start_sandbox, stop_sandbox

    if down:
        for line in stop_sandbox():
            console.print(f"removed: {line}", markup=False)
        print("\n".join(unset_lines()))  # stdout: for eval, as the exports were
        return
    check_prerequisites()
    _lab_for_the_sandbox()
    made = start_sandbox()
    values = f"{made.path.rsplit('/', 1)[0]}/values.yaml"
    console.print(
        f"AWS sandbox: moto at {made.endpoint} ({made.region}); instances are handed the lab's "
        f"connect host ({made.address}) as ec2-user; your database and Kafka are the lab's "
        f"({values}).\nNext: invoke experiment tls-compare --target aws --minutes 5 "
        f'--values {values}\nRemove it: eval "$(invoke aws.sandbox --down)"',
        markup=False,
    )
    print("\n".join(export_lines(made)))


def _lab_for_the_sandbox() -> None:
    """The lab's database, Kafka and connect host are the sandbox's: up first if needed."""
    from cdclab.lab import config as lab_config
    from cdclab.lab.up import lab_up

    if lab_config.load_saved() is None:
        console.print("the sandbox needs the lab: bringing it up (invoke lab.up)…")
        lab_up(event_handler=ansible_printer())


ns = Collection("aws", up, down, ls, gc, sandbox)
