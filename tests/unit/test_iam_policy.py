"""docs/aws-iam-policy.json against the code: every AWS call the aws target makes is allowed,
nothing else is, tags only on creation, and destruction only of what carries cdclab's tag.

The calls are read from the source (client methods, waiters and paginators), mapped to API
actions through botocore's own service models, so a new call without a policy line fails."""

from __future__ import annotations

import functools
import json
import re

import botocore.session
import pytest

from cdclab.paths import PROJECT_ROOT

POLICY = PROJECT_ROOT / "docs" / "aws-iam-policy.json"
# sandbox_up.py fills the sandbox's own moto (Secrets Manager), never an account.
SOURCES = sorted(
    p for p in (PROJECT_ROOT / "src" / "cdclab" / "aws").glob("*.py") if p.name != "sandbox_up.py"
)
ATTRIBUTE_CLIENTS = {"ec2": "ec2", "ssm": "ssm"}  # self.ec2 / self.ssm in provision.py


@functools.cache
def _client(service: str):
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _calls_in_the_code() -> set[str]:
    """`service:Action` for every client method, waiter and paginator the aws package uses."""
    text = "\n".join(path.read_text() for path in SOURCES)
    found: set[tuple[str, str]] = set()
    for attr, method in re.findall(r"self\.(ec2|ssm)\.(\w+)\(", text):
        found.add((ATTRIBUTE_CLIENTS[attr], method))
    for service, method in re.findall(r'client\("(\w+)"\)\.(\w+)\(', text):
        found.add((service, method))
    for variable, service in re.findall(r'(?<![.\w])(\w+) = \w+\.client\("(\w+)"\)$', text, re.M):
        for method in re.findall(rf"(?<![.\w]){variable}\.(\w+)\(", text):
            found.add((service, method))
    actions = set()
    for service, method in found:
        client = _client(service)
        if method == "get_waiter" or method == "get_paginator":
            continue
        actions.add(f"{service}:{client.meta.method_to_api_mapping[method]}")
    ec2 = _client("ec2")
    for name in re.findall(r'get_waiter\("(\w+)"\)', text):
        actions.add(f"ec2:{ec2.get_waiter(name).config.operation}")
    for name in re.findall(r'get_paginator\("(\w+)"\)', text):
        actions.add(f"ec2:{ec2.meta.method_to_api_mapping[name]}")
    return actions


def _statements() -> list[dict]:
    return json.loads(POLICY.read_text())["Statement"]


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_calls_are_read_from_the_code():
    calls = _calls_in_the_code()
    # a sample the provisioning path certainly makes (up, waiters, down, gc, secrets)
    for action in (
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:TerminateInstances",
        "ec2:DescribeRegions",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "rds:DescribeDBClusters",
        "ec2:RevokeSecurityGroupIngress",
    ):
        assert action in calls, action


def _implied_by_parameters() -> set[str]:
    """Actions a call's parameters need besides the call: tags on creation (CreateTags),
    an instance profile on RunInstances (PassRole of its role)."""
    text = "\n".join(path.read_text() for path in SOURCES)
    implied = {"ec2:CreateTags"} if "TagSpecifications" in text else set()
    return implied | ({"iam:PassRole"} if "IamInstanceProfile" in text else set())


def test_the_policy_allows_every_call_the_code_makes_and_nothing_more():
    allowed = {a for s in _statements() if s["Effect"] == "Allow" for a in _actions(s)}
    assert _implied_by_parameters() == {"ec2:CreateTags", "iam:PassRole"}
    assert allowed - _implied_by_parameters() == _calls_in_the_code()
    assert not any("*" in a for a in allowed), "no wildcard actions"


def test_tags_are_written_only_while_creating_what_cdclab_creates():
    tagging = [s for s in _statements() if "ec2:CreateTags" in _actions(s)]
    assert len(tagging) == 1
    creates = tagging[0]["Condition"]["StringEquals"]["ec2:CreateAction"]
    text = "\n".join(path.read_text() for path in SOURCES)
    tagged_on_create = {
        _client("ec2").meta.method_to_api_mapping[m]
        for m in re.findall(r"self\.ec2\.(\w+)\((?:[^()]|\([^()]*\))*TagSpecifications", text)
    }
    assert tagged_on_create and set(creates) == tagged_on_create


@pytest.mark.parametrize(
    "action",
    [
        "ec2:TerminateInstances",
        "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DeleteKeyPair",
    ],
)
def test_what_changes_or_destroys_touches_only_resources_tagged_by_cdclab(action):
    tagged = {"Null": {"aws:ResourceTag/cdclab:run-id": "false"}}
    granting = [s for s in _statements() if action in _actions(s)]
    assert granting, f"{action} is allowed nowhere: the check below would pass unread"
    for statement in granting:
        if statement["Resource"] == "*":
            assert statement["Condition"] == tagged, statement["Sid"]
        else:  # the database's own group, named by the user (aws.authorize_source)
            assert action.endswith("SecurityGroupIngress"), statement["Sid"]
            assert all(":security-group/sg-" in r for r in statement["Resource"])


def test_passwords_are_read_only_where_the_user_stores_them():
    secrets = [s for s in _statements() if "secretsmanager:GetSecretValue" in _actions(s)]
    resources = [r for s in secrets for r in s["Resource"]]
    assert "*" not in resources
    assert any(r.endswith(":secret:cdclab/*") for r in resources)
    assert any(r.endswith(":secret:rds!*") for r in resources)  # RDS-managed secrets


def test_only_the_users_named_role_is_passed_and_only_to_ec2():
    passing = [s for s in _statements() if "iam:PassRole" in _actions(s)]
    assert len(passing) == 1
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    assert all(":role/" in r and "*" not in r.split(":role/")[1] for r in passing[0]["Resource"])
