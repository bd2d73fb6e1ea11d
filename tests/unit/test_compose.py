"""The AWS target's docker-compose.yml, rendered from the connect_compose role's template."""

from __future__ import annotations

import subprocess

import jinja2
import yaml

from cdclab.core.kafka_security import WORKER_PREFIXES, KafkaSecurity, prefixed
from cdclab.lab.config import Arm
from cdclab.paths import ROLES_DIR
from cdclab.targets.compose import compose_arms

ARMS = [
    Arm(name="tls13", rest_port=8083, server_id=1),
    Arm(
        name="tls12",
        rest_port=8084,
        server_id=2,
        jvm_opts="-Djdk.tls.client.protocols=TLSv1.2",
        security_properties={"jdk.tls.keyLimits": "AES/GCM/NoPadding KeyUpdate 2^20"},
    ),
]


def _render(**overrides) -> str:
    # The arms as the AWS target hands them over: JVM options computed by cdclab, with the
    # agent when the role mounts one.
    metrics = bool(overrides.get("connect_compose_jolokia_jar", "/opt/cdclab/agents/jolokia.jar"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLES_DIR / "connect_compose" / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    variables = {
        "connect_compose_dir": "/opt/cdclab",
        "connect_compose_project": "cdclab",
        "connect_compose_image": "quay.io/debezium/connect",
        "connect_compose_image_tag": "2.7.3.Final",
        "connect_compose_bootstrap_servers": "b-1.msk.example:9092",
        "connect_compose_heap": "-Xms256m -Xmx1g",
        "connect_compose_arms": compose_arms(ARMS, metrics=metrics),
        "connect_compose_jolokia_jar": "/opt/cdclab/agents/jolokia.jar",
        "connect_compose_replication_factor": -1,
        "connect_compose_kafka_properties": {},
        **overrides,
    }
    return env.get_template("docker-compose.yml.j2").render(**variables)


def test_two_arms_are_two_workers_with_their_own_group_topics_and_options():
    compose = yaml.safe_load(_render())
    services = compose["services"]
    assert set(services) == {"connect-tls13", "connect-tls12"}
    for arm in ARMS:
        service = services[f"connect-{arm.name}"]
        env = service["environment"]
        assert service["image"] == "quay.io/debezium/connect:2.7.3.Final"
        assert service["network_mode"] == "host"  # host iptables rules see the traffic
        assert env["GROUP_ID"] == f"cdclab-{arm.name}"
        assert env["BOOTSTRAP_SERVERS"] == "b-1.msk.example:9092"
        for kind in ("CONFIG", "OFFSET", "STATUS"):
            assert env[f"{kind}_STORAGE_TOPIC"].startswith(f"cdclab-{arm.name}-")
        # REST only on loopback: reached through SSH, never through the security group.
        assert (env["REST_HOST_NAME"], env["REST_PORT"]) == ("127.0.0.1", str(arm.rest_port))
        assert f"port={arm.metrics_port}" in env["KAFKA_OPTS"]
        assert "host=127.0.0.1" in env["KAFKA_OPTS"]
        assert "ports" not in service
    tls12 = services["connect-tls12"]["environment"]["KAFKA_OPTS"]
    assert tls12.startswith("-Djdk.tls.client.protocols=TLSv1.2 -Djava.security.properties=")
    assert "jdk.tls" not in services["connect-tls13"]["environment"]["KAFKA_OPTS"]
    volumes = services["connect-tls12"]["volumes"]
    assert "/opt/cdclab/tls12/java.security:/cdclab/java.security:ro" in volumes
    assert not any("password" in str(v).lower() for v in services["connect-tls12"].values())
    # Connect's internal topics take the cluster's replication factor (-1), not 1.
    assert env["CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR"] == "-1"


def test_without_the_agent_there_is_no_javaagent():
    compose = yaml.safe_load(_render(connect_compose_jolokia_jar=""))
    assert "javaagent" not in compose["services"]["connect-tls13"]["environment"]["KAFKA_OPTS"]


def test_docker_compose_accepts_the_file(tmp_path):
    path = tmp_path / "docker-compose.yml"
    path.write_text(_render())
    checked = subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--quiet"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


SCRAM = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", user="cdclab", ca_file="/x")
SCRAM_JAVA = SCRAM.java(
    secrets_file="/cdclab/secrets.properties", ca_file="/cdclab/tls/kafka-ca.pem"
)


def test_the_workers_clients_speak_the_clusters_security_as_compose_reads_it(tmp_path):
    # What the worker's properties become after compose's own interpolation: ${file:...}
    # must reach the entrypoint untouched, for Connect's FileConfigProvider to resolve.
    path = tmp_path / "docker-compose.yml"
    path.write_text(_render(connect_compose_kafka_properties=prefixed(SCRAM_JAVA, WORKER_PREFIXES)))
    shown = subprocess.run(
        ["docker", "compose", "-f", str(path), "config"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    env = yaml.safe_load(shown.stdout)["services"]["connect-tls13"]["environment"]
    # `config` prints what it read escaped again ($$): one $ reaches the container.
    reference = "$${file:/cdclab/secrets.properties:kafka.password}"
    for prefix in ("", "PRODUCER_", "CONSUMER_", "ADMIN_"):
        assert env[f"CONNECT_{prefix}SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env[f"CONNECT_{prefix}SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env[f"CONNECT_{prefix}SSL_TRUSTSTORE_LOCATION"] == "/cdclab/tls/kafka-ca.pem"
        assert env[f"CONNECT_{prefix}SASL_JAAS_CONFIG"] == (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="cdclab" password="{reference}";'
        )
