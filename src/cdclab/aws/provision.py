"""One EC2 host per run: key pair, security group (SSH from one CIDR only), instance.

Everything is tagged `cdclab:run-id`, `cdclab:expires-at` and `Name`, so `down` and `gc` find
what a run made by its tags alone, even after the orchestrator died. Waiters, not sleeps.
Creation rolls back what it made if a later step fails; `down` is idempotent.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

from cdclab.aws.aurora import SourceAccess
from cdclab.aws.sandbox import active_sandbox
from cdclab.aws.settings import AL2023_AMI_PARAMETER, CHECKIP_URL, AwsSettings
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.paths import aws_state_dir

TAG_RUN = "cdclab:run-id"
TAG_EXPIRES = "cdclab:expires-at"
SSH_USER = "ec2-user"  # Amazon Linux 2023


@dataclass(frozen=True)
class Resource:
    """A resource a run has or would have: what the plan prints and `ls` lists."""

    kind: str  # key-pair | security-group | ingress-rule | source-rule | instance
    name: str
    details: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    resource_id: str | None = None


@dataclass
class AwsHost:
    """A provisioned run: where the instance is and how to reach it."""

    run_id: str
    region: str
    instance_id: str
    security_group_id: str
    key_name: str
    key_file: str
    public_ip: str | None
    private_ip: str | None
    expires_at: str
    ssh_user: str = SSH_USER

    @classmethod
    def load(cls, run_id: str) -> AwsHost:
        """The host of an earlier `aws.up` (or a kept run), from its state directory."""
        path = run_state_dir(run_id) / "host.json"
        if not path.exists():
            raise InvalidInputError(
                f"aws.run_id: no provisioned run {run_id} here ({path} is missing); "
                "`invoke aws.ls` lists runs, `invoke aws.up` makes one"
            )
        return cls(**json.loads(path.read_text()))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "host.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def run_state_dir(run_id: str) -> Path:
    return aws_state_dir() / run_id


def tags_for(run_id: str, name: str, expires_at: str) -> dict[str, str]:
    return {TAG_RUN: run_id, TAG_EXPIRES: expires_at, "Name": name}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def self_termination(expires_at: str, now: datetime | None = None) -> str:
    """The instance's user data: at first boot it schedules its own power-off for its expiry;
    with instance-initiated shutdown = terminate, a forgotten instance ends with no laptop."""
    expires = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    minutes = max(1, math.ceil((expires - (now or datetime.now(UTC))).total_seconds() / 60))
    return (
        "#!/bin/sh\n"
        f"# cdclab: this instance ends itself at its expiry, {expires_at}\n"
        f"shutdown -h +{minutes} 'cdclab: the run expired ({expires_at})'\n"
    )


def caller_cidr(url: str | None = None, timeout: float = 5.0) -> str:
    """This machine's public address as a /32, or a clear error: SSH is never opened wider
    by default. CDCLAB_CHECKIP_URL points it elsewhere (tests use a loopback server); in
    the sandbox, this machine as its stand-in sees it."""
    sandbox = active_sandbox()
    if sandbox:
        return sandbox.caller_cidr
    url = url or os.environ.get("CDCLAB_CHECKIP_URL", CHECKIP_URL)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            address = answer.read().decode().strip()
        return f"{ipaddress.IPv4Address(address)}/32"
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"aws.allow_cidr: cannot determine this machine's public address from {url} "
            f"({exc}); give it with --allow-cidr 203.0.113.7/32 (or --set aws.allow_cidr=…)"
        ) from exc


class Ec2Provisioner:
    def __init__(self, settings: AwsSettings, session: boto3.session.Session):
        self.settings = settings
        self.session = session
        self.region = session.region_name
        self.ec2 = session.client("ec2")
        self.ssm = session.client("ssm")
        # Looked up once: `aws.up` plans, then creates, from the same answers.
        self._ami: str | None = None
        self._network: tuple[str, str | None] | None = None

    # -- read-only lookups (safe in --dry-run) ------------------------------------------
    def ami(self) -> str:
        if self.settings.ami:
            return self.settings.ami
        if self._ami is None:
            self._ami = self._latest_al2023()
        return self._ami

    def _latest_al2023(self) -> str:
        try:
            parameter = self.ssm.get_parameter(Name=AL2023_AMI_PARAMETER)
        except ClientError as exc:
            raise CdclabError(
                f"cannot read the Amazon Linux 2023 AMI from SSM ({AL2023_AMI_PARAMETER}): "
                f"{exc}; give --set aws.ami=ami-… instead"
            ) from exc
        return parameter["Parameter"]["Value"]

    def vpc_and_subnet(self) -> tuple[str, str | None]:
        """The given VPC/subnet, or the region's default VPC (its first default subnet)."""
        if self._network is None:
            self._network = self._find_network()
        return self._network

    def _find_network(self) -> tuple[str, str | None]:
        if self.settings.subnet_id:
            subnets = self.ec2.describe_subnets(SubnetIds=[self.settings.subnet_id])["Subnets"]
            return subnets[0]["VpcId"], self.settings.subnet_id
        if self.settings.vpc_id:
            return self.settings.vpc_id, self._subnet_in(self.settings.vpc_id)
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
        if not vpcs["Vpcs"]:
            raise InvalidInputError(
                f"aws.vpc_id: region {self.region} has no default VPC; give "
                "--set aws.subnet_id=subnet-… (a public subnet)"
            )
        return vpcs["Vpcs"][0]["VpcId"], None

    def _subnet_in(self, vpc: str) -> str:
        """A subnet of vpc for the instance (one that gives public addresses first): the
        group is made in vpc, so the instance must be too (EC2 refuses a mix)."""
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
        found = sorted(
            subnets["Subnets"], key=lambda s: (not s.get("MapPublicIpOnLaunch"), s["SubnetId"])
        )
        if not found:
            raise InvalidInputError(
                f"aws.vpc_id: {vpc} has no subnet in {self.region}; give "
                "--set aws.subnet_id=subnet-… (one the instance can be reached in)"
            )
        return found[0]["SubnetId"]

    # -- the plan -----------------------------------------------------------------------
    def plan(
        self,
        run_id: str,
        allow_cidr: str,
        now: datetime | None = None,
        source: SourceAccess | None = None,
    ) -> list[Resource]:
        """Every resource `up` would create, with its tags and rules. Calls nothing that
        mutates (reads the AMI parameter and the default VPC)."""
        expires = self._expires_at(now)
        vpc, subnet = self.vpc_and_subnet()
        name = f"cdclab-{run_id}"
        planned = [
            Resource("key-pair", name, {"type": "ed25519"}, tags_for(run_id, name, expires)),
            Resource(
                "security-group",
                name,
                {"vpc": vpc, "description": f"cdclab run {run_id}: SSH only"},
                tags_for(run_id, name, expires),
            ),
            Resource(
                "ingress-rule",
                f"{name} tcp/22",
                {"protocol": "tcp", "port": 22, "source": allow_cidr},
            ),
            Resource(
                "instance",
                name,
                {
                    "type": self.settings.instance_type,
                    "ami": self.ami(),
                    "subnet": subnet or f"default subnet of {vpc}",
                    "imdsv2": "required",
                    "root_volume": f"{self.settings.root_volume_gb} GiB gp3, encrypted",
                    "region": self.region,
                    "self_terminates": f"at {expires} (shutdown -h at boot; shutdown terminates)",
                    "instance_profile": self.settings.instance_profile,  # None: none attached
                },
                tags_for(run_id, name, expires),
            ),
        ]
        # The database admits the instance's group once the group exists.
        planned[3:3] = [
            Resource(
                "source-rule",
                f"{group} tcp/{source.port}",
                {"protocol": "tcp", "port": source.port, "source": f"security group {name}"},
                tags_for(run_id, name, expires),
            )
            for group in (source.group_ids if source else ())
        ]
        return planned

    def _expires_at(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        expires = now + timedelta(hours=self.settings.max_hours)
        return expires.strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- up / down ------------------------------------------------------------------------
    def up(self, run_id: str, allow_cidr: str, source: SourceAccess | None = None) -> AwsHost:
        """Create the run's key pair, security group and instance; roll back on failure
        (any failure, Ctrl-C included: nothing is left half-created)."""
        directory = run_state_dir(run_id)
        if (directory / "host.json").exists():
            raise InvalidInputError(
                f"run {run_id} is already provisioned ({directory / 'host.json'}); "
                f"`invoke aws.down {run_id}` first"
            )
        expires = self._expires_at()
        name = f"cdclab-{run_id}"
        tags = _tag_list(tags_for(run_id, name, expires))
        ami = self.ami()
        vpc, subnet = self.vpc_and_subnet()
        created: list[tuple[str, str]] = []
        try:
            key_file = self._create_key(name, tags, directory, created)
            group_id = self._create_group(name, run_id, vpc, allow_cidr, tags, created)
            if source:
                self._admit(source, group_id, tags, created)
            instance = self._run_instance(
                name, ami, group_id, subnet, tags, created, self_termination(expires)
            )
        except (ClientError, WaiterError) as exc:
            self._rollback(created)
            self._forget(run_id)
            raise CdclabError(
                f"provisioning run {run_id} failed and was rolled back: {exc}"
            ) from exc
        except BaseException:
            self._rollback(created)
            self._forget(run_id)
            raise
        host = AwsHost(
            run_id=run_id,
            region=self.region,
            instance_id=instance["InstanceId"],
            security_group_id=group_id,
            key_name=name,
            key_file=str(key_file),
            public_ip=instance.get("PublicIpAddress"),
            private_ip=instance.get("PrivateIpAddress"),
            expires_at=expires,
        )
        host.save(directory)
        return host

    def _create_key(self, name: str, tags, directory: Path, created: list) -> Path:
        key = self.ec2.create_key_pair(
            KeyName=name,
            KeyType="ed25519",
            TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}],
        )
        created.append(("key-pair", name))
        key_file = directory / "id_ed25519"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key["KeyMaterial"])
        return key_file

    def _create_group(
        self, name: str, run_id: str, vpc: str | None, allow_cidr: str, tags, created: list
    ) -> str:
        """A security group that lets SSH in from allow_cidr, and nothing else."""
        group = self.ec2.create_security_group(
            GroupName=name,
            Description=f"cdclab run {run_id}: SSH only",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )
        group_id = group["GroupId"]
        created.append(("security-group", group_id))
        self.ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": allow_cidr, "Description": "cdclab SSH"}],
                }
            ],
        )
        return group_id

    def _admit(self, source: SourceAccess, group_id: str, tags, created: list) -> None:
        """One tagged ingress rule per database group: its port, from the instance's group."""
        for database_group in source.group_ids:
            answer = self.ec2.authorize_security_group_ingress(
                GroupId=database_group,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": source.port,
                        "ToPort": source.port,
                        "UserIdGroupPairs": [{"GroupId": group_id, "Description": "cdclab run"}],
                    }
                ],
                TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": tags}],
            )
            for rule in answer.get("SecurityGroupRules", []):
                created.append(("source-rule", f"{database_group}/{rule['SecurityGroupRuleId']}"))

    def _revoke(self, group_and_rule: str) -> None:
        group_id, rule_id = group_and_rule.split("/", 1)
        try:
            self.ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
        except ClientError as exc:
            if "NotFound" not in exc.response["Error"]["Code"]:
                raise

    def _run_instance(
        self,
        name: str,
        ami: str,
        group_id: str,
        subnet: str | None,
        tags,
        created: list,
        user_data: str,
    ) -> dict[str, Any]:
        """One instance (IMDSv2, encrypted gp3 root, terminates on shutdown), running."""
        network: dict[str, Any] = {
            "Groups": [group_id, *self.settings.security_group_ids],
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": True,
        }
        if subnet:
            network["SubnetId"] = subnet
        profile = self.settings.instance_profile
        role = {"Arn" if profile.startswith("arn:") else "Name": profile} if profile else {}
        reservation = self.ec2.run_instances(
            **({"IamInstanceProfile": role} if role else {}),
            ImageId=ami,
            InstanceType=self.settings.instance_type,
            KeyName=name,
            MinCount=1,
            MaxCount=1,
            NetworkInterfaces=[network],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            BlockDeviceMappings=[
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": self.settings.root_volume_gb,
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "DeleteOnTermination": True,
                    },
                }
            ],
            InstanceInitiatedShutdownBehavior="terminate",
            UserData=user_data,
            TagSpecifications=[{"ResourceType": t, "Tags": tags} for t in ("instance", "volume")],
        )
        instance_id = reservation["Instances"][0]["InstanceId"]
        created.append(("instance", instance_id))
        self.ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 60}
        )
        described = self.ec2.describe_instances(InstanceIds=[instance_id])
        return described["Reservations"][0]["Instances"][0]

    def _rollback(self, created: list[tuple[str, str]]) -> None:
        for kind, ident in reversed(created):
            try:
                if kind == "instance":
                    self._terminate([ident])
                elif kind == "source-rule":
                    self._revoke(ident)
                elif kind == "security-group":
                    self._delete_group(ident)
                elif kind == "key-pair":
                    self.ec2.delete_key_pair(KeyName=ident)
            except (ClientError, WaiterError):
                pass  # `aws.gc` finds it by its tags

    def _forget(self, run_id: str) -> None:
        directory = run_state_dir(run_id)
        for path in (directory / "id_ed25519", directory / "host.json"):
            path.unlink(missing_ok=True)
        if directory.exists() and not any(directory.iterdir()):
            directory.rmdir()

    def _terminate(self, instance_ids: list[str]) -> None:
        if not instance_ids:
            return
        self.ec2.terminate_instances(InstanceIds=instance_ids)
        self.ec2.get_waiter("instance_terminated").wait(
            InstanceIds=instance_ids, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )

    def _delete_group(self, group_id: str, attempts: int = 24) -> None:
        # A group stays in use for a while after its instance terminated.
        for attempt in range(attempts):
            try:
                self.ec2.delete_security_group(GroupId=group_id)
                return
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == "InvalidGroup.NotFound":
                    return
                if code != "DependencyViolation" or attempt == attempts - 1:
                    raise
                time.sleep(5)

    def down(self, run_id: str) -> list[Resource]:
        """Terminate the run's instance, delete its group and key pair; wait until gone.
        Found by tag, so it works without local state; idempotent."""
        found = [r for r in self.ls() if r.tags.get(TAG_RUN) == run_id]
        self._terminate([r.resource_id for r in found if r.kind == "instance"])
        for r in found:  # first: a group that another group's rule names cannot be deleted
            if r.kind == "source-rule":
                self._revoke(f"{r.details['group']}/{r.resource_id}")
        for r in found:
            if r.kind == "security-group":
                self._delete_group(r.resource_id)
            elif r.kind == "key-pair":
                self.ec2.delete_key_pair(KeyName=r.name)
        # The private key is the only way into the instance: keep it until the instance
        # this machine provisioned is confirmed gone (not merely absent from the tag search).
        local = run_state_dir(run_id) / "host.json"
        if local.exists():
            host = AwsHost.load(run_id)
            state = self._instance_state(host.instance_id)
            if state not in (None, "terminated"):
                raise CdclabError(
                    f"run {run_id}: instance {host.instance_id} is still {state} in "
                    f"{self.region}; its key stays in {local.parent}. Terminate it (it has "
                    f"lost its {TAG_RUN} tag), then run `invoke aws.down {run_id}` again"
                )
        self._forget(run_id)
        return found

    def _instance_state(self, instance_id: str) -> str | None:
        """The instance's state, or None when EC2 no longer knows it."""
        try:
            found = self.ec2.describe_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response["Error"]["Code"].startswith("InvalidInstanceID"):
                return None
            raise
        states = [i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]]
        return states[0] if states else None

    def in_region(self, region: str) -> Ec2Provisioner:
        """The same settings and credentials in another region; the service models already
        loaded are shared (a new session per region cost half a second each)."""
        session = boto3.session.Session(botocore_session=self.session._session, region_name=region)
        return Ec2Provisioner(self.settings.model_copy(update={"region": region}), session)

    # -- what exists ----------------------------------------------------------------------
    def regions(self) -> list[str]:
        """The regions of this partition the account has enabled (opt-in ones once opted in)."""
        partition = self.session.get_partition_for_region(self.region)
        known = set(self.session.get_available_regions("ec2", partition_name=partition))
        answer = self.ec2.describe_regions(AllRegions=False)
        return sorted(r["RegionName"] for r in answer["Regions"] if r["RegionName"] in known)

    def ls(self) -> list[Resource]:
        """Every cdclab-tagged instance (not terminated), security group, rule and key pair."""
        tagged = [{"Name": "tag-key", "Values": [TAG_RUN]}]
        return [
            *self._instances(tagged),
            *(
                Resource(
                    "security-group",
                    group["GroupName"],
                    {"vpc": group.get("VpcId")},
                    _tag_dict(group.get("Tags")),
                    group["GroupId"],
                )
                for group in self.ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]
            ),
            *self._source_rules(tagged),
            *(
                Resource(
                    "key-pair", key["KeyName"], {}, _tag_dict(key.get("Tags")), key.get("KeyPairId")
                )
                for key in self.ec2.describe_key_pairs(Filters=tagged)["KeyPairs"]
            ),
        ]

    def _instances(self, tagged: list[dict]) -> list[Resource]:
        alive = ["pending", "running", "stopping", "stopped", "shutting-down"]
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[*tagged, {"Name": "instance-state-name", "Values": alive}]
        )
        found = []
        for page in pages:
            for instance in (i for r in page["Reservations"] for i in r["Instances"]):
                tags = _tag_dict(instance.get("Tags"))
                details = {
                    "state": instance["State"]["Name"],
                    "type": instance["InstanceType"],
                    "public_ip": instance.get("PublicIpAddress"),
                }
                name = tags.get("Name", instance["InstanceId"])
                found.append(Resource("instance", name, details, tags, instance["InstanceId"]))
        return found

    def _source_rules(self, tagged: list[dict]) -> list[Resource]:
        """The rules a run added to the database's groups (aws.authorize_source)."""
        pages = self.ec2.get_paginator("describe_security_group_rules").paginate(Filters=tagged)
        return [
            Resource(
                "source-rule",
                f"{rule['GroupId']} tcp/{rule.get('FromPort')}",
                {"group": rule["GroupId"]},
                _tag_dict(rule.get("Tags")),
                rule["SecurityGroupRuleId"],
            )
            for page in pages
            for rule in page["SecurityGroupRules"]
        ]

    def expired_runs(self, now: datetime | None = None) -> dict[str, list[Resource]]:
        """Run ids whose `expires-at` has passed (or is unreadable), with their resources."""
        now = now or datetime.now(UTC)
        runs: dict[str, list[Resource]] = {}
        for resource in self.ls():
            runs.setdefault(resource.tags.get(TAG_RUN, "?"), []).append(resource)
        expired = {}
        for run_id, resources in runs.items():
            stamps = [r.tags.get(TAG_EXPIRES) for r in resources]
            try:
                latest = max(
                    datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                    for s in stamps
                    if s
                )
            except ValueError:  # no or unreadable stamp: treat as expired, it is ours
                latest = now
            if latest <= now:
                expired[run_id] = resources
        return expired

    def gc(self, *, dry_run: bool, now: datetime | None = None) -> dict[str, list[Resource]]:
        expired = self.expired_runs(now)
        if not dry_run:
            for run_id in expired:
                self.down(run_id)
        return expired
