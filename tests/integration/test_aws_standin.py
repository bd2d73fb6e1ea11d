"""The AWS target in the sandbox (`invoke aws.sandbox`): the AWS path as a user runs it.

moto's server stands in for the AWS API and the lab's connect namespace for the instance:
`aws.up` provisions on moto and is handed the stand-in (the run's key authorised for its
ec2-user, who has sudo). The deploy playbook runs for real there, as ec2-user through
sudo: a Docker engine (the docker_engine role's daemon mode: the host is Debian without
systemd), the image built here imported, the arms' containers started by compose against
the lab's database and its SASL_SSL listener as the user's (their passwords in moto's
Secrets Manager), and cdclab installed from its wheelhouse. A run is handed over to it and
runs its clock there (faults, dumps, logs on the instance), survives its laptop, and is
followed, stopped and pulled by the CLI; the runbook tasks, the watchdog and fault.clear
reach the containers through the run's recorded place. `aws.down` and `aws.sandbox --down`
leave nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from cdclab.aws.containers import COMPOSE_PROJECT, REMOTE_DIR, container_name
from cdclab.aws.inventory import write_inventory
from cdclab.connect_rest import ConnectRest
from cdclab.core.journal import parse_iso
from cdclab.core.kafka_security import KafkaSecurity
from cdclab.core.spec import load_spec
from cdclab.images.connect import built_image, built_tarball
from cdclab.lab.access import running_config
from cdclab.paths import PROJECT_ROOT, state_dir
from cdclab.secrets import DB_CDC_PASSWORD, KAFKA_SCRAM_PASSWORD, read_secret
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.aws import AwsTarget
from cdclab.targets.compose import CONTAINER_KAFKA_CA, CONTAINER_SECRETS_FILE
from cdclab.targets.instance import InstanceTarget
from cdclab.targets.run_connectors import delete_run_connectors, register_run_connectors
from tests.conftest import INVOKE, make_ca, run_invoke, until
from tests.integration.test_experiment import lab_env

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]

RUN_ID = "5a5a5a5a"  # the sandbox's instance: `aws.up --run-id`, kept for the module


def _exports(stdout: str) -> dict[str, str]:
    """What `eval "$(invoke aws.sandbox)"` sets; every line of its stdout is for eval."""
    values = {}
    for line in stdout.splitlines():
        words = shlex.split(line)
        assert words[0] in ("export", "unset"), f"not for eval: {line!r}"
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    env = lab_env(tmp_path_factory.mktemp("standin-results"))
    ran = run_invoke("lab.up", env=env, timeout=900)
    assert ran.rc == 0, ran.stdout + ran.stderr
    if built_tarball() is None:
        built = run_invoke("docker.image", env=env, timeout=1800)
        assert built.rc == 0, built.stdout + built.stderr
    config = running_config()
    base = tmp_path_factory.mktemp("standin")
    env["CDCLAB_AWS_STATE_DIR"] = str(base / "aws-state")
    saved = {name: os.environ.get(name) for name in (*env, *SANDBOX_ENV)}
    try:
        yield _sandbox_and_its_instance(config, base, env)
    finally:
        down = run_invoke("aws.down", RUN_ID, env=env, timeout=600)
        gone = run_invoke("aws.sandbox", "--down", env=env, timeout=600)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert down.rc == 0, down.stdout + down.stderr
    assert gone.rc == 0 and "NOT removed" not in gone.stderr, gone.stdout + gone.stderr
    assert "unset AWS_ENDPOINT_URL" in gone.stdout
    # As a terminated instance: nothing of the run on the stand-in, no ec2-user, no moto.
    assert not Path(REMOTE_DIR).exists() and _rules() == []
    with pytest.raises(KeyError):
        pwd.getpwnam("ec2-user")
    with pytest.raises(OSError):
        urllib.request.urlopen(env["AWS_ENDPOINT_URL"] + "/moto-api/", timeout=2)


# What `eval "$(invoke aws.sandbox)"` sets (restored after the module).
SANDBOX_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "CDCLAB_AWS_SANDBOX",
    "CDCLAB_AWS_CONTAINER_CLI",
)


def _sandbox_and_its_instance(config, base: Path, env: dict[str, str]) -> SimpleNamespace:
    """The sandbox (its exports into env and this process) and its instance, `aws.up`."""
    made = run_invoke("aws.sandbox", env=env, timeout=900)
    assert made.rc == 0, made.stdout + made.stderr
    env.update(_exports(made.stdout))
    os.environ.update(env)  # this process's AwsTarget and canaries use the sandbox too
    up = run_invoke("aws.up", "--run-id", RUN_ID, env=env, timeout=300)
    assert up.rc == 0, up.stdout + up.stderr
    assert f"at {config.connect.address}" in up.stdout and "ec2-user@" in up.stdout
    values = Path(env["CDCLAB_AWS_SANDBOX"]).parent / "values.yaml"
    # A bundle of two CAs, as RDS's global bundle holds one per region: both are trusted.
    bundle = base / "bundle.pem"
    other = make_ca(base, "another region's CA").read_text()
    bundle.write_text(other + (state_dir() / "db" / "tls" / "ca.pem").read_text())
    kept = [f"aws.run_id={RUN_ID}", f"external.db_ca_file={bundle}"]
    spec = load_spec(
        "tls-compare",
        values=[values],
        assignments=[*kept, "faults=[{kind: drop, at: 0s, for: 30s}]"],
        target="aws",
    )
    target = AwsTarget(spec, RUN_ID, artifact_dir=base / "ansible")
    target.inventory = Path(env["CDCLAB_AWS_STATE_DIR"]) / RUN_ID / "inventory.yml"  # aws.up's
    return SimpleNamespace(
        config=config,
        target=target,
        # The same run as the instance runs it: its arms, connectors, canaries (what a
        # handed-over run registers and writes there).
        on_instance=InstanceTarget(spec, RUN_ID, artifact_dir=None),
        base=base,
        env=env,
        run_args=["--values", str(values), *(a for k in kept for a in ("--set", k))],
    )


def _remote(standin, command: str) -> str:
    done = standin.target.ssh().run(command)
    assert done.ok, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def deployed(standin):
    """The deploy on the sandbox's instance (AwsTarget's own, as ec2-user through sudo),
    then this run's connector on each arm's container (through port forwards to the
    instance's loopback, as a run registers them), for the module's tests."""
    target = standin.target
    secrets_given = {"db": read_secret(DB_CDC_PASSWORD), "kafka": read_secret(KAFKA_SCRAM_PASSWORD)}
    target.preflight()  # the sandbox's session and its kept instance (aws.run_id)
    target.prepare()
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
        yield SimpleNamespace(secrets=secrets_given, cli=target.settings.container_cli)
    finally:
        delete_run_connectors(on_instance)
        for forward in forwards:
            forward.close()


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
    assert tls12["environment"]["GROUP_ID"] == f"{COMPOSE_PROJECT}-tls12"  # not the lab's
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
        name = container_name(arm)
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
        f"timeout 120 {cli} exec {container_name('tls13')} java -cp '/kafka/libs/*' "
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


def test_an_installed_watch_runs_on_the_instance_and_survives_a_crash(standin, deployed, tmp_path):
    """watch.install: the watchdog as a service on the instance (cdclab is there from the
    deploy), watching a connector on its loopback with no laptop in the loop; a crash is
    restarted; watch.uninstall stops it and brings its directory back."""
    from urllib.parse import quote

    from cdclab.secrets import DB_WRITER_PASSWORD

    config = standin.config
    entry = next(e for e in standin.on_instance.connector_entries() if e["name"].endswith("tls13"))
    topic = f"{entry['config']['topic.prefix']}.{config.database}.{config.canary_table}"
    password = read_secret(DB_WRITER_PASSWORD)
    dsn = (
        f"mysql://cdclab_writer:{quote(password, safe='')}@{config.db.address}:{config.db_port}/"
        f"{config.database}?ssl_ca={state_dir() / 'db' / 'tls' / 'ca.pem'}&table=canary"
    )
    env = {**standin.env, "CDCLAB_WATCH_DB": dsn, "CDCLAB_RESULTS_DIR": str(tmp_path)}
    installed = run_invoke(
        "watch.install",
        *("--run-id", RUN_ID, "--name", "orders", "--interval", "1s"),
        *("--connect-url", "http://127.0.0.1:8083", "--connector", entry["name"]),
        *("--topic", topic, "--kafka-bootstrap", config.kafka_bootstrap),
        env=env,
        timeout=300,
    )
    assert installed.rc == 0, installed.stdout + installed.stderr
    checks = Path(REMOTE_DIR) / "watches" / "orders" / "results" / "checks.jsonl"

    def delivered() -> int:
        lines = checks.read_text().splitlines() if checks.exists() else []
        return sum(json.loads(x)["outcome"] == "delivered" for x in lines)

    until(lambda: delivered() >= 3, within_s=120)
    status = run_invoke("watch.status", "--name", "orders", env=env)
    assert status.rc == 0 and "orders on" in status.stdout and ": active" in status.stdout
    (first,) = _watch_pids()
    os.kill(first, signal.SIGKILL)  # a crash: the supervisor starts it again
    until(lambda: _watch_pids() not in ([], [first]), within_s=60)
    so_far = delivered()
    until(lambda: delivered() > so_far + 2, within_s=120)
    removed = run_invoke("watch.uninstall", "--name", "orders", env=env, timeout=300)
    assert removed.rc == 0, removed.stdout + removed.stderr
    assert _watch_pids() == [] and not checks.parent.parent.exists()
    pulled = tmp_path / "watch-orders"
    assert f"results: {pulled}" in removed.stdout
    assert (pulled / "checks.jsonl").read_text().count('"delivered"') >= so_far + 3
    for path in pulled.rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
    assert password not in installed.stdout + installed.stderr + removed.stdout


def _watch_pids() -> list[int]:
    """The watch's python (not its supervisor's shell, whose command line names it too)."""
    pattern = r"^[^ ]*/python[0-9.]* -m cdclab\.watch\.on_host"
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return sorted(int(p) for p in found.stdout.split())


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


def _handover(standin) -> dict[str, str]:
    return json.loads(
        (Path(standin.env["CDCLAB_AWS_STATE_DIR"]) / RUN_ID / "handover.json").read_text()
    )


def _handed_over_and_checking(standin, since: float, within_s: float = 600) -> str:
    """The run id once a run started after `since` is on the instance and its clock has
    written a check there."""
    record = Path(standin.env["CDCLAB_AWS_STATE_DIR"]) / RUN_ID / "handover.json"
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if record.exists() and record.stat().st_mtime > since:
            run_id = _handover(standin)["run_id"]
            checks = list(Path(REMOTE_DIR, "runs", run_id, "results").glob("*/checks.jsonl"))
            if checks and checks[0].stat().st_size > 0:
                return run_id
        time.sleep(1)
    raise AssertionError("no run was handed over to the instance")


def _experiment(standin, results: Path, *args: str) -> list[str]:
    return [
        str(INVOKE),
        "experiment",
        "tls-compare",
        "--target",
        "aws",
        *standin.run_args,
        *args,
    ]


def test_a_run_handed_over_survives_its_laptop_and_is_pulled_complete(standin, deployed, tmp_path):
    """The clock on the instance: cdclab installed there from the wheelhouse (no index),
    the run started as a service with its secrets as files. The laptop's process is
    SIGKILLed mid-run; the run goes on, `experiment.attach` follows it to its end and
    `results.pull` brings every check back. A DROP on the instance silenced both arms
    while REST said RUNNING."""
    env = {**standin.env, "CDCLAB_RESULTS_DIR": str(tmp_path / "results")}
    since = time.time()
    laptop = subprocess.Popen(
        _experiment(
            standin,
            tmp_path,
            "--minutes",
            "75s",
            "--set",
            "faults=[{kind: drop, at: 20s, for: 20s}]",
        ),
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run_id = _handed_over_and_checking(standin, since)
    finally:
        os.killpg(laptop.pid, signal.SIGKILL)  # the laptop dies mid-run
        laptop.wait(timeout=30)
    attached = run_invoke("experiment.attach", run_id, env=env, timeout=300)
    assert attached.rc == 0 and f"run {run_id} ended (0)" in attached.stdout, attached.stderr
    pulled = run_invoke("results.pull", run_id, "--keep", env=env, timeout=300)
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    run = Path(re.search(r"^results: (.+)$", pulled.stdout, re.M).group(1))
    assert run.parent == tmp_path / "results" and run.name.endswith(run_id)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["hosts"]["connect"]["address"].startswith("this instance")
    records = {
        r["event"]: r for r in map(json.loads, (run / "faults.jsonl").read_text().splitlines())
    }
    assert records["fault-healed"]["healed_by"] == "schedule"
    assert records["fault-applied"]["deadman_pid"].isdigit()  # no systemd here: detached
    assert _deadman_timers(f"{REMOTE_DIR}/faults") == []  # the heal disarmed it
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
    # Every check the instance wrote came back (the laptop's death lost none).
    on_instance = Path(REMOTE_DIR, "runs", run_id, "results", run.name, "checks.jsonl")
    assert (run / "checks.jsonl").read_bytes() == on_instance.read_bytes()
    assert (run / "report.md").is_file() and (run / "summary.json").is_file()
    # The instance's own thread dumps (docker exec … jcmd, at each episode's start) and its
    # containers' logs came back with the run.
    assert any("Full thread dump" in p.read_text() for p in (run / "dumps").rglob("*.txt"))
    for arm in ("tls13", "tls12"):
        log = (run / "logs" / "instance" / arm / "connect.out").read_text(errors="replace")
        assert f"cdclab-run-{run_id}-{arm}" in log, arm
    assert _rules() == []
    # The secrets reached the instance as 0600 files of the run, and nowhere else.
    secrets = Path(REMOTE_DIR) / "runs" / run_id / "secrets"
    assert {p.stat().st_mode & 0o777 for p in secrets.iterdir()} == {0o600}
    for secret in deployed.secrets.values():
        for path in run.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_a_detached_run_is_stopped_from_the_laptop_with_its_report(standin, deployed, tmp_path):
    """--detach returns once the run is on the instance; experiment.stop ends it as Ctrl-C
    would (report written), attach sees it end, results.pull brings it back."""
    env = {**standin.env, "CDCLAB_RESULTS_DIR": str(tmp_path / "results")}
    since = time.time()
    detached = subprocess.run(
        _experiment(standin, tmp_path, "--minutes", "10", "--detach", "--set", "faults=[]"),
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert detached.returncode == 0, detached.stdout + detached.stderr
    # The kept instance runs the module's deploy, unchanged: this run did not deploy again.
    said = " ".join((detached.stdout + detached.stderr).split())
    assert "deploy skipped: the instance runs this deploy already" in said, said
    assert "\u25b6 Install Docker Engine" not in said
    run_id = _handed_over_and_checking(standin, since, within_s=60)
    assert f"invoke experiment.attach {run_id}" in detached.stdout + detached.stderr
    stopped = run_invoke("experiment.stop", run_id, env=env)
    assert stopped.rc == 0, stopped.stdout + stopped.stderr
    attached = run_invoke("experiment.attach", run_id, env=env, timeout=300)
    assert attached.rc == 0 and f"run {run_id} ended (130)" in attached.stdout, attached.stderr
    pulled = run_invoke("results.pull", run_id, "--keep", env=env, timeout=300)
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    run = Path(re.search(r"^results: (.+)$", pulled.stdout, re.M).group(1))
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert (run / "report.md").is_file()


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
