"""Preflight from the machine that writes canaries: a database or Kafka it cannot use is
named with what to open, grant or give, before anything is created. The unreachable cases
are real connections to a closed loopback port; the server's refusals (a wrong password, a
missing table, a certificate that does not verify) are the lab test's
(tests/integration/test_lab.py)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pymysql
import pytest

from cdclab.canary import CanaryWriter, DbAccount
from cdclab.errors import InvalidInputError, PrerequisiteError
from cdclab.reachability import check_canary_table, check_kafka, explain_db_error
from cdclab.targets.aws import check_jolokia_source
from cdclab.versions import load_versions

PASSWORD = "n0t-in-any-message"
SYSTEM_BUNDLE = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def _closed_port() -> int:
    """A loopback port nobody listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _writer(port: int, ca_file: Path = SYSTEM_BUNDLE) -> CanaryWriter:
    account = DbAccount(
        host="127.0.0.1",
        port=port,
        user="writer",
        password=PASSWORD,
        ca_file=ca_file,
        database="cdclab",
        connect_timeout=2.0,
    )
    return CanaryWriter(account, "canary")


def test_a_database_that_does_not_answer_is_named_with_the_rule_to_add():
    port = _closed_port()
    with pytest.raises(InvalidInputError) as raised:
        check_canary_table(_writer(port))
    message = str(raised.value)
    assert f"cannot reach the database at 127.0.0.1:{port}" in message
    assert f"inbound rule for TCP {port}" in message
    assert "CREATE TABLE" not in message and PASSWORD not in message


def test_a_ca_bundle_that_is_no_pem_names_the_field(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    with pytest.raises(InvalidInputError) as raised:
        check_canary_table(_writer(_closed_port(), bundle))
    assert f"external.db_ca_file: {bundle} cannot be loaded as a CA bundle" in str(raised.value)


def test_a_kafka_that_does_not_answer_is_named_before_anything_exists():
    port = _closed_port()
    with pytest.raises(InvalidInputError) as raised:
        check_kafka(f"127.0.0.1:{port}", timeout=2.0)
    message = str(raised.value)
    assert f"cannot read the cluster's metadata from 127.0.0.1:{port} within 2 s" in message
    assert "security group" in message


def test_no_kafka_bootstrap_names_the_field():
    with pytest.raises(InvalidInputError, match=r"external\.kafka_bootstrap: empty"):
        check_kafka("")


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (pymysql.err.OperationalError(1045, "Access denied for user 'writer'@'h'"), "refused"),
        (pymysql.err.ProgrammingError(1146, "Table 'cdclab.canary' doesn't exist"), "CREATE TABLE"),
        (pymysql.err.OperationalError(1049, "Unknown database 'cdclab'"), "CREATE DATABASE"),
        (pymysql.err.OperationalError(1142, "SELECT command denied"), "GRANT SELECT"),
        (
            pymysql.err.OperationalError(2003, "Can't connect ([SSL: CERTIFICATE_VERIFY_FAILED])"),
            "does not verify",
        ),
    ],
)
def test_each_refusal_gets_its_own_fix(error, says):
    text = explain_db_error(error, _writer(3306))
    assert says in text and PASSWORD not in text
    markers = {"refused", "CREATE TABLE", "CREATE DATABASE", "GRANT SELECT", "does not verify"}
    assert [m for m in markers if m in text] == [says], text  # one fix, the right one


def test_metrics_need_the_jolokia_agent_or_maven_and_java_here(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_CACHE_DIR", str(tmp_path))
    nothing = {}.get  # a machine with neither mvn nor java
    with pytest.raises(PrerequisiteError) as raised:
        check_jolokia_source(True, which=nothing)
    assert "mvn, for fetching the Jolokia agent (apt-get install -y maven)" in str(raised.value)
    assert "metrics.enabled=false" in str(raised.value)
    check_jolokia_source(False, which=nothing)  # without metrics nothing is fetched
    check_jolokia_source(True, which=lambda name: f"/usr/bin/{name}")
    version = load_versions().jolokia
    lib = tmp_path / "aws-dist" / "agents" / f"jolokia-{version}" / "lib"
    lib.mkdir(parents=True)
    (lib / f"jolokia-agent-jvm-{version}-javaagent.jar").write_bytes(b"PK")
    check_jolokia_source(True, which=nothing)  # fetched before: nothing else is needed
