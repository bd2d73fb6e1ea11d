"""The real local lab, end to end, through the command line a user types.

Needs root (namespaces, veths, iptables); CI runs as root. No mocks: MariaDB, Kafka,
Connect and Debezium are the real ones, and a row written to MariaDB must arrive on both
arms' Kafka topics.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cdclab.connect_rest import ConnectRest
from cdclab.core.kafka_security import KafkaSecurity
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.lab.config import load_saved
from cdclab.lab.extravars import connector_entry, lab_extravars
from cdclab.lab.processes import alive
from cdclab.lab.proof import prove
from cdclab.lab.teardown import lab_namespaces, teardown
from cdclab.reachability import check_kafka
from cdclab.targets.run_connectors import (
    RunArm,
    delete_run_connectors,
    register_run_connectors,
    run_server_id,
)
from tests.conftest import make_ca, run_invoke

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]

TEST_STATE = Path(os.environ.get("CDCLAB_TEST_STATE_DIR", "/var/lib/cdclab/test-lab"))
ENV = {"CDCLAB_STATE_DIR": str(TEST_STATE)}


def _lab_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(TEST_STATE) in line]


def _cdclab_rules() -> list[str]:
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    return [r for r in rules.splitlines() if "cdclab" in r]


@pytest.fixture(scope="module")
def lab_from_nothing():
    """The lab built from nothing: no namespace, no state. Only the jar cache may exist."""
    os.environ["CDCLAB_STATE_DIR"] = str(TEST_STATE)  # for teardown() in this process
    teardown(purge=False)  # namespaces are machine-wide: take down any lab that is up
    shutil.rmtree(TEST_STATE, ignore_errors=True)
    assert not lab_namespaces()
    up = run_invoke("lab.up", env=ENV)
    assert up.rc == 0, up.stderr
    return up  # left up for the next modules (tests/conftest.py); test_docker takes it down


def test_bad_subnet_is_refused_before_anything_exists():
    ran = run_invoke(
        "lab.up", "--subnet", "198.18.0.0/30", env={"CDCLAB_STATE_DIR": str(TEST_STATE) + "-bad"}
    )
    assert ran.rc != 0
    assert "subnet" in ran.stderr and "/28" in ran.stderr
    assert not Path(str(TEST_STATE) + "-bad").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
def test_without_root_lab_up_names_root_and_creates_nothing():
    ran = run_invoke(
        "lab.up",
        env={"CDCLAB_STATE_DIR": "/tmp/cdclab-nonroot-state"},
        prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    )
    assert ran.rc != 0
    assert "root" in ran.stderr
    assert not Path("/tmp/cdclab-nonroot-state").exists()


def test_dry_run_without_a_lab_prints_the_plan_and_creates_nothing():
    teardown()
    state = str(TEST_STATE) + "-dry"
    ran = run_invoke("lab.up", "--dry-run", env={"CDCLAB_STATE_DIR": state})
    assert ran.rc == 0, ran.stderr
    assert "cdclab-connect" in ran.stdout and "tls12" in ran.stdout
    assert not lab_namespaces()
    assert not Path(state, "lab.json").exists()


def test_a_dry_run_changes_nothing_and_then_a_dead_worker_is_restarted_by_lab_up(
    lab_from_nothing,
):
    ran = run_invoke("lab.up", "--dry-run", env=ENV)
    assert ran.rc == 0, ran.stderr
    assert "dry run: 0 change(s)" in ran.stderr
    # A dry run must not leave check mode behind for the next run (ansible-runner env files).
    pidfile = TEST_STATE / "connect" / "tls12" / "run" / "connect.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, 9)
    assert _wait_for(lambda: not alive(pid), timeout=10)  # SIGKILL is not instantaneous
    up = run_invoke("lab.up", env=ENV)
    assert up.rc == 0, up.stderr
    said = " ".join(up.stderr.split())  # the console wraps long lines
    assert "running the playbooks: process not running: connect/tls12/run/connect.pid" in said
    assert "Start connect-tls12" in up.stderr
    status = run_invoke("lab.status", "--json", env=ENV)
    assert status.rc == 0, status.stdout


def test_lab_comes_up_and_reports_both_arms_running_with_their_tls(lab_from_nothing):
    assert "change(s)" in lab_from_nothing.stderr
    status = run_invoke("lab.status", "--json", env=ENV)
    assert status.rc == 0, status.stderr
    report = status.json()
    assert all(h["answers"] for h in report["hosts"])
    arms = {a["name"]: a for a in report["arms"]}
    assert set(arms) == {"tls13", "tls12"}
    for arm in arms.values():
        assert (arm["connector_state"], arm["task_state"]) == ("RUNNING", "RUNNING")
    # Evidence from the server's view of each arm's binlog connection.
    assert arms["tls13"]["tls"]["version"] == "TLSv1.3"
    assert arms["tls13"]["tls"]["cipher"] == "TLS_AES_256_GCM_SHA384"
    assert arms["tls12"]["tls"]["version"] == "TLSv1.2"
    binlog = [s for s in arms["tls12"]["tls"]["sessions"] if s["purpose"] == "binlog"]
    assert len(binlog) == 1


def test_a_row_inserted_in_mariadb_arrives_on_both_topics(lab_from_nothing):
    canary = run_invoke("lab.canary", "--json", env=ENV)
    assert canary.rc == 0, canary.stdout + canary.stderr
    result = canary.json()
    assert result["writer_tls"] in ("TLSv1.2", "TLSv1.3")
    for arm in result["arms"]:
        assert arm["outcome"] == "delivered"
        assert 0 < arm["latency_ms"] < 30_000


def test_the_databases_refusals_are_named_with_their_fix(lab_from_nothing):
    """Preflight's words for what the real server says: a missing table, a wrong password,
    a CA bundle that did not sign its certificate; the lab's own writer passes."""
    import dataclasses
    import ssl

    from cdclab.canary import CanaryWriter
    from cdclab.lab.access import writer_account
    from cdclab.reachability import check_canary_table

    config = load_saved()
    account = writer_account(config)
    check_canary_table(CanaryWriter(account, config.canary_table))
    wrong = "wrong-" + os.urandom(4).hex()
    cases = [
        (CanaryWriter(account, "no_such_table"), "CREATE TABLE `cdclab`.`no_such_table`"),
        (
            CanaryWriter(dataclasses.replace(account, password=wrong), config.canary_table),
            f"the database refused user {account.user}",
        ),
        (
            CanaryWriter(
                dataclasses.replace(account, ca_file=Path(ssl.get_default_verify_paths().cafile)),
                config.canary_table,
            ),
            "presented a certificate that external.db_ca_file",
        ),
    ]
    for writer, says in cases:
        with pytest.raises(CdclabError) as raised:
            check_canary_table(writer)
        assert says in str(raised.value)
        assert wrong not in str(raised.value) and account.password not in str(raised.value)


def test_each_worker_serves_debezium_streaming_metrics(lab_from_nothing):
    """Jolokia on every worker answers with the binlog reader's own view: connected, and the
    canary just read is a recent event."""
    assert run_invoke("lab.canary", "--json", env=ENV).rc == 0
    status = run_invoke("lab.status", "--json", env=ENV)
    assert status.rc == 0, status.stderr
    for arm in status.json()["arms"]:
        metrics = arm["metrics"]
        assert "error" not in metrics, (arm["name"], metrics)
        assert metrics["connected"] is True
        assert metrics["events_seen"] >= 1
        assert 0 <= metrics["ms_since_last_event"] < 60_000


def test_lab_up_on_a_healthy_lab_proves_it_and_runs_no_playbook(lab_from_nothing):
    again = run_invoke("lab.up", env=ENV)
    assert again.rc == 0, again.stderr
    assert "proven healthy" in again.stderr
    assert "\u25b6" not in again.stderr  # no play started


def test_lab_up_full_runs_the_playbooks_and_changes_nothing(lab_from_nothing):
    again = run_invoke("lab.up", "--full", env=ENV)
    assert again.rc == 0, again.stderr
    assert "nothing changed" in again.stderr


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_the_proof_names_what_differs_from_what_lab_up_left(lab_from_nothing):
    """Each way a running lab can differ from lab.up's is caught, then undone by hand."""
    config = load_saved()
    extravars = lab_extravars(config)
    assert prove(config, extravars).healthy

    edited = TEST_STATE / "kafka" / "log4j.properties"
    original = edited.read_bytes()
    edited.write_bytes(original + b"# edited by hand\n")
    try:
        assert prove(config, extravars).reason == "file(s) changed: kafka/log4j.properties"
    finally:
        edited.write_bytes(original)

    other = config.model_copy(update={"canary_table": "other_canary"})
    assert prove(other, lab_extravars(other)).reason == "inputs changed"
    # Another experiment's arms on the same network, database and broker: only the workers'
    # plays need to run; not when a file of the rest of the lab was edited.
    armed = config.model_copy(update={"arms": config.arms[:1], "brokers": 2})
    assert prove(armed, lab_extravars(armed)).arms_only
    edited.write_bytes(original + b"# edited by hand\n")
    try:
        assert prove(armed, lab_extravars(armed)).reason == "inputs changed"
    finally:
        edited.write_bytes(original)

    arm = config.arms[0]
    rest = ConnectRest(config.rest_url(arm))
    rest.request("PUT", f"/connectors/{arm.connector_name}/pause")
    try:
        assert _wait_for(lambda: rest.connector_state(arm.connector_name).connector == "PAUSED")
        reason = prove(config, extravars).reason
        # the task follows its connector a moment later: either state of it is the truth
        assert reason.startswith(f"connector {arm.connector_name} is PAUSED, task "), reason
    finally:
        rest.request("PUT", f"/connectors/{arm.connector_name}/resume")

    # Every process alive and RUNNING, yet the binlog path blocked: only the canary sees it.
    port = str(config.db_port)
    rules = [
        ["INPUT", "-p", "tcp", "--sport", port, "-j", "DROP"],  # the binlog's data
        ["OUTPUT", "-p", "tcp", "--dport", port, "-j", "DROP"],
    ]
    tag = ["-m", "comment", "--comment", "cdclab:test-proof"]
    netns = ["ip", "netns", "exec", config.connect.namespace, "iptables", "-w"]
    for rule in rules:
        subprocess.run([*netns, "-I", *rule, *tag], check=True)
    try:
        assert _wait_for(
            lambda: rest.connector_state(arm.connector_name).task == "RUNNING", timeout=30
        )
        reason = prove(config, extravars).reason
        assert reason.startswith("canary not delivered within 10 s on: "), reason
    finally:
        for rule in rules:
            subprocess.run([*netns, "-D", *rule, *tag], check=True)
    assert _wait_for(lambda: prove(config, extravars).healthy, timeout=120)


def test_secrets_stay_out_of_ansible_artifacts_and_argv(lab_from_nothing):
    secrets = [p.read_text().strip() for p in (TEST_STATE / "secrets").iterdir()]
    assert secrets and all(len(s) >= 20 for s in secrets)
    leaked = []
    for path in (TEST_STATE / "ansible").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            leaked += [str(path) for s in secrets if s in text]
    assert not leaked
    argv = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert not any(s in argv for s in secrets)


def _run_connector(run_id: str) -> tuple[RunArm, dict]:
    """A run's connector on the lab's first arm, as a run registers it, and its config."""
    config = load_saved()
    lab_arm = config.arms[0]
    arm = RunArm(
        name=lab_arm.name,
        description="",
        jvm_opts="",
        rest_url=config.rest_url(lab_arm),
        metrics_url="",
        connector=f"cdclab-run-{run_id}-{lab_arm.name}",
        standing_connector=lab_arm.connector_name,
        topic=f"run_{run_id}.cdclab.canary",
        server_id=run_server_id(run_id, 0),
    )
    entry = connector_entry(
        config,
        lab_arm.model_copy(update={"server_id": arm.server_id}),
        name=arm.connector,
        topic_prefix=arm.topic_prefix,
    )
    return arm, entry["config"]


def test_a_run_connector_is_registered_running_and_a_bad_one_refused_by_name(lab_from_nothing):
    arm, config = _run_connector("0000feed")
    rest = ConnectRest(arm.rest_url)
    try:
        register_run_connectors([arm], {arm.name: config}, timeout_s=120)
        state = rest.connector_state(arm.connector)
        assert (state.connector, state.task) == ("RUNNING", "RUNNING")
        bad = {**config, "connector.class": "io.debezium.NoSuchConnector"}
        with pytest.raises(CdclabError, match=arm.connector):
            register_run_connectors([arm], {arm.name: bad}, timeout_s=30)
    finally:
        assert delete_run_connectors([arm]) == []
    # a DELETE is acknowledged before the worker has stopped the connector
    assert _wait_for(lambda: rest.connector_state(arm.connector).connector == "ABSENT", 30)


def test_connectors_refuse_a_database_their_ca_does_not_vouch_for(lab_from_nothing, tmp_path):
    # The arms verify the server's certificate (verify_ca against the lab's CA): given
    # another CA, in the PEM and the truststore alike, the connector must not connect.
    arm, config = _run_connector("0000bad0")
    tls = TEST_STATE / "connect" / arm.name / "tls"
    assert config["database.ssl.mode"] == "verify_ca"
    assert config["database.ssl.truststore"] == str(tls / "truststore.p12")
    other_ca, other_store = make_ca(tmp_path, "not the lab's CA"), tmp_path / "other.p12"
    subprocess.run(
        ["keytool", "-importcert", "-noprompt", "-alias", "other", "-file", str(other_ca),
         "-keystore", str(other_store), "-storetype", "PKCS12",
         "-storepass:file", str(tls / "truststore.pass")],
        check=True, capture_output=True,
    )  # fmt: skip
    foreign = {
        **config,
        "database.ssl.truststore": str(other_store),
        "driver.serverSslCert": str(other_ca),
    }
    try:
        # The JDBC side (schema, snapshot) checks first: registration is refused.
        with pytest.raises(CdclabError, match=arm.connector) as refused:
            register_run_connectors([arm], {arm.name: foreign}, timeout_s=90)
        assert "PKIX path building failed" in str(refused.value), refused.value
    finally:
        delete_run_connectors([arm])
    # The binlog client reads the truststore: with only that one foreign, the snapshot
    # passes, the stream is refused, and Debezium retries while REST says RUNNING.
    arm, config = _run_connector("0000bad1")
    log = TEST_STATE / "connect" / arm.name / "log" / "connect.log"
    start = log.stat().st_size
    try:
        register_run_connectors(
            [arm], {arm.name: {**config, "database.ssl.truststore": str(other_store)}}, 90
        )

        def refused_stream() -> bool:
            with log.open("rb") as handle:
                handle.seek(start)
                text = handle.read().decode(errors="replace")
            return "Unable to connect to the database" in text and "PKIX path" in text

        assert _wait_for(refused_stream, timeout=60), "the binlog client did not refuse"
        state = ConnectRest(arm.rest_url).connector_state(arm.connector)
        assert (state.connector, state.task) == ("RUNNING", "RUNNING")
    finally:
        delete_run_connectors([arm])


def test_the_sasl_ssl_listener_takes_its_scram_user_over_tls_and_names_what_is_wrong(
    lab_from_nothing,
):
    # The broker's second listener, as MSK's SCRAM one: this machine's client reads the
    # cluster with the user's password and the broker's CA; each mistake gets its fix.
    bootstrap = load_saved().kafka_sasl_ssl_bootstrap
    scram = KafkaSecurity(
        protocol="SASL_SSL",
        mechanism="SCRAM-SHA-512",
        user="cdclab",
        ca_file=str(TEST_STATE / "kafka" / "tls" / "ca.pem"),
    )
    password = (TEST_STATE / "secrets" / "kafka_scram_password").read_text().strip()
    check_kafka(bootstrap, scram.librdkafka(password))
    with pytest.raises(InvalidInputError, match="refused the SASL login") as refused:
        check_kafka(bootstrap, scram.librdkafka("not-" + password), timeout=5)
    assert password not in str(refused.value)
    unknown_ca = dataclasses.replace(scram, ca_file=None)  # the system's CAs never signed it
    with pytest.raises(InvalidInputError, match=r"external\.kafka_ca_file"):
        check_kafka(bootstrap, unknown_ca.librdkafka(password), timeout=5)


def _session_sshd_pids(namespace: str, local_port: int) -> list[int]:
    """The sshd processes serving the connection from local_port (not the listener)."""
    listed = subprocess.run(
        ["ip", "netns", "exec", namespace, "ss", "-tnpH", "state", "established"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = []
    for line in listed.splitlines():
        fields = line.split()
        if fields[3].endswith(f":{local_port}"):
            pids += [int(p) for p in re.findall(r"pid=(\d+)", line)]
    return pids


def test_a_session_whose_sshd_stopped_answering_is_replaced(lab_from_nothing):
    """A command on a persistent session whose server process hangs (SIGSTOP here) gets no
    channel; the session is replaced and the command runs once, on a new one."""
    from cdclab.lab.access import ssh_to

    config = load_saved()
    with ssh_to(config.connect) as ssh:
        assert ssh.run(["true"]).ok
        stale = ssh.client.get_transport()
        pids = _session_sshd_pids(config.connect.namespace, stale.sock.getsockname()[1])
        assert pids, "no sshd process serves this session"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            again = ssh.run(["echo", "again"])
            assert (again.rc, again.stdout) == (0, "again\n")
            assert ssh.client.get_transport() is not stale
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
