"""One description of a cluster's security, spoken to Java clients and to librdkafka."""

from __future__ import annotations

import pytest

from cdclab.core.kafka_security import SCHEMA_HISTORY_PREFIXES, KafkaSecurity, prefixed
from cdclab.core.spec import ExternalSpec
from cdclab.templating import render_connector_config

SECRETS = "/cdclab/secrets.properties"


def test_plaintext_says_so_and_nothing_else():
    security = KafkaSecurity()
    assert security.java(secrets_file=SECRETS, ca_file=None) == {"security.protocol": "PLAINTEXT"}
    assert security.librdkafka() == {"security.protocol": "PLAINTEXT"}


def test_tls_trusts_the_given_ca_or_the_systems():
    given = KafkaSecurity(protocol="SSL", ca_file="/here/ca.pem")
    java = given.java(secrets_file=SECRETS, ca_file="/cdclab/tls/kafka-ca.pem")
    assert java["ssl.truststore.type"] == "PEM"  # Kafka reads PEM itself: no keytool
    assert java["ssl.truststore.location"] == "/cdclab/tls/kafka-ca.pem"
    assert given.librdkafka()["ssl.ca.location"] == "/here/ca.pem"
    system = KafkaSecurity(protocol="SSL")
    assert "ssl.truststore.location" not in system.java(secrets_file=SECRETS, ca_file=None)
    assert system.librdkafka()["ssl.ca.location"] == "probe"


def test_scram_gives_java_a_reference_and_librdkafka_the_secret():
    security = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", user="u")
    jaas = security.java(secrets_file=SECRETS, ca_file=None)["sasl.jaas.config"]
    assert 'password="${file:/cdclab/secrets.properties:kafka.password}"' in jaas
    assert "s3cret" not in jaas
    client = security.librdkafka("s3cret")
    assert (client["sasl.mechanism"], client["sasl.username"], client["sasl.password"]) == (
        "SCRAM-SHA-512",
        "u",
        "s3cret",
    )


def test_msk_iam_is_the_login_module_in_java_and_a_signed_token_here(monkeypatch):
    security = KafkaSecurity(protocol="SASL_SSL", mechanism="AWS_MSK_IAM", region="eu-west-1")
    java = security.java(secrets_file=SECRETS, ca_file=None)
    assert java["sasl.mechanism"] == "AWS_MSK_IAM"
    assert java["sasl.jaas.config"].startswith("software.amazon.msk.auth.iam.IAMLoginModule")
    client = security.librdkafka()
    assert client["sasl.mechanism"] == "OAUTHBEARER"
    # The signer presigns with this machine's credentials, offline (no call to AWS).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    token, expiry = client["oauth_cb"](None)
    assert token and expiry > 1e9


def test_the_schema_history_clients_get_the_same_security():
    java = KafkaSecurity(protocol="SSL").java(secrets_file=SECRETS, ca_file=None)
    config = render_connector_config(
        name="c", connector_class="io.debezium.connector.mysql.MySqlConnector",
        db_host="db", db_port=3306, db_user="u", secrets_file=SECRETS, server_id=1,
        topic_prefix="p", database="d", table="t", bootstrap_servers="b:9094",
        kafka_client=java,
    )  # fmt: skip
    for prefix in SCHEMA_HISTORY_PREFIXES:
        assert config[prefix + "security.protocol"] == "SSL"
    assert prefixed({"a": "1"}, ("x.", "y.")) == {"x.a": "1", "y.a": "1"}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"kafka_security": "SASL_SSL"}, "kafka_sasl_mechanism"),
        ({"kafka_sasl_mechanism": "AWS_MSK_IAM"}, "kafka_sasl_mechanism"),
        ({"kafka_security": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512"}, "kafka_user"),
        (
            {"kafka_security": "SASL_SSL", "kafka_sasl_mechanism": "AWS_MSK_IAM"}
            | {"kafka_user": "u"},
            "kafka_user",
        ),
        ({"kafka_ca_file": "ca.pem"}, "kafka_ca_file"),
        ({"kafka_password_from": "hunter2"}, "kafka_password_from"),
    ],
)
def test_an_incomplete_security_is_refused_by_name(settings, named):
    with pytest.raises(ValueError, match=named):
        ExternalSpec(**settings)


def test_a_whole_scram_setting_is_taken():
    spec = ExternalSpec(
        kafka_security="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_user="cdclab",
        kafka_password_from="env:KAFKA_PW",
    )
    assert spec.kafka().mechanism == "SCRAM-SHA-512"
