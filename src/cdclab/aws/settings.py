"""Where and what to provision on AWS: validated before any call that creates something.

Region, profile and endpoint follow boto3's own configuration (AWS_PROFILE, AWS_REGION or
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ~/.aws/config), so the same code talks to AWS and to
a moto server on loopback.
"""

from __future__ import annotations

import ipaddress
import os

import boto3
import botocore.session
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cdclab.errors import InvalidInputError

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
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
CHECKIP_URL = "https://checkip.amazonaws.com"


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
    max_hours: float = Field(
        default=4.0, gt=0, le=72, description="the instance is tagged to expire after this"
    )
    root_volume_gb: int = Field(default=30, ge=8, le=200)
    # For experiments on the aws target:
    run_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{8}$",
        description="run on the host of this earlier `aws.up` (or `--keep`) instead of a new one",
    )
    keep: bool = Field(default=False, description="leave the instance running after the run")
    container_cli: str = Field(
        default="docker",
        pattern=r"^[\w./-]+$",
        description="the container CLI on the instance (docker; podman-docker also answers)",
    )

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


def aws_session(settings: AwsSettings) -> boto3.session.Session:
    """A boto3 session on the settings' region/profile, with credentials, or a clear error."""
    try:
        session = boto3.session.Session(
            profile_name=settings.profile,
            region_name=settings.region or os.environ.get("AWS_REGION") or None,
        )
    except botocore.exceptions.ProfileNotFound as exc:
        raise InvalidInputError(
            f"aws.profile: {exc}. List profiles with `aws configure list-profiles`."
        ) from exc
    region = session.region_name
    if not region:
        raise InvalidInputError(
            "aws.region: no region configured. Set AWS_REGION (e.g. ap-northeast-2), "
            "give --region, or set one in your AWS profile."
        )
    catalogue = botocore.session.get_session()
    known = catalogue.get_available_regions("ec2") + catalogue.get_available_regions(
        "ec2", "aws-cn"
    )
    if region not in known:
        raise InvalidInputError(
            f"aws.region: {region!r} is not an EC2 region (e.g. us-east-1, ap-northeast-2)"
        )
    if session.get_credentials() is None:
        raise InvalidInputError(
            "no AWS credentials: set AWS_PROFILE (a profile from `aws configure`) or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance role applies."
        )
    return session
