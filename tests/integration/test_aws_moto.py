"""The AWS target's provisioning against moto in server mode on loopback.

No AWS account is reachable from here, so the AWS API is moto's (a mock, by necessity); the
code under test is the real boto3 path, configured only through boto3's standard
environment (AWS_ENDPOINT_URL, AWS_REGION, credentials), exactly as against AWS.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from cdclab.paths import results_dir
from tests.conftest import run_invoke

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
pytestmark = pytest.mark.skipif(not MOTO_SERVER.exists(), reason="moto[server] not installed")
CIDR = "203.0.113.7/32"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    port = _free_port()
    server = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def env(moto_url, tmp_path):
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"))
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "CDCLAB_AWS_STATE_DIR": str(tmp_path / "aws-state"),
        "CDCLAB_CHECKIP_URL": f"http://127.0.0.1:{_free_port()}/",  # nobody: fail closed
    }


@pytest.fixture
def ec2(env):
    return boto3.client(
        "ec2",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _inventory_of(ec2) -> dict[str, list]:
    tagged = [{"Name": "tag-key", "Values": ["cdclab:run-id"]}]
    live = [
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    ]
    instances = [
        i for r in ec2.describe_instances(Filters=live)["Reservations"] for i in r["Instances"]
    ]
    groups = [
        g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"
    ]
    return {
        "instances": instances,
        "groups": groups,
        "keys": ec2.describe_key_pairs()["KeyPairs"],
        "tagged_groups": ec2.describe_security_groups(Filters=tagged)["SecurityGroups"],
    }


def _tags(resource) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_up_creates_one_tagged_host_reachable_only_on_ssh_and_down_removes_it(env, ec2):
    up = run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "r1", "--json", env=env)
    assert up.rc == 0, up.stderr
    made = _inventory_of(ec2)
    assert len(made["instances"]) == len(made["groups"]) == len(made["keys"]) == 1
    instance, group, key = made["instances"][0], made["groups"][0], made["keys"][0]
    for resource in (instance, group, key):
        tags = _tags(resource)
        assert tags["cdclab:run-id"] == "r1" and tags["Name"] == "cdclab-r1"
        assert tags["cdclab:expires-at"].endswith("Z")
    # Exactly one ingress rule: TCP 22 from the allowed CIDR. Nothing else, ever.
    rules = group["IpPermissions"]
    assert len(rules) == 1
    assert (rules[0]["IpProtocol"], rules[0]["FromPort"], rules[0]["ToPort"]) == ("tcp", 22, 22)
    assert [r["CidrIp"] for r in rules[0]["IpRanges"]] == [CIDR]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    volumes = ec2.describe_volumes()["Volumes"]
    assert volumes and all(v["Encrypted"] for v in volumes)
    # The private key lives in the run's state, 0600, and never on stdout.
    host = up.json()["host"]
    key_file = Path(host["key_file"])
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() not in up.stdout
    inventory = Path(up.json()["inventory"]).read_text()
    assert host["public_ip"] in inventory and "connect" in inventory

    listed = run_invoke("aws.ls", "--json", env=env)
    assert {r["kind"] for r in listed.json()} == {"instance", "security-group", "key-pair"}

    down = run_invoke("aws.down", "r1", env=env)
    assert down.rc == 0, down.stderr
    left = _inventory_of(ec2)
    assert not left["instances"] and not left["groups"] and not left["keys"]
    assert not key_file.exists()
    assert run_invoke("aws.down", "r1", env=env).rc == 0  # idempotent
    assert run_invoke("aws.ls", "--json", env=env).json() == []


def test_an_instance_profile_of_yours_is_attached_to_the_instance(env, ec2):
    """MSK IAM: the instance's role signs its Kafka logins; cdclab attaches the profile the
    user made (it creates no IAM role of its own)."""
    iam = boto3.client(
        "iam",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    profile = iam.create_instance_profile(InstanceProfileName="cdclab-msk")["InstanceProfile"]
    up = run_invoke(
        "aws.up",
        "--allow-cidr",
        CIDR,
        "--run-id",
        "r2",
        "--instance-profile",
        "cdclab-msk",
        env=env,
    )
    assert up.rc == 0, up.stderr
    (instance,) = _inventory_of(ec2)["instances"]
    assert instance["IamInstanceProfile"]["Arn"] == profile["Arn"]
    assert run_invoke("aws.down", "r2", env=env).rc == 0


def test_dry_run_prints_every_resource_and_creates_nothing(env, ec2):
    before = _inventory_of(ec2)
    ran = run_invoke("aws.up", "--allow-cidr", CIDR, "--dry-run", env=env)
    assert ran.rc == 0, ran.stderr
    for word in ("key-pair", "security-group", "ingress-rule", "instance", CIDR, "imdsv2"):
        assert word in ran.stdout, word
    assert "cdclab:expires-at" in ran.stdout
    assert _inventory_of(ec2) == before
    assert not Path(env["CDCLAB_AWS_STATE_DIR"]).exists()


def test_gc_removes_expired_leftovers_and_keeps_live_runs(env, ec2):
    assert run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "live", env=env).rc == 0
    # A crashed run's leftovers: tagged, already expired.
    stale = ec2.create_security_group(
        GroupName="cdclab-stale",
        Description="left by a crashed run",
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "cdclab:run-id", "Value": "stale"},
                    {"Key": "cdclab:expires-at", "Value": "2020-01-01T00:00:00Z"},
                ],
            }
        ],
    )
    dry = run_invoke("aws.gc", "--dry-run", "--json", env=env)
    assert list(dry.json()) == ["stale"]
    assert len(_inventory_of(ec2)["tagged_groups"]) == 2
    gc = run_invoke("aws.gc", env=env)
    assert gc.rc == 0, gc.stderr
    groups = {g["GroupId"] for g in _inventory_of(ec2)["tagged_groups"]}
    assert stale["GroupId"] not in groups and len(groups) == 1
    assert len(_inventory_of(ec2)["instances"]) == 1  # the live run is untouched
    run_invoke("aws.down", "live", env=env)


@pytest.mark.parametrize(
    ("args", "change", "named"),
    [
        ((), {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "credentials"),
        (("--region", "mars-north-1"), {}, "aws.region"),
        (("--instance-type", "p5.48xlarge"), {}, "instance_type"),
        (("--allow-cidr", "0.0.0.0/0"), {}, "allow_cidr"),
        ((), {}, "allow_cidr"),  # no --allow-cidr and this machine's address unknown
    ],
)
def test_bad_settings_fail_clearly_before_anything_is_created(env, ec2, args, change, named):
    before = _inventory_of(ec2)
    ran = run_invoke("aws.up", *args, env={**env, **change})
    assert ran.rc != 0
    assert named in ran.stderr and "Traceback" not in ran.stderr
    assert _inventory_of(ec2) == before
    assert not Path(env["CDCLAB_AWS_STATE_DIR"]).exists()


def test_ssh_is_opened_to_this_machines_address_only(env, ec2):
    class CheckIp(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # what checkip.amazonaws.com answers: the address and a newline
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"198.51.100.23\n")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), CheckIp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        checkip = f"http://127.0.0.1:{server.server_port}/"
        ran = run_invoke("aws.up", "--run-id", "me", env={**env, "CDCLAB_CHECKIP_URL": checkip})
        assert ran.rc == 0, ran.stderr
    finally:
        server.shutdown()
    group = _inventory_of(ec2)["groups"][0]
    assert [r["CidrIp"] for r in group["IpPermissions"][0]["IpRanges"]] == ["198.51.100.23/32"]
    run_invoke("aws.down", "me", env=env)


def test_the_private_key_lives_only_in_its_0600_file(env, ec2):
    """No output, state file or results file holds the key: only id_ed25519 does.

    (A check of argv after the command ended could not fail; the key is written by the
    process itself from the API answer, so output and files are where it could leak.)"""
    up = run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "k", "--json", env=env)
    assert up.rc == 0, up.stderr
    key_file = Path(up.json()["host"]["key_file"])
    secret = max(key_file.read_text().splitlines(), key=len)  # a line of key material
    listed = run_invoke("aws.ls", "--json", env=env)
    for ran in (up, listed):
        assert secret not in ran.stdout + ran.stderr
    others = [p for p in key_file.parent.rglob("*") if p.is_file() and p != key_file]
    assert {p.name for p in others} >= {"host.json", "inventory.yml"}
    assert not any(secret in p.read_text(errors="replace") for p in others)
    results = results_dir()
    if results.exists():
        assert not any(
            secret in p.read_text(errors="replace")
            for p in results.rglob("*")
            if p.is_file() and p.stat().st_size < 10_000_000
        )
    run_invoke("aws.down", "k", env=env)


AWS_EXPERIMENT = (
    "--set",
    "external.db_host=cdclab.cluster-abc.ap-northeast-2.rds.amazonaws.com",
    "--set",
    "external.db_password_from=secretsmanager:cdclab/db#password",
    "--set",
    "external.kafka_bootstrap=b-1.msk.example:9092",
    "--set",
    "external.db_ca_file=/nonexistent/global-bundle.pem",
    "--set",
    f"aws.allow_cidr={CIDR}",
)


def _on_aws(env: dict, *args: str, sets: tuple[str, ...] = ()):
    """`invoke experiment tls-compare --target aws ARGS` with the user's endpoints and sets."""
    assignments = [arg for item in sets for arg in ("--set", item)]
    return run_invoke(
        "experiment",
        "tls-compare",
        "--target",
        "aws",
        *args,
        *AWS_EXPERIMENT,
        *assignments,
        env=env,
    )


def test_experiment_dry_run_on_aws_prints_the_plan_and_creates_nothing(env, ec2):
    before = _inventory_of(ec2)
    ran = _on_aws(env, "--dry-run")
    assert ran.rc == 0, ran.stderr
    for expected in (
        "create key-pair",
        "create security-group",
        f"source={CIDR}",
        "imdsv2=required",
        "quay.io/debezium/connect:2.7",
        "REST 127.0.0.1:8083",
        "-Djdk.tls.client.protocols=TLSv1.2",
        "secretsmanager:cdclab/db#password",
        "b-1.msk.example:9092",
    ):
        assert expected in ran.stdout, expected
    assert _inventory_of(ec2) == before


def test_aws_experiments_need_the_users_endpoints(env):
    ran = run_invoke("experiment", "tls-compare", "--target", "aws", "--dry-run", env=env)
    assert ran.rc == 2
    assert "external.db_host" in ran.stderr and "external.kafka_bootstrap" in ran.stderr
    ran = _on_aws(env, "--dry-run", sets=("external.db_password_from=hunter2",))
    assert ran.rc == 2 and "secret reference" in ran.stderr and "hunter2" not in ran.stdout


def test_db_passwords_resolve_from_env_secrets_manager_and_ssm(env):
    from cdclab.aws.secrets import resolve_secret

    session = boto3.session.Session(
        region_name=env["AWS_REGION"], aws_access_key_id="testing", aws_secret_access_key="t"
    )
    os.environ["AWS_ENDPOINT_URL"] = env["AWS_ENDPOINT_URL"]
    try:
        session.client("secretsmanager").create_secret(
            Name="cdclab/db", SecretString=json.dumps({"username": "dbz", "password": "s3cret-1"})
        )
        session.client("ssm").put_parameter(
            Name="/cdclab/db-password", Value="s3cret-2", Type="SecureString"
        )
        assert resolve_secret("secretsmanager:cdclab/db#password", session) == "s3cret-1"
        assert resolve_secret("ssm:/cdclab/db-password", session) == "s3cret-2"
        os.environ["CDCLAB_TEST_DB_PASSWORD"] = "s3cret-3"
        assert resolve_secret("env:CDCLAB_TEST_DB_PASSWORD") == "s3cret-3"
        with pytest.raises(Exception, match="cannot read"):
            resolve_secret("ssm:/cdclab/nope", session)
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.pop("CDCLAB_TEST_DB_PASSWORD", None)


def test_an_aws_run_with_a_bad_setting_stops_before_creating_anything(env, ec2, tmp_path):
    # Not a dry run: the checks that need no resource run first, so a missing CA bundle,
    # an unreadable secret or a kept run that does not exist leave no instance and no
    # results directory behind.
    results = tmp_path / "results"
    env = {**env, "CDCLAB_RESULTS_DIR": str(results)}
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    before = _inventory_of(ec2)
    for extra, named in (
        ([], "external.db_ca_file"),
        ([f"external.db_ca_file={bundle}"], "secretsmanager:cdclab/db#password"),
        (["aws.run_id=0badcafe"], "aws.up"),
    ):
        ran = _on_aws(env, sets=tuple(extra))
        assert ran.rc == 2 and named in ran.stderr, ran.stderr
    assert _inventory_of(ec2) == before
    assert not results.exists() or not any(results.iterdir())


@pytest.mark.parametrize("keep", [False, True])
def test_a_run_that_fails_after_provisioning_removes_its_instance_unless_kept(
    env, ec2, monkeypatch, tmp_path, keep
):
    from cdclab.core.spec import load_spec
    from cdclab.errors import CdclabError
    from cdclab.targets.aws import AwsTarget

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CDCLAB_TEST_DB_PASSWORD", "s3cret")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    spec = load_spec(
        "tls-compare",
        assignments=[
            *AWS_EXPERIMENT[1::2],
            "external.db_password_from=env:CDCLAB_TEST_DB_PASSWORD",
            f"external.db_ca_file={bundle}",
            f"aws.keep={str(keep).lower()}",
        ],
        target="aws",
    )
    target = AwsTarget(spec, "1234abcd", artifact_dir=tmp_path / "ansible")
    # No network behind moto's instance: the deploy fails as it would against an instance
    # that never answers SSH (the database and Kafka are checked from the instance, later).

    def unreachable():
        raise CdclabError("cannot reach ec2-user@… over SSH")

    monkeypatch.setattr(target, "deploy", unreachable)
    target.preflight()
    with pytest.raises(CdclabError, match="SSH"):
        target.prepare()
    assert len(_inventory_of(ec2)["instances"]) == 1
    assert target.close() == []
    left = _inventory_of(ec2)
    if keep:
        assert len(left["instances"]) == len(left["groups"]) == len(left["keys"]) == 1
        target.settings = target.settings.model_copy(update={"keep": False})
        assert target.close() == []
        left = _inventory_of(ec2)
    assert not left["instances"] and not left["groups"] and not left["keys"]


def test_the_watchdog_publishes_canary_metrics_and_one_idempotent_alarm(env):
    from datetime import UTC, datetime, timedelta

    from cdclab.watch.actions import CloudWatch
    from cdclab.watch.config import CloudWatchAction, WatchedConnector

    client = boto3.client(
        "cloudwatch",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    events: list[tuple[str, dict]] = []
    connector = WatchedConnector(
        name="orders", connect_url="http://c:8083", connector="orders-cdc", topic="t"
    )
    watch = CloudWatch(CloudWatchAction(), client, lambda kind, **f: events.append((kind, f)))
    watch.ensure_alarms([connector], interval_s=5)
    watch.ensure_alarms([connector], interval_s=5)
    topic = "arn:aws:sns:ap-northeast-2:123456789012:oncall"
    watch.settings = CloudWatchAction(alarm_actions=[topic])
    watch.ensure_alarms([connector], interval_s=5)
    assert [f["change"] for _, f in events] == ["created", "unchanged", "updated"]
    (alarm,) = client.describe_alarms(AlarmNamePrefix="cdclab-")["MetricAlarms"]
    assert alarm["AlarmName"] == "cdclab-silent-failure-orders-cdc"
    assert (alarm["Namespace"], alarm["MetricName"]) == ("cdclab", "SilentFailure")
    assert alarm["Dimensions"] == [{"Name": "Connector", "Value": "orders-cdc"}]
    assert alarm["AlarmActions"] == [topic]

    now = datetime.now(UTC)
    written = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    watch.on_check(
        {"written_at": written, "outcome": "delivered", "latency_ms": 412.0}, connector, False
    )
    watch.on_check(
        {"written_at": written, "outcome": "missing", "latency_ms": None}, connector, True
    )
    listed = client.list_metrics(Namespace="cdclab")["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "CanaryLatencyMs",
        "CanaryMissing",
        "SilentFailure",
    }
    assert all(m["Dimensions"] == [{"Name": "Connector", "Value": "orders-cdc"}] for m in listed)

    def peak(metric: str) -> float:
        points = client.get_metric_statistics(
            Namespace="cdclab",
            MetricName=metric,
            Dimensions=[{"Name": "Connector", "Value": "orders-cdc"}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return max(p["Maximum"] for p in points)

    assert peak("SilentFailure") == 1.0 and peak("CanaryMissing") == 1.0
    assert peak("CanaryLatencyMs") == 412.0
    assert [k for k, _ in events].count("action_error") == 0


def test_the_instance_ends_itself_at_its_expiry(env, ec2):
    # moto runs no instance, so nothing boots and nothing shuts down here: what is checked is
    # what EC2 is asked for (the boot script and the shutdown behaviour), which is the whole
    # of the mechanism on AWS.
    up = run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "self", "--max-hours", "2", env=env)
    assert up.rc == 0, up.stderr
    instance = _inventory_of(ec2)["instances"][0]["InstanceId"]
    data = ec2.describe_instance_attribute(InstanceId=instance, Attribute="userData")
    script = base64.b64decode(data["UserData"]["Value"]).decode()
    minutes = int(re.search(r"shutdown -h \+(\d+)", script).group(1))
    assert 119 <= minutes <= 120
    behaviour = ec2.describe_instance_attribute(
        InstanceId=instance, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert run_invoke("aws.down", "self", env=env).rc == 0


def test_ctrl_c_while_the_instance_starts_leaves_nothing(env, ec2, monkeypatch):
    from cdclab.aws.lifecycle import provisioner
    from cdclab.aws.settings import AwsSettings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made = provisioner(AwsSettings())

    class Interrupted:
        def wait(self, **_):
            raise KeyboardInterrupt  # Ctrl-C while boto3's waiter polls

    waiter = made.ec2.get_waiter
    monkeypatch.setattr(
        made.ec2,
        "get_waiter",
        lambda name: Interrupted() if name == "instance_running" else waiter(name),
    )
    with pytest.raises(KeyboardInterrupt):
        made.up("ctrlc", CIDR)
    live = [i for i in _inventory_of(ec2)["instances"] if i["State"]["Name"] != "terminated"]
    left = _inventory_of(ec2)
    assert not live and not left["groups"] and not left["keys"]
    assert not (Path(env["CDCLAB_AWS_STATE_DIR"]) / "ctrlc").exists()


def test_down_in_the_wrong_region_removes_nothing_and_keeps_the_key(env, ec2):
    assert run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "where", env=env).rc == 0
    key_file = Path(env["CDCLAB_AWS_STATE_DIR"]) / "where" / "id_ed25519"
    wrong = run_invoke("aws.down", "where", "--region", "us-east-1", env=env)
    assert wrong.rc != 0 and "ap-northeast-2" in wrong.stderr and "Traceback" not in wrong.stderr
    assert key_file.exists() and len(_inventory_of(ec2)["instances"]) == 1
    # Without --region, the run's own region is used whatever AWS_REGION says now.
    down = run_invoke("aws.down", "where", env={**env, "AWS_REGION": "us-east-1"})
    assert down.rc == 0, down.stderr
    left = _inventory_of(ec2)
    assert not left["instances"] and not left["groups"] and not left["keys"]
    assert not key_file.exists()


def test_a_run_longer_than_the_instances_life_is_refused_before_anything_exists(env, ec2, tmp_path):
    results = tmp_path / "results"
    before = _inventory_of(ec2)
    ran = _on_aws({**env, "CDCLAB_RESULTS_DIR": str(results)}, "--hours", "4")
    assert ran.rc == 2, ran.stderr
    assert "aws.max_hours" in ran.stderr and "aws.max_hours=5" in ran.stderr
    assert _inventory_of(ec2) == before
    assert not results.exists() or not any(results.iterdir())


def test_gc_all_regions_finds_a_run_left_in_another_region(env, ec2):
    assert run_invoke("aws.up", "--allow-cidr", CIDR, "--run-id", "live", env=env).rc == 0
    elsewhere = boto3.client(
        "ec2",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    expired = [
        {"Key": "cdclab:run-id", "Value": "gone"},
        {"Key": "cdclab:expires-at", "Value": "2020-01-01T00:00:00Z"},
    ]
    elsewhere.create_key_pair(
        KeyName="cdclab-gone", TagSpecifications=[{"ResourceType": "key-pair", "Tags": expired}]
    )
    assert run_invoke("aws.gc", "--json", env=env).json() == {}  # not in this region
    found = run_invoke("aws.gc", "--all-regions", "--json", env=env)
    assert found.rc == 0, found.stderr
    assert list(found.json()) == ["gone@eu-west-1"]
    assert elsewhere.describe_key_pairs()["KeyPairs"] == []
    assert len(_inventory_of(ec2)["instances"]) == 1  # the live run is untouched
    run_invoke("aws.down", "live", env=env)


def test_vpc_id_alone_puts_the_instance_in_a_subnet_of_that_vpc(env, ec2, monkeypatch):
    from cdclab.aws.lifecycle import provisioner
    from cdclab.aws.settings import AwsSettings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    made = provisioner(AwsSettings(vpc_id=vpc))
    host = made.up("invpc", CIDR)
    try:
        instance = _inventory_of(ec2)["instances"][0]
        group = ec2.describe_security_groups(GroupIds=[host.security_group_id])
        assert (instance["VpcId"], instance["SubnetId"]) == (vpc, subnet)
        assert group["SecurityGroups"][0]["VpcId"] == vpc
    finally:
        made.down("invpc")
    # The same from the command line (aws.up --vpc-id), planned.
    args = ("--vpc-id", vpc, "--allow-cidr", CIDR, "--dry-run", "--json")
    planned = run_invoke("aws.up", *args, env=env)
    assert planned.rc == 0, planned.stderr
    (instance,) = [r for r in planned.json()["planned"] if r["kind"] == "instance"]
    assert instance["details"]["subnet"] == subnet


def test_what_aws_refuses_is_named_with_its_fix_not_a_traceback(env, ec2):
    ran = _on_aws(env, "--dry-run", sets=("aws.subnet_id=subnet-0123456789abcdef0",))
    assert ran.rc == 2, ran.stdout + ran.stderr
    assert "aws.subnet_id" in ran.stderr and "InvalidSubnetID.NotFound" in ran.stderr
    assert "Traceback" not in ran.stderr


def _aurora(env) -> tuple[str, str, str]:
    """An Aurora cluster 'orders' in a VPC of its own: (vpc, its subnet, its group)."""
    session = boto3.session.Session(
        region_name=env["AWS_REGION"], aws_access_key_id="testing", aws_secret_access_key="x"
    )
    ec2 = session.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"])
    rds = session.client("rds", endpoint_url=env["AWS_ENDPOINT_URL"])
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"{zone}")[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((1, "ap-northeast-2a"), (2, "ap-northeast-2b"))
    ]
    group = ec2.create_security_group(GroupName="aurora", Description="db", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(
        DBSubnetGroupName="orders-subnets", DBSubnetGroupDescription="db", SubnetIds=subnets
    )
    rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-mysql",
        MasterUsername="admin",
        MasterUserPassword="not-a-real-one",
        DBSubnetGroupName="orders-subnets",
        VpcSecurityGroupIds=[group],
        Port=3307,
    )
    return vpc, min(subnets), group


def _ingress_from(ec2, group: str) -> list[dict]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]


def test_an_aurora_cluster_by_name_places_the_instance_and_admits_it_for_the_run(
    env, ec2, monkeypatch
):
    from cdclab.aws.aurora import SourceAccess, describe_cluster
    from cdclab.aws.lifecycle import provisioner
    from cdclab.aws.settings import AwsSettings, aws_session

    vpc, subnet, database_group = _aurora(env)
    sets = [
        "external.aurora_cluster=orders",
        "aws.authorize_source=true",
        "external.db_password_from=secretsmanager:cdclab/db#password",
        "external.kafka_bootstrap=b-1.msk.example:9092",
        "external.db_ca_file=/nonexistent/global-bundle.pem",
        f"aws.allow_cidr={CIDR}",
    ]
    args = [arg for item in sets for arg in ("--set", item)]
    plan = run_invoke("experiment", "tls-compare", "--target", "aws", "--dry-run", *args, env=env)
    assert plan.rc == 0, plan.stderr
    assert "orders.cluster-" in plan.stdout and ":3307 as debezium" in plan.stdout
    assert f"create source-rule {database_group} tcp/3307" in plan.stdout
    assert f"subnet={subnet}" in plan.stdout

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cluster = describe_cluster(aws_session(AwsSettings()), "orders")
    assert (cluster.vpc_id, cluster.security_group_ids, cluster.port) == (
        vpc,
        (database_group,),
        3307,
    )
    made = provisioner(AwsSettings(vpc_id=vpc))
    host = made.up("aur", CIDR, SourceAccess(cluster.security_group_ids, cluster.port))
    admitted = _ingress_from(ec2, database_group)
    assert [(r["FromPort"], r["ReferencedGroupInfo"]["GroupId"]) for r in admitted] == [
        (3307, host.security_group_id)
    ]
    assert {"cdclab:run-id": "aur"}.items() <= _tags(admitted[0]).items()
    made.down("aur")
    assert _ingress_from(ec2, database_group) == []
    assert [g["GroupId"] for g in _inventory_of(ec2)["groups"]] == [database_group]
