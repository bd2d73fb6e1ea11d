"""The AWS target against a lab namespace standing in for the instance.

moto's instances have no network, so the lab's connect namespace plays the EC2 host,
reached through an inventory written by the same code as a provisioned run's. The deploy
playbook runs for real there: a Docker engine (the docker_engine role's daemon mode: the
host is Debian without systemd), the image built here imported, the arms' containers
started by compose against the lab's database and its SASL_SSL listener as the user's, and
cdclab installed from its wheelhouse. A run is handed over to it and runs its clock there
(faults, dumps, logs on the instance), followed and pulled from here; the runbook tasks,
the watchdog and fault.clear reach the containers through the run's recorded place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from cdclab import __version__
from cdclab.ansible import run_playbook
from cdclab.aws.arms import write_arms_file
from cdclab.aws.inventory import write_inventory
from cdclab.aws.provision import AwsHost
from cdclab.aws.wheelhouse import wheelhouse_tarball
from cdclab.connect_rest import ConnectRest
from cdclab.core.journal import parse_iso
from cdclab.core.kafka_security import KafkaSecurity
from cdclab.core.spec import load_spec
from cdclab.images.connect import built_image, built_tarball
from cdclab.lab.access import kafka_ca_file, running_config
from cdclab.lab.docker_engine import remove_engine
from cdclab.lab.extravars import CDC_USER, WRITER_USER
from cdclab.paths import state_dir
from cdclab.secrets import (
    DB_CDC_PASSWORD,
    DB_WRITER_PASSWORD,
    KAFKA_SCRAM_PASSWORD,
    read_secret,
    secret_files,
)
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.aws import AwsTarget
from cdclab.targets.compose import CONTAINER_KAFKA_CA, CONTAINER_SECRETS_FILE
from cdclab.targets.instance import InstanceTarget
from cdclab.targets.places import write_place_file
from cdclab.targets.run_connectors import delete_run_connectors, register_run_connectors
from tests.conftest import make_ca, run_invoke
from tests.integration.test_experiment import lab_env

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]

RUN_ID = "5a5a5a5a"
STANDIN_SECRETS = {
    "CDCLAB_STANDIN_DB_PW": DB_CDC_PASSWORD,
    "CDCLAB_STANDIN_WRITER_PW": DB_WRITER_PASSWORD,
    "CDCLAB_STANDIN_KAFKA_PW": KAFKA_SCRAM_PASSWORD,
}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    env = lab_env(tmp_path_factory.mktemp("standin-results"))
    ran = run_invoke("lab.up", env=env, timeout=900)
    assert ran.rc == 0, ran.stdout + ran.stderr
    config = running_config()
    base = tmp_path_factory.mktemp("standin")
    ssh_dir = state_dir() / "ssh"
    # Where a provisioned run's state lives, so `--run-id` tasks find the stand-in.
    aws_state = base / "aws-state"
    inventory = write_inventory(
        aws_state / RUN_ID,
        address=config.connect.address,
        user="root",
        key_file=str(ssh_dir / "id_ed25519"),
        known_hosts=str(ssh_dir / "known_hosts"),
    )
    engine = base / "instance-engine" / "docker"  # the deploy's Docker engine, its data and cli
    # The lab's accounts stand in for the user's: the CDC user, the writer, and the broker's
    # SCRAM user on its SASL_SSL listener (MSK's SCRAM on TLS).
    for variable, secret in STANDIN_SECRETS.items():
        os.environ[variable] = read_secret(secret)
    assignments = [
        "external.db_flavour=mariadb",  # the lab's MariaDB stands in for Aurora
        f"external.db_host={config.db.address}",
        f"external.db_user={CDC_USER}",
        "external.db_password_from=env:CDCLAB_STANDIN_DB_PW",
        f"external.writer_user={WRITER_USER}",
        "external.writer_password_from=env:CDCLAB_STANDIN_WRITER_PW",
        f"external.db_ca_file={state_dir() / 'db' / 'tls' / 'ca.pem'}",
        f"external.kafka_bootstrap={config.kafka_sasl_ssl_bootstrap}",
        "external.kafka_security=SASL_SSL",
        "external.kafka_sasl_mechanism=SCRAM-SHA-512",
        "external.kafka_user=cdclab",
        "external.kafka_password_from=env:CDCLAB_STANDIN_KAFKA_PW",
        f"external.kafka_ca_file={kafka_ca_file()}",
        f"aws.container_cli={engine / 'docker'}",
    ]
    spec = load_spec(
        "tls-compare",
        assignments=[*assignments, "faults=[{kind: drop, at: 0s, for: 30s}]"],
        target="aws",
    )
    target = AwsTarget(spec, RUN_ID, artifact_dir=base / "ansible")
    # The same run as the instance runs it: its arms, connectors, canaries (what a handed-
    # over run registers and writes there).
    on_instance = InstanceTarget(spec, RUN_ID, artifact_dir=None)
    target.inventory = inventory
    target.remote_dir = str(base / "instance")  # /opt/cdclab on EC2; the lab shares this fs
    target.compose_project = "cdclab-standin"  # the lab's workers' containers would be cdclab-*
    target.host = AwsHost(
        RUN_ID, "ap-northeast-2", "i-standin", "sg-x", "k", "k", config.connect.address, None, ""
    )
    # What a deploy records: the arms' REST on the instance's loopback, how to reach its
    # containers, faults and Kafka (SCRAM on TLS, by reference).
    write_arms_file(
        aws_state / RUN_ID,
        {w.name: {"rest_host": "127.0.0.1", "rest_port": w.rest_port} for w in target.workers},
    )
    write_place_file(
        aws_state / RUN_ID,
        str(engine / "docker"),
        f"{target.remote_dir}/faults",
        target.compose_project,
        kafka=target.source.kafka_record(),
    )
    yield SimpleNamespace(
        config=config,
        target=target,
        on_instance=on_instance,
        base=base,
        engine=engine,
        assignments=assignments,
        env={**env, "CDCLAB_AWS_STATE_DIR": str(aws_state)},
    )
    for variable in STANDIN_SECRETS:
        os.environ.pop(variable, None)
    # The instance's engine, containers and data (the deploy test's).
    _removed, errors = remove_engine(base / "instance-engine")
    assert not errors, errors


def _remote(standin, command: str) -> str:
    done = standin.target.ssh().run(command)
    assert done.ok, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def deployed(standin):
    """The deploy on the stand-in, then this run's connector on each arm's container (through
    port forwards to the instance's loopback, as a run registers them); the containers stay
    for the module's tests and go at its end."""
    target = standin.target
    secrets_given = {"db": read_secret(DB_CDC_PASSWORD), "kafka": read_secret(KAFKA_SCRAM_PASSWORD)}
    if built_tarball() is None:
        built = run_invoke("docker.image", env=standin.env, timeout=1800)
        assert built.rc == 0, built.stdout + built.stderr
    # A bundle of two CAs, as RDS's global bundle holds one per region: both are trusted.
    bundle = standin.base / "bundle.pem"
    other = make_ca(standin.base, "another region's CA").read_text()
    bundle.write_text(other + (state_dir() / "db" / "tls" / "ca.pem").read_text())
    with secret_files(standin.base, secrets_given) as files:
        _deploy_on_the_standin(target, files, bundle, standin.engine)
    forwards = [LocalForward(target.ssh(), "127.0.0.1", w.rest_port) for w in target.workers]
    on_instance = [
        dataclasses.replace(arm, rest_url=forward.url)
        for arm, forward in zip(standin.on_instance.arms, forwards, strict=True)
    ]
    try:
        for arm in on_instance:
            assert _answers(arm.rest_url, within_s=180), f"{arm.name}: no REST on the instance"
        configs = {e["name"]: e["config"] for e in standin.on_instance.connector_entries()}
        register_run_connectors(
            on_instance, {a.name: configs[a.connector] for a in on_instance}, timeout_s=240
        )
        yield SimpleNamespace(secrets=secrets_given, cli=str(standin.engine / "docker"))
    finally:
        delete_run_connectors(on_instance)
        for forward in forwards:
            forward.close()
        compose = f"{target.remote_dir}/docker-compose.yml"
        target.ssh().run(f"{standin.engine / 'docker'} compose -f {compose} down")


def test_the_deploy_playbook_runs_the_arms_containers_on_a_real_engine(standin, deployed):
    target, cli, secrets_given = standin.target, deployed.cli, deployed.secrets
    password = secrets_given["db"]
    remote = target.remote_dir
    compose = yaml.safe_load(_remote(standin, f"cat {remote}/docker-compose.yml"))
    services = compose["services"]
    assert set(services) == {"connect-tls13", "connect-tls12"}
    tls12 = services["connect-tls12"]
    assert tls12["image"] == built_image()
    assert tls12["network_mode"] == "host"
    assert tls12["environment"]["GROUP_ID"] == "cdclab-standin-tls12"
    assert tls12["environment"]["REST_HOST_NAME"] == "127.0.0.1"
    assert "-Djdk.tls.client.protocols=TLSv1.2" in tls12["environment"]["KAFKA_OPTS"]
    assert "port=8784" in tls12["environment"]["KAFKA_OPTS"]
    assert "TLSv1.2" not in services["connect-tls13"]["environment"]["KAFKA_OPTS"]
    for arm in ("tls13", "tls12"):
        mode_and_text = _remote(
            standin,
            f"stat -c '%a %u' {remote}/{arm}/secrets.properties; cat {remote}/{arm}/*",
        )
        # The container's user (kafka, uid 1001, in the Debezium image) and no one else.
        mode, given, truststore_password, kafka = mode_and_text.splitlines()
        assert kafka == f"kafka.password={secrets_given['kafka']}"
        assert (mode, given) == ("400 1001", f"database.password={password}")
        chosen = r"database\.ssl\.truststore\.password=[A-Za-z0-9]{32}"
        assert re.fullmatch(chosen, truststore_password)
    assert _remote(standin, f"head -c 2 {remote}/jolokia.jar") == "PK"  # the agent jar
    for secret in secrets_given.values():
        leaked = subprocess.run(
            ["grep", "-rl", secret, str(target.artifact_dir)], capture_output=True, text=True
        )
        assert leaked.stdout == "", f"a password is in Ansible's artifacts: {leaked.stdout}"
    # The containers run, as uid 1001, and each worker answers on the instance's loopback.
    for arm in ("tls13", "tls12"):
        name = f"cdclab-standin-connect-{arm}"
        assert _remote(standin, f"{cli} inspect --format '{{{{.State.Running}}}}' {name}") == (
            "true\n"
        )
        assert _remote(standin, f"{cli} exec {name} id -u") == "1001\n"
        # The bundle's every CA, in a truststore the worker's user reads with its password.
        listed = _remote(
            standin,
            f"{cli} exec {name} keytool -list -keystore /cdclab/tls/truststore.p12 "
            "-storetype PKCS12 -storepass:file /cdclab/tls/truststore.pass",
        )
        assert "contains 2 entries" in listed, listed
    _a_canary_crosses_the_containers_over_sasl_ssl(standin.on_instance)
    _the_msk_iam_login_module_is_on_the_workers_classpath(standin, cli)


def _deploy_on_the_standin(target: AwsTarget, files: dict, bundle: Path, engine: Path) -> None:
    """What AwsTarget.deploy does, on a Debian host without systemd: the docker_engine role's
    daemon mode with the machine's own docker.io and compose plugin, the image built here
    imported from its tarball; the env: references' variables (names no secret-looking
    pattern would catch) must stay out of ansible-runner's artifacts."""
    run_playbook(
        "aws_deploy.yml",
        inventory=target.inventory,
        hide_env=target.secret_env_names,
        extravars={
            **target.deploy_extravars(files["db"], files["kafka"]),
            "cdclab_db_ca_file": str(bundle),
            "docker_engine_install": "none",
            "docker_engine_service": "daemon",
            "docker_engine_root": str(engine),
            "docker_engine_mount_cgroups": True,
            "cdclab_container_cli": str(engine / "docker"),
            "cdclab_image": built_image(),
            "cdclab_image_tarball": str(built_tarball()),
            # cdclab itself, for runs handed over: Debian's own Python 3.11 (no dnf here).
            "cdclab_wheelhouse": str(wheelhouse_tarball()),
            "cdclab_version": __version__,
            "cdclab_control_install": "none",
            "cdclab_control_python": "/usr/bin/python3",
        },
        artifact_dir=target.artifact_dir,
    )


def _a_canary_crosses_the_containers_over_sasl_ssl(target: InstanceTarget) -> None:
    """The run's connectors in the containers: their workers, producers and schema history
    speak SCRAM over TLS to the broker, and so does this machine's canary consumer."""
    watcher, writer = target.watcher(), target.writer()
    try:
        watcher.ensure_topics()
        watcher.start_at_end()
        canary = writer.write(run_id=RUN_ID, seq=1)
        deadline = time.monotonic() + 60
        arrived: set[str] = set()
        while arrived != {"tls13", "tls12"} and time.monotonic() < deadline:
            arrived |= {x.arm for x in watcher.poll(1.0) if x.canary_id == canary.canary_id}
        assert arrived == {"tls13", "tls12"}, f"through the containers: only {arrived}"
    finally:
        watcher.close()
        writer.close()


def _the_msk_iam_login_module_is_on_the_workers_classpath(standin, cli: str) -> None:
    """No MSK here: against the lab's listener, which offers SCRAM only, a client with MSK
    IAM's settings in the worker's container must be refused by the broker for its
    mechanism, not by the JVM for a missing class."""
    iam = KafkaSecurity(protocol="SASL_SSL", mechanism="AWS_MSK_IAM")
    settings = iam.java(secrets_file=CONTAINER_SECRETS_FILE, ca_file=CONTAINER_KAFKA_CA)
    check = Path(standin.target.remote_dir) / "tls" / "iam-check.properties"
    check.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    check.chmod(0o644)
    done = standin.target.ssh().run(
        f"timeout 120 {cli} exec cdclab-standin-connect-tls13 java -cp '/kafka/libs/*' "
        f"kafka.admin.BrokerApiVersionsCommand --bootstrap-server "
        f"{standin.config.kafka_sasl_ssl_bootstrap} --command-config /cdclab/tls/{check.name}"
    )
    check.unlink()
    said = done.stdout + done.stderr
    assert "ClassNotFound" not in said and "cannot be found" not in said, said[-2000:]
    assert "UnsupportedSaslMechanism" in said and "AWS_MSK_IAM" in said, said[-2000:]


def _answers(url: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            status, _ = ConnectRest(url, attempts=1).request("GET", "/connectors")
            if status == 200:
                return True
        except ConnectionError:
            pass
        time.sleep(2)
    return False


def test_rest_through_a_port_forward_on_the_instance_session(standin):
    config = standin.config
    arm = config.arms[0]
    # EC2's workers listen on 127.0.0.1; the lab's on the namespace address.
    forward = LocalForward(standin.target.ssh(), config.connect.address, arm.rest_port)
    with closing(forward):
        status, names = ConnectRest(forward.url).request("GET", "/connectors")
    assert status == 200 and arm.connector_name in names


def test_runbook_steps_reach_a_runs_arm_through_the_instance(standin, deployed):
    config = standin.config
    args = ("--target", "aws", "--run-id", RUN_ID, "--arm", "tls13", "--json")
    ran = run_invoke("connect.status", *args, env=standin.env)
    assert ran.rc == 0, ran.stderr
    status = ran.json()
    assert status["connector"] == standin.on_instance.arms[0].connector
    assert status["target"] == "aws"
    assert status["state"] == "RUNNING" and status["rest_url"].startswith("http://127.0.0.1:")
    config_ran = run_invoke("connect.config", *args, env=standin.env)
    assert config_ran.rc == 0 and config_ran.json()["database.hostname"] == config.db.address


def test_the_watchdog_watches_a_runs_arms_through_the_instance(standin, deployed, tmp_path):
    from urllib.parse import quote

    from cdclab.secrets import DB_WRITER_PASSWORD, read_secret

    config = standin.config
    ca = state_dir() / "db" / "tls" / "ca.pem"
    dsn = (
        f"mysql://cdclab_writer:{quote(read_secret(DB_WRITER_PASSWORD), safe='')}@"
        f"{config.db.address}:{config.db_port}/{config.database}?ssl_ca={ca}&table=canary"
    )
    ran = run_invoke(
        "watch",
        "--target",
        "aws",
        "--run-id",
        RUN_ID,
        "--interval",
        "1s",
        "--minutes",
        "0.3",
        "--directory",
        str(tmp_path / "watch"),
        env={**standin.env, "CDCLAB_WATCH_DB": dsn},
        timeout=180,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    checks = [json.loads(x) for x in (tmp_path / "watch" / "checks.jsonl").read_text().splitlines()]
    delivered = {c["arm"] for c in checks if c["outcome"] == "delivered"}
    # Each arm's topic, read from its connector's config, through the run's recorded Kafka:
    # its SASL_SSL listener, the SCRAM password read from the env: reference.
    assert delivered == {"tls13", "tls12"}
    assert read_secret(DB_WRITER_PASSWORD) not in ran.stdout + ran.stderr


def test_fault_clear_sweeps_the_instance_of_a_run(standin, deployed):
    rule = [
        "OUTPUT",
        "-d",
        "192.0.2.1",
        "-m",
        "comment",
        "--comment",
        "cdclab:old:f09",
        "-j",
        "DROP",
    ]
    subprocess.run(
        ["ip", "netns", "exec", "cdclab-connect", "iptables", "-w", "-I", *rule], check=True
    )
    ran = run_invoke("fault.clear", "--run-id", RUN_ID, env=standin.env)
    assert ran.rc == 0 and "instance: removed rule:" in ran.stdout, ran.stdout + ran.stderr
    assert _rules() == []
    again = run_invoke("fault.clear", "--run-id", RUN_ID, env=standin.env)
    assert again.rc == 0 and "instance: no cdclab fault" in again.stdout


def _rules() -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", "cdclab-connect", "iptables", "-w", "-S"],
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if "cdclab:" in line]


def _deadman_timers(heal_dir: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "cdclab-deadman" in line and heal_dir in line]


def test_a_run_handed_over_to_the_instance_runs_there_and_is_pulled_complete(
    standin, deployed, tmp_path, monkeypatch
):
    """The clock on the instance: cdclab installed there from the wheelhouse (no index),
    the run started as a service with its secrets as files, followed from its journals,
    its results pulled whole; the instance reaches the database and Kafka, not this
    machine's run. A DROP on the instance silences both arms while REST says RUNNING."""
    from cdclab.experiment.runner import run_experiment

    # moto's credentials and region for the laptop's preflight (nothing is provisioned: the
    # stand-in is the instance); the laptop's record of the run in the test's AWS state.
    for variable, value in {
        "AWS_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CDCLAB_AWS_STATE_DIR": standin.env["CDCLAB_AWS_STATE_DIR"],
    }.items():
        monkeypatch.setenv(variable, value)
    spec = load_spec(
        "tls-compare",
        assignments=[
            *standin.assignments,
            "aws.allow_cidr=192.0.2.0/24",  # not looked up (that would leave the machine)
            "faults=[{kind: drop, at: 20s, for: 20s}]",
        ],
        duration=75,
        target="aws",
    )
    handed = AwsTarget(spec, "6b6b6b6b", artifact_dir=tmp_path / "ansible")
    base = standin.target
    handed.inventory, handed.host = base.inventory, base.host
    handed.aws_run_id = RUN_ID  # the stand-in's host, as a kept one (aws.run_id) would be
    handed.remote_dir, handed.compose_project = base.remote_dir, base.compose_project
    monkeypatch.setattr(handed, "prepare", lambda: [])  # deployed by the fixture
    outcome = run_experiment(spec, tmp_path / "results", target=handed)
    assert outcome.status == "completed", outcome.errors
    run = outcome.directory
    assert run.parent == tmp_path / "results" and run.name.endswith("-6b6b6b6b")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["hosts"]["connect"]["address"].startswith("this instance")
    records = {
        r["event"]: r for r in map(json.loads, (run / "faults.jsonl").read_text().splitlines())
    }
    assert records["fault-healed"]["healed_by"] == "schedule"
    assert records["fault-applied"]["deadman_pid"].isdigit()  # no systemd here: detached
    assert _deadman_timers(f"{base.remote_dir}/faults") == []  # the heal disarmed it
    start = parse_iso(records["fault-applied"]["at"])
    end = parse_iso(records["fault-healed"]["at"])
    checks = [json.loads(x) for x in (run / "checks.jsonl").read_text().splitlines()]
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)
    for arm in ("tls13", "tls12"):
        mine = [c for c in checks if c["arm"] == arm]
        before = [c for c in mine if parse_iso(c["written_at"]) < start - 2]
        during = [c for c in mine if start <= parse_iso(c["written_at"]) < end]
        after = [c for c in mine if parse_iso(c["written_at"]) > end + 15]
        assert before and all(c["outcome"] == "delivered" for c in before), arm
        assert during and all(
            c["seen_at"] is None or parse_iso(c["seen_at"]) >= end for c in during
        )
        assert after and all(c["outcome"] == "delivered" for c in after), arm
    assert (run / "report.md").is_file() and (run / "summary.json").is_file()
    # The instance's own thread dumps (docker exec … jcmd, at each episode's start) and its
    # containers' logs came back with the run.
    assert any("Full thread dump" in p.read_text() for p in (run / "dumps").rglob("*.txt"))
    for arm in ("tls13", "tls12"):
        log = (run / "logs" / "instance" / arm / "connect.out").read_text(errors="replace")
        assert "cdclab-run-6b6b6b6b-" + arm in log, arm
    assert _rules() == []
    # The secrets reached the instance as 0600 files of the run, and nowhere else.
    secrets = Path(base.remote_dir) / "runs" / "6b6b6b6b" / "secrets"
    assert {p.stat().st_mode & 0o777 for p in secrets.iterdir()} == {0o600}
    for value in STANDIN_SECRETS:
        secret = os.environ[value]
        for path in run.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_an_instance_without_a_reachable_address_is_reached_through_a_bastion(standin):
    """aws.ssh_jump: the lab's db host is the bastion; the connect host (the instance)
    refuses new SSH connections from anywhere else for the test, so only the hop gets in,
    for cdclab's own sessions (paramiko) and for Ansible's (OpenSSH ProxyCommand) alike."""
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.ssh import JumpHost

    config, ssh_dir = standin.config, state_dir() / "ssh"
    bastion = JumpHost(
        config.db.address,
        "root",
        key_file=ssh_dir / "id_ed25519",
        known_hosts=ssh_dir / "known_hosts",
    )
    directory = standin.base / "jump-run"
    inventory = write_inventory(
        directory,
        address=config.connect.address,
        user="root",
        key_file=str(ssh_dir / "id_ed25519"),
        known_hosts=str(ssh_dir / "known_hosts"),
        jump=bastion,
    )
    only_the_bastion = [
        "INPUT",
        "-p",
        "tcp",
        "--syn",
        "--dport",
        "22",
        "!",
        "-s",
        config.db.address,
        "-m",
        "comment",
        "--comment",
        "cdclab-test-jump",
        "-j",
        "REJECT",
    ]
    netns = ["ip", "netns", "exec", config.connect.namespace, "iptables", "-w"]
    subprocess.run([*netns, "-I", *only_the_bastion], check=True)
    try:
        direct = subprocess.run(
            [
                "ssh",
                "-i",
                str(ssh_dir / "id_ed25519"),
                "-o",
                f"UserKnownHostsFile={ssh_dir / 'known_hosts'}",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                f"root@{config.connect.address}",
                "true",
            ],
            capture_output=True,
            text=True,
        )
        assert direct.returncode != 0  # the instance is out of reach without the hop
        with closing(ssh_from_inventory(inventory)) as session:
            seen = session.run(["ip", "-o", "-4", "addr", "show"])
        assert seen.ok and f"inet {config.connect.address}/" in seen.stdout
        ansible = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible"),
                "connect",
                "-i",
                str(inventory),
                "-m",
                "ansible.builtin.command",
                "-a",
                "ip -o -4 addr show",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ansible.returncode == 0, ansible.stdout + ansible.stderr
        assert f"inet {config.connect.address}/" in ansible.stdout
    finally:
        subprocess.run([*netns, "-D", *only_the_bastion], check=True)
