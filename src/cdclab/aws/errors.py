"""AWS's refusals as errors a user can act on (what was refused, where, and what to change),
instead of botocore tracebacks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cdclab.errors import CdclabError, InvalidInputError

F = TypeVar("F", bound=Callable[..., Any])

POLICY_HINT = "the credentials' IAM policy must allow it: docs/aws-iam-policy.json lists all"
HINTS = {
    "UnauthorizedOperation": POLICY_HINT,
    "AccessDenied": POLICY_HINT,
    "AccessDeniedException": POLICY_HINT,
    "AuthFailure": "AWS rejected the credentials: check AWS_PROFILE or the access key",
    "InvalidClientTokenId": "AWS rejected the credentials: check AWS_PROFILE or the access key",
    "InvalidSubnetID.NotFound": "aws.subnet_id: no such subnet in this region",
    "InvalidVpcID.NotFound": "aws.vpc_id: no such VPC in this region",
    "InvalidAMIID.NotFound": "aws.ami: no such image in this region",
    "InvalidAMIID.Malformed": "aws.ami: not an image id",
    "InstanceLimitExceeded": "the account's instance quota for this type is used up",
    "VcpuLimitExceeded": "the account's vCPU quota is used up (Service Quotas raises it)",
}
NAMED_INPUT = ("InvalidSubnetID", "InvalidVpcID", "InvalidAMIID")


def aws_errors(func: F) -> F:
    """Turn botocore's errors raised by func into CdclabError naming call, code and fix."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            hint = HINTS.get(code, exc.response.get("Error", {}).get("Message", ""))
            kind = InvalidInputError if code.startswith(NAMED_INPUT) else CdclabError
            raise kind(f"AWS refused {exc.operation_name} ({code}): {hint}") from exc
        except BotoCoreError as exc:
            raise CdclabError(f"AWS could not be reached or answered oddly: {exc}") from exc

    return wrapper  # type: ignore[return-value]
