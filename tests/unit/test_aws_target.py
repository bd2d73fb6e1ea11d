"""The AWS target's pieces that need neither AWS nor an instance: connector configs, the
deploy's variables, fault planning, SSH as a sudo user, thread dumps out of container logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdclab.aws.containers import container_name, extract_dump
from cdclab.aws.inventory import read_inventory, write_inventory
from cdclab.core.spec import load_spec
from cdclab.errors import InvalidInputError
from cdclab.ssh import SSHHost
from cdclab.targets.aws import AwsTarget
from cdclab.targets.instance import InstanceTarget

EXTERNAL = [
    "external.db_host=db.cluster-x.ap-northeast-2.rds.amazonaws.com",
    "external.db_password_from=env:CDCLAB_DB_PASSWORD",
    "external.db_ca_file=/etc/ssl/rds-global-bundle.pem",
    "external.kafka_bootstrap=b-1.msk.example:9092",
]


def _target(*assignments: str) -> AwsTarget:
    spec = load_spec("tls-compare", assignments=[*EXTERNAL, *assignments], target="aws")
    return AwsTarget(spec, "0badcafe", artifact_dir=None)


def _on_instance(*assignments: str) -> InstanceTarget:
    """The same run as the instance runs it (the connectors, arms and faults are its)."""
    spec = load_spec("tls-compare", assignments=[*EXTERNAL, *assignments], target="aws")
    return InstanceTarget(spec, "0badcafe", artifact_dir=None)


def test_the_connector_class_follows_the_sources_flavour_mysql_by_default():
    # Aurora MySQL is read by Debezium's MySQL connector; the MariaDB one is for MariaDB.
    (mysql,) = {e["config"]["connector.class"] for e in _on_instance().connector_entries()}
    assert mysql == "io.debezium.connector.mysql.MySqlConnector"
    entries = _on_instance("external.db_flavour=mariadb").connector_entries()
    assert {e["config"]["connector.class"] for e in entries} == {
        "io.debezium.connector.mariadb.MariaDbConnector"
    }
    with pytest.raises(InvalidInputError, match="db_flavour"):
        _target("external.db_flavour=postgres")


def test_connectors_name_the_users_database_and_the_containers_secret_file():
    target = _on_instance()
    entries = {e["name"]: e for e in target.connector_entries()}
    assert set(entries) == {"cdclab-run-0badcafe-tls13", "cdclab-run-0badcafe-tls12"}
    tls13 = entries["cdclab-run-0badcafe-tls13"]
    assert tls13["rest_url"] == "http://127.0.0.1:8083"  # REST on the instance's loopback
    config = tls13["config"]
    assert config["database.hostname"] == "db.cluster-x.ap-northeast-2.rds.amazonaws.com"
    assert config["database.password"] == "${file:/cdclab/secrets.properties:database.password}"
    assert config["topic.prefix"] == "run_0badcafe_tls13"
    assert config["schema.history.internal.kafka.bootstrap.servers"] == "b-1.msk.example:9092"
    server_ids = {e["config"]["database.server.id"] for e in entries.values()}
    assert len(server_ids) == 2
    assert [a.topic for a in target.arms] == [
        "run_0badcafe_tls13.cdclab.canary",
        "run_0badcafe_tls12.cdclab.canary",
    ]


SCRAM = [
    "external.kafka_security=SASL_SSL",
    "external.kafka_sasl_mechanism=SCRAM-SHA-512",
    "external.kafka_user=cdclab",
    "external.kafka_password_from=env:CDCLAB_KAFKA_PASSWORD",
    "external.kafka_ca_file=/etc/ssl/msk-ca.pem",
]


def test_the_database_is_verified_by_name_against_the_bundle_inside_the_container():
    config = _on_instance().connector_entries()[0]["config"]
    assert config["database.ssl.mode"] == "verify_identity"  # Aurora's endpoint is a name
    assert config["database.ssl.truststore"] == "/cdclab/tls/truststore.p12"
    assert "driver.serverSslCert" not in config  # MySQL Connector/J reads the truststore
    extravars = _target().deploy_extravars(Path("/pw"))
    assert extravars["cdclab_db_ca_file"] == "/etc/ssl/rds-global-bundle.pem"


def test_every_kafka_client_speaks_scram_with_a_reference_and_this_machine_the_secret(
    monkeypatch,
):
    monkeypatch.setenv("CDCLAB_KAFKA_PASSWORD", "kafka-s3cret-never-in-vars")
    target = _target(*SCRAM)
    extravars = target.deploy_extravars(Path("/pw"), Path("/kafka-pw"))
    workers = extravars["cdclab_kafka_properties"]
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert workers[prefix + "security.protocol"] == "SASL_SSL"
        assert workers[prefix + "ssl.truststore.location"] == "/cdclab/tls/kafka-ca.pem"
        assert (
            "${file:/cdclab/secrets.properties:kafka.password}"
            in (workers[prefix + "sasl.jaas.config"])
        )
    assert (extravars["cdclab_kafka_ca_file"], extravars["cdclab_kafka_password_file"]) == (
        "/etc/ssl/msk-ca.pem",
        "/kafka-pw",
    )
    config = _on_instance(*SCRAM).connector_entries()[0]["config"]
    assert config["schema.history.internal.consumer.sasl.mechanism"] == "SCRAM-SHA-512"
    client = target.source.kafka_client()
    assert client["sasl.password"] == "kafka-s3cret-never-in-vars"
    assert client["ssl.ca.location"] == "/etc/ssl/msk-ca.pem"
    assert "kafka-s3cret-never-in-vars" not in repr(extravars) + repr(config)
    assert "CDCLAB_KAFKA_PASSWORD" in target.secret_env_names  # kept from playbooks
    # for `invoke watch --run-id`: the reference, not the secret
    record = target.source.kafka_record()
    assert record["password_from"] == "env:CDCLAB_KAFKA_PASSWORD"
    assert record["bootstrap"] == "b-1.msk.example:9092"
    assert "kafka-s3cret-never-in-vars" not in repr(record)


def test_the_deploy_is_given_a_password_file_never_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_DB_PASSWORD", "s3cret-never-in-vars")
    monkeypatch.setenv("CDCLAB_CACHE_DIR", str(tmp_path / "cache"))  # no image built here
    extravars = _target().deploy_extravars(tmp_path / "pw")
    assert "s3cret-never-in-vars" not in repr(extravars)
    assert extravars["cdclab_db_password_file"] == str(tmp_path / "pw")
    assert [(a["name"], a["rest_port"], a["metrics_port"]) for a in extravars["cdclab_arms"]] == [
        ("tls13", 8083, 8783),
        ("tls12", 8084, 8784),
    ]
    assert "-Djdk.tls.client.protocols=TLSv1.2" in extravars["cdclab_arms"][1]["jvm_options"]
    # With no image built here: the original investigation's, pinned, pulled by the
    # instance, unless docker.image names another.
    assert extravars["cdclab_image"] == "quay.io/debezium/connect:2.7.3.Final"
    mine = _target("docker.image=registry.example/connect:2.7-cdclab")
    assert mine.deploy_extravars(tmp_path / "pw")["cdclab_image"] == (
        "registry.example/connect:2.7-cdclab"
    )


def test_faults_target_the_resolved_database_with_a_systemd_deadman():
    target = _on_instance("faults=[{kind: drop, at: 1m, for: 30s}]")
    target.db_address = "10.0.3.7"  # as the instance resolved the endpoint
    (action,) = target.fault_actions("0badcafe")
    assert action.deadman == "systemd"
    assert "iptables -w -I OUTPUT -d 10.0.3.7" in action.apply_script()
    assert "iptables -w -I INPUT -s 10.0.3.7" in action.apply_script()


@pytest.mark.parametrize(
    ("assignment", "named"),
    [
        ("faults=[{kind: kill, at: 1m, for: 30s, process: broker}]", "faults[0]"),
        ("faults=[{kind: delay, at: 1m, for: 30s, delay: 100ms}]", "faults[0]"),
        ("hosts.db.sysctls={net.ipv4.tcp_rmem: 4096 131072 1048576}", "hosts"),
    ],
)
def test_what_the_aws_target_cannot_do_is_refused_by_name(assignment, named):
    with pytest.raises(InvalidInputError, match=named.replace("[", r"\[")):
        load_spec("tls-compare", assignments=[*EXTERNAL, assignment], target="aws")


def test_an_instance_login_user_runs_commands_through_sudo(tmp_path):
    keys = {"key_file": tmp_path / "k", "known_hosts": tmp_path / "kh"}
    ec2 = SSHHost("203.0.113.9", user="ec2-user", become=True, **keys)
    assert ec2.command_line(["iptables", "-w", "-S"]) == "sudo -n sh -c 'iptables -w -S'"
    assert ec2.command_line("cat > /x") == "sudo -n sh -c 'cat > /x'"
    lab = SSHHost("198.18.213.20", user="root", become=True, **keys)
    assert lab.command_line(["iptables", "-w", "-S"]) == "iptables -w -S"


def test_the_run_inventory_tells_ansible_and_paramiko_the_same_host(tmp_path):
    path = write_inventory(
        tmp_path, address="203.0.113.9", user="ec2-user", key_file=str(tmp_path / "id")
    )
    host = read_inventory(path)
    assert (host.address, host.user, host.key_file) == (
        "203.0.113.9",
        "ec2-user",
        str(tmp_path / "id"),
    )
    assert host.known_hosts == str(tmp_path / "known_hosts")
    text = Path(path).read_text()
    assert "ansible_become: true" in text and "StrictHostKeyChecking=accept-new" in text


def test_a_dump_is_cut_from_a_container_log_after_sigquit():
    log = (
        "[2026-11-26 01:00:00,000] INFO Kafka Connect started\n"
        "2026-11-26 01:00:05\nFull thread dump OpenJDK 64-Bit Server VM (17.0.13+11 mixed mode):\n"
        '"blc-db:3306" #52 daemon prio=5\n   java.lang.Thread.State: RUNNABLE\n'
    )
    dump = extract_dump(log)
    assert dump is not None and dump.startswith("Full thread dump OpenJDK")
    assert '"blc-db:3306"' in dump and "Kafka Connect started" not in dump
    assert extract_dump("no dump here") is None
    assert container_name("tls13") == "cdclab-aws-connect-tls13"


def test_the_image_built_here_is_copied_to_the_instance(tmp_path, monkeypatch):
    """Named or not (a private subnet without NAT pulls nothing), as the docker target's."""
    monkeypatch.setenv("CDCLAB_CACHE_DIR", str(tmp_path))
    from cdclab.images.connect import built_image, image_dir

    with pytest.raises(InvalidInputError, match=r"invoke docker\.image"):
        _target(f"docker.image={built_image()}")  # named, but not built
    image_dir().mkdir(parents=True)
    (image_dir() / "image.tar").write_bytes(b"tar")
    extravars = _target(f"docker.image={built_image()}").deploy_extravars(tmp_path / "pw")
    assert extravars["cdclab_image"] == built_image()
    assert extravars["cdclab_image_tarball"] == str(image_dir() / "image.tar")
    unnamed = _target().deploy_extravars(tmp_path / "pw")
    assert unnamed["cdclab_image"] == built_image()
    assert unnamed["cdclab_image_tarball"] == str(image_dir() / "image.tar")


# -- a bastion on the way (aws.ssh_jump) -----------------------------------------------------
def test_a_bastion_needs_the_cidr_it_reaches_the_instance_from():
    from pydantic import ValidationError

    from cdclab.core.aws_settings import AwsSettings

    with pytest.raises(ValidationError, match=r"aws\.allow_cidr: with aws\.ssh_jump"):
        AwsSettings(ssh_jump="ec2-user@bastion.example")
    with pytest.raises(ValidationError, match="ssh_jump"):
        AwsSettings(ssh_jump="bastion example; rm -rf /", allow_cidr="10.0.1.23/32")
    AwsSettings(ssh_jump="ec2-user@bastion.example:2222", allow_cidr="10.0.1.23/32")


def test_the_instance_is_reached_at_its_private_address_through_the_bastion(tmp_path):
    import shlex

    import yaml

    from cdclab.aws.inventory import instance_route
    from cdclab.core.aws_settings import AwsSettings
    from cdclab.ssh import JumpHost

    plain = AwsSettings()
    assert instance_route("203.0.113.9", "10.0.1.5", plain) == ("203.0.113.9", None)
    jumping = AwsSettings(
        ssh_jump="ops@bastion.example:2222",
        ssh_jump_key_file=str(tmp_path / "bastion_key"),
        allow_cidr="10.0.1.23/32",
    )
    address, jump = instance_route("203.0.113.9", "10.0.1.5", jumping)
    assert address == "10.0.1.5"
    assert jump == JumpHost("bastion.example", "ops", 2222, tmp_path / "bastion_key")

    path = write_inventory(tmp_path, address=address, user="ec2-user", key_file="k", jump=jump)
    group = yaml.safe_load(path.read_text())["all"]["children"]["connect"]
    args = shlex.split(group["vars"]["ansible_ssh_common_args"])
    (hop,) = [a for a in args if a.startswith("ProxyCommand=")]
    assert shlex.split(hop.removeprefix("ProxyCommand=")) == [
        "ssh",
        "-W",
        "%h:%p",
        "-p",
        "2222",
        "-o",
        "BatchMode=yes",
        "-i",
        str(tmp_path / "bastion_key"),
        "-o",
        "IdentitiesOnly=yes",
        "ops@bastion.example",
    ]
    assert read_inventory(path).jump == jump  # cdclab's own sessions take the same hop
    assert (
        read_inventory(write_inventory(tmp_path, address="x", user="u", key_file="k")).jump is None
    )


def test_a_bastion_without_a_user_is_logged_in_to_as_this_machines_user():
    import getpass

    from cdclab.ssh import JumpHost

    jump = JumpHost.parse("bastion.example")
    assert (jump.user, jump.port, jump.key_file) == (getpass.getuser(), 22, None)
    assert "IdentitiesOnly" not in jump.proxy_command()  # the agent's keys are offered


def _docker_target(*assignments: str):
    from cdclab.targets.docker import DockerTarget

    spec = load_spec("tls-compare", assignments=list(assignments), target="docker")
    return DockerTarget(spec, "0badcafe", artifact_dir=None)


def test_containers_on_the_labs_engine_capture_your_source_as_the_instance_does(monkeypatch):
    """--target docker with external.*: the same connectors, topics and Kafka settings as on
    the EC2 host, and a way out of the lab for the connect host; without external.*, the
    lab's own source and no way out."""
    monkeypatch.setenv("CDCLAB_KAFKA_PASSWORD", "kafka-s3cret-never-in-vars")
    theirs = _docker_target(*EXTERNAL, *SCRAM)
    on_ec2 = _target(*SCRAM)
    files = {"db": "/pw", "kafka": "/kafka-pw"}
    extravars = theirs.deploy_extravars(files)
    assert extravars["cdclab_egress"] is True
    for key in ("cdclab_kafka_bootstrap", "cdclab_kafka_properties", "cdclab_db_ca_file"):
        assert extravars[key] == on_ec2.deploy_extravars(Path("/pw"), Path("/kafka-pw"))[key]
    (entry, _) = theirs.connector_entries()
    assert entry["rest_url"] == "http://127.0.0.1:8183"  # beside the lab's own workers
    assert entry["config"]["database.hostname"] == "db.cluster-x.ap-northeast-2.rds.amazonaws.com"
    assert entry["config"]["connector.class"] == "io.debezium.connector.mysql.MySqlConnector"
    assert [a.topic for a in theirs.arms] == [a.topic for a in _on_instance().arms]
    assert theirs.source.secret_env_names == ["CDCLAB_DB_PASSWORD", "CDCLAB_KAFKA_PASSWORD"]
    assert "kafka-s3cret-never-in-vars" not in repr(extravars) + repr(entry)
    labs = _docker_target()
    lab_vars = labs.deploy_extravars({"db": "/pw"})
    assert lab_vars["cdclab_egress"] is False and lab_vars["cdclab_kafka_properties"] == {}
    assert labs.connector_entries()[0]["config"]["database.hostname"] == "198.18.213.10"


def test_your_source_asks_aws_only_for_what_lives_there(monkeypatch, tmp_path):
    """env: references need no AWS session (a docker run from a laptop without credentials);
    a secret in Secrets Manager makes one, from the spec's aws settings, when it is read."""
    from cdclab.errors import InvalidInputError
    from cdclab.targets.external import ExternalSource

    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("CDCLAB_DB_PASSWORD", "pw")
    local = _docker_target(*EXTERNAL).source
    assert isinstance(local, ExternalSource) and local.deploy_secrets() == {"db": "pw"}
    assert local.session is None
    stored = _docker_target(
        *EXTERNAL, "external.db_password_from=secretsmanager:cdclab/db#password"
    ).source
    with pytest.raises(InvalidInputError, match=r"aws\.region"):
        stored.deploy_secrets()


# -- MSK IAM: the instance's own role signs its Kafka logins ----------------------------------
MSK_IAM = ["external.kafka_security=SASL_SSL", "external.kafka_sasl_mechanism=AWS_MSK_IAM"]


def test_msk_iam_on_aws_needs_an_instance_profile_named_before_anything_exists():
    with pytest.raises(InvalidInputError, match=r"aws\.instance_profile: with MSK IAM"):
        _target(*MSK_IAM)
    assert _target(*MSK_IAM, "aws.instance_profile=cdclab-msk").settings.instance_profile == (
        "cdclab-msk"
    )
    arn = "arn:aws:iam::123456789012:instance-profile/team/cdclab-msk"
    assert _target(*MSK_IAM, f"aws.instance_profile={arn}").settings.instance_profile == arn
    with pytest.raises(InvalidInputError, match="instance_profile"):
        _target(*MSK_IAM, "aws.instance_profile=not a profile; rm -rf /")


def test_the_deploy_records_how_later_tasks_reach_the_run(tmp_path, monkeypatch):
    """What `connect.status --run-id`, `watch --run-id` and `fault.clear --run-id` read:
    the arms' REST ports and the instance's docker command, heal dir and compose project
    (the playbook itself is the sandbox test's)."""
    import json

    import cdclab.targets.aws as aws_target

    monkeypatch.setenv("CDCLAB_AWS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CDCLAB_DB_PASSWORD", "pw")
    played = []
    monkeypatch.setattr(aws_target, "run_playbook", lambda name, **kw: played.append(name))
    monkeypatch.setattr(aws_target, "wheelhouse_tarball", lambda: tmp_path / "wheels.tgz")
    target = _target()
    target.inventory = tmp_path / "inventory.yml"
    (tmp_path / "0badcafe").mkdir(mode=0o700)  # aws.up made it, with the key
    target.deploy()
    assert played == ["aws_deploy.yml"]
    place = json.loads((tmp_path / "0badcafe" / "place.json").read_text())
    assert place["heal_dir"] == "/opt/cdclab/faults"
    assert place["compose_project"] == "cdclab-aws" and place["container_cli"] == "docker"
    arms = json.loads((tmp_path / "0badcafe" / "arms.json").read_text())
    assert arms["tls12"]["rest_port"] == 8084
