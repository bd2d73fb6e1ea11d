"""The `aws:` section of a spec: validated with the rest of the spec, before anything exists.

Only the model lives here (the ground floor); talking to AWS is `cdclab.aws`'s job.
"""

from __future__ import annotations

import ipaddress
import os
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Enough for Kafka Connect workers (each ~1 GiB heap) and Docker; nothing exotic or costly.
ALLOWED_INSTANCE_TYPES = (
    "t3.medium",
    "t3.large",
    "t3.xlarge",
    "m6i.large",
    "m6i.xlarge",
    "m7i.large",
    "m7i.xlarge",
)


class AwsSettings(BaseModel):
    """The `aws:` section of a spec, `--set aws.<key>=…`, or the aws.* task options."""

    model_config = ConfigDict(extra="forbid")

    region: str | None = Field(
        default=None, description="AWS region; default: AWS_REGION, AWS_DEFAULT_REGION, profile"
    )
    profile: str | None = Field(default=None, description="a profile of ~/.aws/config")
    instance_type: str = Field(default="t3.large", description="one of ALLOWED_INSTANCE_TYPES")
    ami: str | None = Field(
        default=None,
        pattern=r"^ami-[0-9a-f]{8,17}$",
        description="default: the latest Amazon Linux 2023 (public SSM parameter)",
    )
    subnet_id: str | None = Field(default=None, pattern=r"^subnet-[0-9a-f]{8,17}$")
    vpc_id: str | None = Field(default=None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    allow_cidr: str | None = Field(
        default=None, description="who may reach SSH (TCP 22); default: this machine's /32"
    )
    ssh_jump: str | None = Field(
        default=None,
        pattern=r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?$",
        description="an SSH bastion, [user@]host[:port], through which the instance is reached "
        "at its private address (for instances without a public one); your own SSH agent or "
        "ssh_jump_key_file logs in to it, its key checked against ~/.ssh/known_hosts",
    )
    ssh_jump_key_file: str | None = Field(
        default=None, description="the private key for the bastion; default: your SSH agent"
    )
    max_hours: float = Field(
        default=4.0, gt=0, le=72, description="the instance is tagged to expire after this"
    )
    root_volume_gb: int = Field(default=30, ge=8, le=200)
    security_group_ids: list[str] = Field(
        default_factory=list,
        description="groups of yours to attach to the instance as well (e.g. one your "
        "database's group already admits)",
    )
    instance_profile: str | None = Field(
        default=None,
        # IAM's own character set, ASCII (a Unicode \w repeated 128 times is too big a regex).
        pattern=r"^(arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[A-Za-z0-9_+=,.@/-]+"
        r"|[A-Za-z0-9_+=,.@-]+)$",
        max_length=256,
        description="an instance profile of yours (name or ARN) to attach: its role gives "
        "the instance's connectors and canary consumer their AWS credentials (MSK IAM)",
    )
    authorize_source: bool = Field(
        default=False,
        description="add one ingress rule to external.aurora_cluster's groups: its port, from "
        "the instance's group only; removed with the instance",
    )
    # For experiments on the aws target:
    run_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{8}$",
        description="run on the host of this earlier `aws.up` (or `--keep`) instead of a new one",
    )
    keep: bool = Field(default=False, description="leave the instance running after the run")
    container_cli: str = Field(
        # The sandbox's stand-in names its engine's docker command (`invoke aws.sandbox`).
        default_factory=lambda: os.environ.get("CDCLAB_AWS_CONTAINER_CLI", "docker"),
        pattern=r"^[\w./-]+$",
        description="the container CLI on the instance (docker; podman-docker also answers)",
    )

    @model_validator(mode="after")
    def _jump_needs_its_cidr(self) -> AwsSettings:
        if self.ssh_jump and self.allow_cidr is None:
            raise ValueError(
                "aws.allow_cidr: with aws.ssh_jump the instance is reached from the bastion, "
                "not from this machine; give the bastion's private address as /32 (or the "
                "VPC's CIDR), e.g. --set aws.allow_cidr=10.0.1.23/32"
            )
        return self

    @field_validator("security_group_ids")
    @classmethod
    def _group_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"sg-[0-9a-f]{8,17}", v)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not a security group id (sg-0123456789abcdef0)")
        return value

    @field_validator("instance_type")
    @classmethod
    def _allowed_type(cls, value: str) -> str:
        if value not in ALLOWED_INSTANCE_TYPES:
            raise ValueError(
                f"{value!r} is not allowed; pick one of {', '.join(ALLOWED_INSTANCE_TYPES)}"
            )
        return value

    @field_validator("allow_cidr")
    @classmethod
    def _narrow_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR like 203.0.113.7/32 ({exc})") from exc
        if network.prefixlen < 16:
            raise ValueError(
                f"{value!r} opens SSH to {network.num_addresses:,} addresses; "
                "give your own address as /32 (or at most a /16)"
            )
        return str(network)
