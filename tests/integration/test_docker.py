"""The docker target on a real Docker engine: the arms as containers of the image built here
(`invoke docker.image`), from the compose role the EC2 host uses, inside the lab's connect host.

One 3-minute run: a both-way DROP stops delivery to both containers while REST says RUNNING,
then a kill fault stops one arm's container, which its heal starts again and which delivers
again;
the lab's faults, dumps, TLS evidence and log collection reach the containers; the worker
runs as uid 1001 and no password shows in `docker inspect` or in the results. This module
runs last (tests/conftest.py): its last test takes the suite's lab down, which leaves nothing
of the lab or of Docker behind and is safe twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdclab.core.journal import parse_iso
from cdclab.images.connect import built_tarball
from cdclab.lab.teardown import lab_links, lab_namespaces
from tests.conftest import run_invoke
from tests.integration.test_experiment import _checks, _results_dir, lab_env
from tests.integration.test_faults import _faults, _rules
from tests.integration.test_lab import TEST_STATE, _cdclab_rules, _lab_processes

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab and its engine need root"),
]
ENGINE = TEST_STATE / "docker"
DOCKER = str(ENGINE / "docker")
CONTAINERS = {arm: f"cdclab-docker-connect-{arm}" for arm in ("tls13", "tls12")}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    environment = lab_env(tmp_path_factory.mktemp("docker-results"))
    if built_tarball() is None:  # .ci/run builds it during setup; a developer may not have
        built = run_invoke("docker.image", env=environment, timeout=1800)
        assert built.rc == 0, built.stdout + built.stderr
    return environment


@pytest.fixture(scope="module")
def drop_run(env) -> Path:
    ran = run_invoke(
        "experiment",
        "tls-compare",
        "--target",
        "docker",
        "--minutes",
        "3",
        "--set",
        "faults=[{kind: drop, at: 20s, for: 30s}, "
        "{kind: kill, at: 95s, for: 15s, process: 'worker:tls12'}]",
        "--set",
        "dumps={triggers: [fault, episode_start], every: 20s, min_interval: 20s}",
        env=env,
        timeout=1200,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    return _results_dir(ran.stdout)


def _docker(*args: str) -> str:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _fault_times(run: Path, fault_id: str) -> tuple[float, float]:
    records = {r["event"]: r for r in _faults(run) if r.get("fault_id") == fault_id}
    assert records["fault-healed"]["healed_by"] == "schedule"
    return parse_iso(records["fault-applied"]["at"]), parse_iso(records["fault-healed"]["at"])


def _silenced(checks: list[dict], arm: str, start: float, end: float, margin: float) -> list:
    """Assert an arm delivered every canary written before the fault (`margin` s before it
    began) and after it (30 s after it ended), and none written during it before its end;
    return those written during it."""
    mine = [c for c in checks if c["arm"] == arm]
    before = [c for c in mine if parse_iso(c["written_at"]) < start - margin]
    during = [c for c in mine if start <= parse_iso(c["written_at"]) < end]
    after = [c for c in mine if parse_iso(c["written_at"]) > end + 30]
    assert before and all(c["outcome"] == "delivered" for c in before), arm
    assert all(c["seen_at"] is None or parse_iso(c["seen_at"]) >= end for c in during), arm
    assert after and all(c["outcome"] == "delivered" for c in after), arm
    return during


def test_a_drop_silences_both_containers_while_rest_says_running(drop_run):
    start, end = _fault_times(drop_run, "f01")
    killed, _ = _fault_times(drop_run, "f02")
    # Up to the kill fault, less the canaries in flight when it struck (they are the kill's:
    # with the learned 5 s deadline, one written 0.2 s before it arrives late).
    checks = [c for c in _checks(drop_run) if parse_iso(c["written_at"]) < killed - 10]
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)
    for arm in CONTAINERS:
        during = _silenced(checks, arm, start, end, margin=5)
        assert sum(c["outcome"] != "delivered" for c in during) >= 3, arm
    summary = json.loads((drop_run / "summary.json").read_text())
    assert all(arm["episodes"] for arm in summary["arms"])
    assert not _rules()  # healed, and nothing left in the connect host's netfilter


def test_a_killed_container_is_started_by_its_heal_and_delivers_again(drop_run):
    killed, healed = _fault_times(drop_run, "f02")
    checks = _checks(drop_run)
    tls12 = [c for c in checks if c["arm"] == "tls12"]
    down = [c for c in tls12 if killed + 2 <= parse_iso(c["written_at"]) < healed]
    assert down and all(c["connector_state"] != "RUNNING" for c in down)  # REST was gone
    after = [c for c in tls12 if parse_iso(c["written_at"]) > healed + 45]
    assert len(after) >= 6 and all(c["outcome"] == "delivered" for c in after)
    # The same container, started again after the kill (not a new one made by compose).
    state = json.loads(_docker("inspect", "--format", "{{json .State}}", CONTAINERS["tls12"]))
    assert state["Running"] and parse_iso(state["StartedAt"][:23] + "Z") >= killed
    tls13 = [c for c in checks if c["arm"] == "tls13" and parse_iso(c["written_at"]) > killed]
    assert tls13 and all(c["outcome"] == "delivered" for c in tls13)  # the other arm ran on


def test_each_container_negotiated_its_arms_tls_and_runs_as_uid_1001(drop_run):
    manifest = json.loads((drop_run / "manifest.json").read_text())
    assert manifest["target"] == "docker"
    assert manifest["tls"]["tls13"]["version"] == "TLSv1.3"
    assert manifest["tls"]["tls12"]["version"] == "TLSv1.2"
    assert manifest["versions"]["image"].startswith("cdclab/debezium-connect:")
    for name in CONTAINERS.values():
        assert _docker("inspect", "--format", "{{.Config.User}}", name) == "1001:1001"
        assert _docker("exec", name, "id", "-u") == "1001"
        pid = _docker("inspect", "--format", "{{.State.Pid}}", name)
        status = Path(f"/proc/{pid}/status").read_text()  # the JVM itself, seen from here
        assert "\nUid:\t1001\t" in status
    # The entrypoint turned the compose file's environment into the worker's properties.
    props = _docker(
        "exec", CONTAINERS["tls13"], "cat", "/kafka/config/connect-distributed.properties"
    )
    for line in (
        "group.id=cdclab-docker-tls13",
        "listeners=http://127.0.0.1:8183",
        "key.converter.schemas.enable=false",
        "config.storage.replication.factor=-1",
        "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider",
    ):
        assert line in props.splitlines(), line
    # The password file is the container user's alone.
    for arm in CONTAINERS:
        secrets = ENGINE / "compose" / arm / "secrets.properties"
        info = secrets.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (1001, 0o400)


def test_no_password_in_docker_inspect_or_in_the_results(drop_run):
    passwords = [p.read_text().strip() for p in (TEST_STATE / "secrets").iterdir()]
    inspected = _docker("inspect", *CONTAINERS.values())
    assert "javaagent" in inspected  # the inspection holds the environment and args
    for password in passwords:
        assert password not in inspected
        for path in drop_run.rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path


def test_dumps_and_logs_come_from_the_containers(drop_run, env):
    analyses = run_invoke("dump.analyze", "--json", str(drop_run / "dumps"), env=env).json()
    assert len(analyses) >= 2
    klasses = {t["klass"] for a in analyses for t in a["threads"]}
    assert klasses - {"unknown"}, klasses  # the binlog reader's thread was found and classified
    for arm in CONTAINERS:
        log = (drop_run / "logs" / "cdclab-connect" / arm / "connect.out").read_text()
        assert f"cdclab-run-{drop_run.name.rsplit('-', 1)[1]}-{arm}" in log


# -- your database and Kafka (external.*), through the lab's way out -----------------------
# A network outside the lab, on this machine: a namespace behind a veth of the root namespace
# in TEST-NET-2, as the user's VPC or the internet would be. Only the egress reaches it.
OUTSIDE_NS, OUTSIDE_LINK = "cdtest-outside", "cdtest-out0"
OUTSIDE_GATEWAY, OUTSIDE = "198.51.100.1", "198.51.100.7"
FORWARD_BEFORE = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], 7000))
print("ready", flush=True)
connection, peer = server.accept()
print(peer[0], flush=True)
"""


@pytest.fixture(scope="module")
def outside():
    def sh(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)

    sh("ip", "netns", "add", OUTSIDE_NS)
    try:
        sh(
            "ip",
            "link",
            "add",
            OUTSIDE_LINK,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            OUTSIDE_NS,
        )
        sh("ip", "addr", "add", f"{OUTSIDE_GATEWAY}/24", "dev", OUTSIDE_LINK)
        sh("ip", "link", "set", OUTSIDE_LINK, "up")
        sh("ip", "-n", OUTSIDE_NS, "addr", "add", f"{OUTSIDE}/24", "dev", "eth0")
        sh("ip", "-n", OUTSIDE_NS, "link", "set", "eth0", "up")
        yield OUTSIDE
    finally:
        subprocess.run(["ip", "netns", "delete", OUTSIDE_NS], check=False)


def _reach_outside_from_the_connect_host() -> str | None:
    """The address a listener outside the lab saw the connect host's connection come from,
    or None when the connection could not be made."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", OUTSIDE_NS, sys.executable, "-c", LISTENER, OUTSIDE],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        probe = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                "cdclab-connect",
                sys.executable,
                "-c",
                f"import socket; socket.create_connection(('{OUTSIDE}', 7000), timeout=5)",
            ],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            return None
        return listener.communicate(timeout=10)[0].strip()
    finally:
        listener.kill()
        listener.wait()


@pytest.fixture(scope="module")
def external_run(env, outside) -> Path:
    """The lab's database and its SASL_SSL listener given as external.*, exactly as a user
    gives theirs: by address, the CDC and writer passwords and the SCRAM password by env:
    reference, the CAs as files."""
    from cdclab.lab.access import kafka_ca_file, running_config
    from cdclab.lab.extravars import CDC_USER, WRITER_USER
    from cdclab.secrets import (
        DB_CDC_PASSWORD,
        DB_WRITER_PASSWORD,
        KAFKA_SCRAM_PASSWORD,
        read_secret,
    )

    assert _reach_outside_from_the_connect_host() is None, "the lab reached out before egress"
    config = running_config()
    secrets = {
        "CDCLAB_T_DB": read_secret(DB_CDC_PASSWORD),
        "CDCLAB_T_WRITER": read_secret(DB_WRITER_PASSWORD),
        "CDCLAB_T_KAFKA": read_secret(KAFKA_SCRAM_PASSWORD),
    }
    external = [
        "external.db_flavour=mariadb",
        f"external.db_host={config.db.address}",
        f"external.db_user={CDC_USER}",
        "external.db_password_from=env:CDCLAB_T_DB",
        f"external.writer_user={WRITER_USER}",
        "external.writer_password_from=env:CDCLAB_T_WRITER",
        f"external.db_ca_file={TEST_STATE / 'db' / 'tls' / 'ca.pem'}",
        f"external.kafka_bootstrap={config.kafka_sasl_ssl_bootstrap}",
        "external.kafka_security=SASL_SSL",
        "external.kafka_sasl_mechanism=SCRAM-SHA-512",
        "external.kafka_user=cdclab",
        "external.kafka_password_from=env:CDCLAB_T_KAFKA",
        f"external.kafka_ca_file={kafka_ca_file()}",
        "faults=[{kind: drop, at: 20s, for: 25s}]",
    ]
    ran = run_invoke(
        "experiment",
        "tls-compare",
        "--target",
        "docker",
        "--minutes",
        "1.5",
        *[a for assignment in external for a in ("--set", assignment)],
        env={**env, **secrets},
        timeout=1200,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    for secret in secrets.values():
        assert secret not in ran.stdout + ran.stderr
    return _results_dir(ran.stdout)


def test_containers_capture_your_database_and_kafka_and_a_drop_silences_them(external_run):
    start, end = _fault_times(external_run, "f01")
    checks = _checks(external_run)
    assert all(c["connector_state"] == c["task_state"] == "RUNNING" for c in checks)
    for arm in CONTAINERS:
        assert len(_silenced(checks, arm, start, end, margin=2)) >= 15, arm
    manifest = json.loads((external_run / "manifest.json").read_text())
    assert manifest["hosts"]["source"]["db_address"] == manifest["hosts"]["db"]["address"]
    assert manifest["versions"]["source_db"].split("-")[0][0].isdigit()
    assert manifest["tls"] == {}  # your server's view is not read: no rights asked for it
    # The workers speak SCRAM over TLS to Kafka; the password reaches them as a file only.
    props = _docker(
        "exec", CONTAINERS["tls13"], "cat", "/kafka/config/connect-distributed.properties"
    )
    assert "security.protocol=SASL_SSL" in props.splitlines()
    assert "sasl.mechanism=SCRAM-SHA-512" in props.splitlines()
    inspected = _docker("inspect", *CONTAINERS.values())
    passwords = [p.read_text().strip() for p in (TEST_STATE / "secrets").iterdir()]
    for password in passwords:
        assert password not in inspected
        for path in external_run.rglob("*"):
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path


def test_the_connect_host_reaches_out_of_the_lab_masqueraded(external_run):
    # The route, forwarding and masquerade the run's egress set up: a host outside the
    # lab sees this machine, not the lab's private address.
    assert _reach_outside_from_the_connect_host() == OUTSIDE_GATEWAY
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True)
    assert "cdclab-egress" in nat.stdout


def test_lab_down_leaves_nothing_of_the_lab_or_docker_behind_and_is_safe_twice(drop_run, env):
    ran = run_invoke("lab.down", env=env, timeout=600)
    assert ran.rc == 0, ran.stdout + ran.stderr
    assert "docker engine: dockerd" in ran.stdout + ran.stderr  # progress goes to stderr
    assert not lab_namespaces() and not lab_links() and not _lab_processes()
    assert not _cdclab_rules() and not (TEST_STATE / "ssh").exists()
    assert not ENGINE.exists()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(ENGINE) not in mounts
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            assert str(ENGINE).encode() not in cmdline, cmdline
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert "DOCKER" not in rules
    assert not Path("/run/netns/cdclab-connect").exists()
    # The egress of the external run went with the lab: its rules, and forwarding as it was.
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True)
    assert "cdclab" not in rules + nat.stdout
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == FORWARD_BEFORE
    again = run_invoke("lab.down", env=env, timeout=600)
    assert again.rc == 0, again.stderr
