"""`invoke experiment NAME --target aws --dry-run`: what would be created and deployed.

Reads (the AMI parameter, the default VPC, the caller's address) but mutates nothing.
"""

from __future__ import annotations

from cdclab.aws.aurora import with_cluster
from cdclab.aws.errors import aws_errors
from cdclab.aws.provision import Ec2Provisioner, caller_cidr
from cdclab.aws.settings import aws_session
from cdclab.core.durations import format_duration
from cdclab.core.spec import ExperimentSpec
from cdclab.faults.actions import DEADMAN_GRACE_S
from cdclab.targets.base import spec_arms
from cdclab.versions import load_versions


@aws_errors
def describe_aws_plan(spec: ExperimentSpec) -> list[str]:
    session = aws_session(spec.aws)
    spec, source = with_cluster(spec, session)
    ec2 = Ec2Provisioner(spec.aws, session)
    ext = spec.external
    if spec.aws.run_id:
        lines = [
            f"AWS region {ec2.region}: the host of run {spec.aws.run_id} (kept from an earlier "
            "`aws.up` or --keep); nothing is created and it stays after the run"
        ]
    else:
        allow_cidr = spec.aws.allow_cidr or caller_cidr()
        lines = [
            f"AWS region {ec2.region}: one EC2 host, tagged, expiring after "
            f"{spec.aws.max_hours:g} h, when it terminates itself"
        ]
        for r in ec2.plan("<run id>", allow_cidr, source=source):
            details = ", ".join(f"{k}={v}" for k, v in r.details.items())
            tags = ", ".join(f"{k}={v}" for k, v in r.tags.items())
            lines.append(
                f"  create {r.kind} {r.name}: {details}" + (f" (tags: {tags})" if tags else "")
            )
    image = spec.docker.image or load_versions().debezium_image
    lines += [
        "deploy over SSH (Ansible): Docker Engine + compose plugin, then one container per arm "
        f"from {image} (host network; REST and Jolokia on 127.0.0.1, never opened in the "
        "security group), and cdclab from a wheelhouse built here (Python 3.11, no package "
        "index needed on the instance)",
        "the run is handed over to the instance (spec, CA bundles, secrets as 0600 files) and "
        "its clock runs there as a service: checks, canaries, faults and dumps inside the VPC; "
        "this machine follows it and pulls its results directory",
        f"source: {ext.db_host}:{ext.db_port} as {ext.db_user}, password from "
        f"{ext.db_password_from} (read at run time, never written down); "
        f"canaries into {ext.database}.{ext.canary_table}",
        f"kafka: {ext.kafka_bootstrap} ({ext.kafka_security}), from the instance",
    ]
    for worker, (name, arm) in zip(spec_arms(spec), spec.resolved_arms().items(), strict=True):
        lines.append(
            f"arm {name}: container connect-{name}, REST 127.0.0.1:{worker.rest_port}, metrics "
            f"127.0.0.1:{worker.metrics_port}, " + arm.describe()
        )
    if spec.load:
        lines.append(spec.load.describe(f"{ext.database}.write_load"))
    faults = spec.all_faults()
    if not faults:
        lines.append("faults: none scheduled")
    for fault in faults:
        for start, length in fault.occurrences():
            lines.append(
                f"fault {fault.kind} on the instance ↔ {ext.db_host} at +{format_duration(start)} "
                f"for {format_duration(length)} (iptables, tagged; dead-man switch: a transient "
                f"systemd timer at +{format_duration(start + length + DEADMAN_GRACE_S)})"
            )
    if not spec.aws.run_id:
        lines.append(
            "teardown at the end, on failure and on Ctrl-C: `invoke aws.down <run id>`"
            + (" — skipped: --keep" if spec.aws.keep else " (unless --keep)")
        )
    return lines
