"""The Jinja2 templates render what the field report ran, and reject what they must."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import connector_entry, lab_extravars
from cdclab.paths import ROLES_DIR
from cdclab.templating import DbTrust, environment, render_connector_config, ssl_mode_for

FIELD_REPORT_SETTINGS = {
    "heartbeat.interval.ms": "10000",
    "heartbeat.action.query": "SELECT 1",
    "connect.timeout.ms": "30000",
    "errors.tolerance": "none",
    "errors.retry.timeout": "60000",
    "snapshot.mode": "no_data",
    "database.ssl.mode": "required",
}


def _connector(**given):
    arguments = {
        "name": "cdclab-tls13",
        "connector_class": "io.debezium.connector.mariadb.MariaDbConnector",
        "db_host": "198.18.213.10",
        "db_port": 3306,
        "db_user": "cdclab_cdc",
        "secrets_file": "/s/secrets.properties",
        "server_id": 5401,
        "topic_prefix": "lab_tls13",
        "database": "cdclab",
        "table": "canary",
        "bootstrap_servers": "198.18.213.20:9092",
    }
    return render_connector_config(**{**arguments, **given})


def test_connector_carries_the_field_report_settings():
    config = _connector()
    for key, value in FIELD_REPORT_SETTINGS.items():
        assert config[key] == value, key
    assert config["table.include.list"] == "cdclab.canary"
    assert config["database.server.id"] == "5401"
    assert config["topic.prefix"] == "lab_tls13"
    assert config["schema.history.internal.kafka.topic"] == "lab_tls13.schema-history"


def test_connector_topics_take_the_clusters_replication_factor_unless_overridden():
    # -1: the broker's default.replication.factor, so a cluster with min.insync.replicas >= 2
    # gets topics it can acknowledge writes to.
    assert _connector()["topic.creation.default.replication.factor"] == "-1"
    overridden = _connector(overrides={"topic.creation.default.replication.factor": 3})
    assert overridden["topic.creation.default.replication.factor"] == "3"


def test_connector_values_are_strings_as_connect_returns_them():
    # lab.up compares the registered config with this one to decide "changed".
    assert all(isinstance(v, str) for v in _connector().values())


def test_connector_password_is_a_file_reference_never_the_secret():
    config = _connector()
    assert config["database.password"] == "${file:/s/secrets.properties:database.password}"


def test_connector_overrides_win_and_are_stringified():
    config = _connector(overrides={"use.nongraceful.disconnect": True, "heartbeat.interval.ms": 0})
    assert config["use.nongraceful.disconnect"] == "true"
    assert config["heartbeat.interval.ms"] == "0"


def test_connector_override_of_name_is_refused():
    with pytest.raises(ValueError, match="name"):
        _connector(overrides={"name": "other"})


def test_lab_connectors_differ_per_arm():
    config = LabConfig()
    entries = [connector_entry(config, arm) for arm in config.arms]
    ids = {e["config"]["database.server.id"] for e in entries}
    prefixes = {e["config"]["topic.prefix"] for e in entries}
    urls = {e["rest_url"] for e in entries}
    assert len(ids) == len(prefixes) == len(urls) == len(config.arms) == 2


def test_extravars_hold_no_secret(tmp_path, monkeypatch):
    # ansible-runner puts extravars in its artifacts: the generated passwords must not be
    # there, only the ${file:...} reference the worker resolves.
    from cdclab.secrets import DB_CDC_PASSWORD, DB_WRITER_PASSWORD, ensure_secret

    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    values = [ensure_secret(n).read_text() for n in (DB_CDC_PASSWORD, DB_WRITER_PASSWORD)]
    text = json.dumps(lab_extravars(LabConfig()))
    assert all(len(v) >= 20 and v not in text for v in values)
    assert "${file:" in text


def _role_template(role: str, name: str, **variables) -> str:
    env = environment(ROLES_DIR / role / "templates")
    return env.get_template(name).render(ansible_managed="managed", **variables)


def _properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"]
    return {k.strip(): v.strip() for k, v in pairs}


def test_worker_properties_give_each_arm_its_own_group_topics_and_port():
    text = _role_template(
        "connect_worker",
        "worker.properties.j2",
        connect_worker_arm="tls12",
        connect_worker_bootstrap_servers="198.18.213.20:9092",
        connect_worker_group_id="cdclab-tls12",
        connect_worker_config_topic="cdclab-tls12-configs",
        connect_worker_offset_topic="cdclab-tls12-offsets",
        connect_worker_status_topic="cdclab-tls12-status",
        connect_worker_offset_flush_interval_ms=10000,
        connect_worker_rest_address="198.18.213.20",
        connect_worker_rest_port=8084,
        connect_worker_plugin_path="/d/plugins",
    )
    props = _properties(text)
    assert props["group.id"] == "cdclab-tls12"
    assert props["listeners"] == "http://198.18.213.20:8084"
    assert props["config.storage.topic"] == "cdclab-tls12-configs"
    assert props["offset.storage.topic"] == "cdclab-tls12-offsets"
    assert props["status.storage.topic"] == "cdclab-tls12-status"
    assert props["config.storage.replication.factor"] == "1"
    assert props["plugin.path"] == "/d/plugins"
    # Secrets are resolved by the worker's FileConfigProvider.
    assert props["config.providers"] == "file"
    assert props["config.providers.file.class"].endswith("FileConfigProvider")


def test_pom_lists_the_bundle_and_pins_the_plugin():
    bundle = {
        "name": "plugins/debezium-connector-mariadb-2.7.0.Final",
        "dependencies": [
            {
                "group": "io.debezium",
                "artifact": "debezium-connector-mariadb",
                "version": "2.7.0.Final",
            },
        ],
    }
    text = _role_template(
        "kafka_dist", "pom.xml.j2", bundle=bundle, kafka_dist_maven_dependency_plugin="3.6.1"
    )
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.fromstring(text)
    deps = root.findall("m:dependencies/m:dependency", ns)
    assert [(d.find("m:artifactId", ns).text, d.find("m:version", ns).text) for d in deps] == [
        ("debezium-connector-mariadb", "2.7.0.Final")
    ]
    assert root.find("m:artifactId", ns).text == "plugins-debezium-connector-mariadb-2.7.0.Final"
    plugin = root.find("m:build/m:plugins/m:plugin", ns)
    assert plugin.find("m:version", ns).text == "3.6.1"


def test_mariadb_config_offers_tls12_and_tls13_and_row_binlog():
    text = _role_template(
        "mariadb_tls",
        "my.cnf.j2",
        mariadb_tls_os_user="mysql",
        mariadb_tls_base_dir="/b",
        mariadb_tls_bind_address="1.2.3.4",
        mariadb_tls_port=3306,
        mariadb_tls_server_id=1,
        mariadb_tls_binlog_expire_seconds=60,
        mariadb_tls_versions="TLSv1.2,TLSv1.3",
        mariadb_tls_require_secure_transport=True,
    )
    props = _properties(text)
    assert props["tls_version"] == "TLSv1.2,TLSv1.3"
    assert props["binlog_format"] == "ROW"
    assert props["binlog_row_image"] == "FULL"
    assert props["server_id"] == "1"
    assert props["require_secure_transport"] == "ON"


LAB_TRUST = DbTrust(ca_file="/t/db-ca.pem", truststore="/t/truststore.p12")


def test_without_a_ca_the_connection_is_encrypted_but_unverified():
    config = _connector()
    assert config["database.ssl.mode"] == "required"
    assert not any(key.startswith(("database.ssl.trust", "driver.")) for key in config)


def test_with_a_ca_the_connector_verifies_the_server_against_it():
    config = _connector(trust=LAB_TRUST)
    assert config["database.ssl.mode"] == "verify_ca"  # the lab's database is an IP address
    assert config["database.ssl.truststore"] == "/t/truststore.p12"
    # A file reference like the database password: REST and results never hold it.
    assert config["database.ssl.truststore.password"] == (
        "${file:/s/secrets.properties:database.ssl.truststore.password}"
    )
    # MariaDB Connector/J verifies against the PEM it is given, not the truststore.
    assert config["driver.serverSslCert"] == "/t/db-ca.pem"


def test_the_mysql_connector_gets_the_truststore_only():
    config = _connector(
        trust=LAB_TRUST,
        connector_class="io.debezium.connector.mysql.MySqlConnector",
        db_host="db.cluster-abc.eu-west-1.rds.amazonaws.com",
    )
    assert config["database.ssl.mode"] == "verify_identity"
    assert "driver.serverSslCert" not in config


def test_an_explicit_mode_and_an_arms_override_win():
    strict = DbTrust(ca_file="/c", truststore="/t", mode="verify_identity")
    assert _connector(trust=strict)["database.ssl.mode"] == "verify_identity"
    relaxed = _connector(trust=LAB_TRUST, overrides={"database.ssl.mode": "required"})
    assert relaxed["database.ssl.mode"] == "required"


@given(st.ip_addresses())
def test_an_address_is_verified_by_its_ca_only(address):
    assert ssl_mode_for(str(address)) == "verify_ca"


@given(st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,10}){1,3}", fullmatch=True))
def test_a_name_is_verified_by_its_ca_and_identity(name):
    assert ssl_mode_for(name) == "verify_identity"


def test_a_release_with_mariadb_ssl_mode_names_gets_them_whatever_the_arm_wrote():
    """From Debezium 3.1 the MariaDB connector refuses MySQL's names (measured with
    3.5.0.Final: "Value must be one of trust, disable, verify-ca, verify-full")."""
    from cdclab.core.spec import mariadb_ssl_mode_names
    from cdclab.templating import DbTrust, render_connector_config

    def mode(overrides, *, release):
        return render_connector_config(
            name="c",
            connector_class="io.debezium.connector.mariadb.MariaDbConnector",
            db_host="198.18.0.10",
            db_port=3306,
            db_user="u",
            secrets_file="/s",
            server_id=1,
            topic_prefix="p",
            database="d",
            table="t",
            bootstrap_servers="b:9092",
            trust=DbTrust(ca_file="/ca.pem", truststore="/t.p12"),
            overrides=overrides,
            mariadb_ssl_modes=mariadb_ssl_mode_names(release),
        )["database.ssl.mode"]

    assert mode({}, release="2.7.0.Final") == "verify_ca"
    assert mode({}, release="3.0.1.Final") == "verify_ca"
    assert mode({}, release="3.5.0.Final") == "verify-ca"
    assert mode({"database.ssl.mode": "required"}, release="3.5.0.Final") == "trust"
    assert mode({"database.ssl.mode": "verify_identity"}, release="3.1.0.Final") == "verify-full"
    assert mode({"database.ssl.mode": "verify-full"}, release="3.5.0.Final") == "verify-full"
