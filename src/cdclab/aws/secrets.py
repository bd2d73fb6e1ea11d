"""The user's database password for the AWS target: from the environment, AWS Secrets
Manager or SSM Parameter Store — never from a spec file, never into results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from cdclab.core.kafka_security import KafkaSecurity
from cdclab.core.secret_refs import check_reference
from cdclab.errors import InvalidInputError

__all__ = ["check_reference", "kafka_client", "resolve_secret"]


def resolve_secret(reference: str, session: boto3.session.Session | None = None) -> str:
    """The secret's value, for the moment it is needed; callers keep it out of argv/logs."""
    scheme, _, name = check_reference(reference).partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if not value:
            raise InvalidInputError(f"secret {reference}: environment variable {name} is not set")
        return value
    if scheme == "file":
        try:
            value = Path(name).read_text().rstrip("\n")
        except OSError as exc:
            raise InvalidInputError(f"secret {reference}: cannot read it ({exc.strerror})") from exc
        if not value:
            raise InvalidInputError(f"secret {reference}: the file is empty")
        return value
    session = session or boto3.session.Session()
    try:
        if scheme == "ssm":
            answer = session.client("ssm").get_parameter(Name=name, WithDecryption=True)
            return answer["Parameter"]["Value"]
        secret_id, _, key = name.partition("#")
        answer = session.client("secretsmanager").get_secret_value(SecretId=secret_id)
        value = answer.get("SecretString") or ""
        if key:  # RDS-style JSON secrets: {"username": …, "password": …}
            value = json.loads(value)[key]
        return value
    except (ClientError, KeyError, ValueError) as exc:
        raise InvalidInputError(f"secret {reference}: cannot read it ({exc})") from exc


def kafka_client(
    security: KafkaSecurity, reference: str | None, session: boto3.session.Session | None = None
) -> dict[str, Any]:
    """librdkafka's settings for a cluster, the SCRAM password read from its reference now
    (held in memory only)."""
    return security.librdkafka(resolve_secret(reference, session) if reference else None)
