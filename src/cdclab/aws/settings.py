"""Where and what to provision on AWS: validated before any call that creates something.

Region, profile and endpoint follow boto3's own configuration (AWS_PROFILE, AWS_REGION or
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ~/.aws/config), so the same code talks to AWS and to
a moto server on loopback.
"""

from __future__ import annotations

import os

import boto3
import botocore.session

from cdclab.core.aws_settings import ALLOWED_INSTANCE_TYPES, AwsSettings
from cdclab.errors import InvalidInputError

__all__ = ["ALLOWED_INSTANCE_TYPES", "AwsSettings", "aws_session"]

AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
CHECKIP_URL = "https://checkip.amazonaws.com"


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
