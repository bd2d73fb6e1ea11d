"""What the lab playbooks are given: paths, versions, the lab's shape, the connectors."""

from __future__ import annotations

from typing import Any

from cdclab.core.jvm import worker_jvm_options
from cdclab.core.spec import mariadb_ssl_mode_names, needs_connect4
from cdclab.lab.config import Arm, LabConfig
from cdclab.paths import cache_dir, state_dir
from cdclab.templating import DbTrust, render_connector_config
from cdclab.versions import Versions, jolokia_agent_jar, load_versions

BRIDGE = "cdclab-br0"
CDC_USER = "cdclab_cdc"
WRITER_USER = "cdclab_writer"


def connector_secrets_file(arm_name: str) -> str:
    return str(state_dir() / "connect" / arm_name / "secrets.properties")


def connector_trust(arm_name: str) -> DbTrust:
    """The lab's CA and its truststore, in the arm's directory (connect_worker's truststore
    tasks put them there)."""
    tls = state_dir() / "connect" / arm_name / "tls"
    return DbTrust(ca_file=str(tls / "db-ca.pem"), truststore=str(tls / "truststore.p12"))


def connector_entry(
    config: LabConfig, arm: Arm, *, name: str | None = None, topic_prefix: str | None = None
) -> dict[str, Any]:
    """One {name, rest_url, config} for playbooks/register.yml."""
    versions = load_versions()
    connector_name = name or arm.connector_name
    return {
        "name": connector_name,
        "rest_url": config.rest_url(arm),
        "config": render_connector_config(
            name=connector_name,
            connector_class=versions.debezium_connector_class,
            db_host=config.db.address,
            db_port=config.db_port,
            db_user=CDC_USER,
            secrets_file=connector_secrets_file(arm.name),
            server_id=arm.server_id,
            topic_prefix=topic_prefix or arm.topic_prefix,
            database=config.database,
            table=config.canary_table,
            bootstrap_servers=config.kafka_bootstrap,
            trust=connector_trust(arm.name),
            overrides=arm.connector,
            mariadb_ssl_modes=mariadb_ssl_mode_names(arm.debezium or versions.debezium),
        ),
    }


def connect_release(debezium: str, pinned: Versions) -> str:
    """The Kafka Connect release a worker running this Debezium release needs: the lab's
    Kafka (3.7) up to Debezium 3.0, Kafka Connect 4 (versions.yml connect4) after it."""
    return pinned.connect4 if needs_connect4(debezium) else pinned.kafka


def lab_jvm_options(config: LabConfig, arm: Arm) -> str:
    """The lab worker's JVM options: its java.security file in its directory, the Jolokia
    agent the lab fetched (kafka_dist's agents bundle) on the REST address."""
    agent = jolokia_agent_jar(state_dir() / "dist")
    security = state_dir() / "connect" / arm.name / "java.security"
    return worker_jvm_options(
        arm.jvm_opts,
        security_file=str(security) if arm.security_properties else None,
        agent_jar=str(agent),
        agent_host=config.connect.address,
        agent_port=arm.metrics_port,
    )


def _arm(config: LabConfig, arm: Arm, pinned: Versions) -> dict[str, Any]:
    debezium = arm.debezium or pinned.debezium
    return {
        "name": arm.name,
        "rest_port": arm.rest_port,
        "metrics_port": arm.metrics_port,
        "jvm_options": lab_jvm_options(config, arm),
        "security_properties": arm.security_properties,
        "debezium": debezium,
        "connect": connect_release(debezium, pinned),
    }


def lab_extravars(config: LabConfig) -> dict[str, Any]:
    pinned = load_versions()
    arms = [_arm(config, a, pinned) for a in config.arms]
    return {
        "cdclab_state_dir": str(state_dir()),
        "cdclab_cache_dir": str(cache_dir()),
        "cdclab_versions": pinned.model_dump(),
        "cdclab_lab": {
            "bridge": BRIDGE,
            "bridge_address": config.bridge_address,
            "prefixlen": config.prefixlen,
            "subnet": config.subnet,
            "hosts": {host.name: host.address for host in config.hosts},
            "host_list": [
                {"name": h.name, "namespace": h.namespace, "address": h.address}
                for h in config.hosts
            ],
            "db_port": config.db_port,
            "kafka_port": config.kafka_port,
            "kafka_bootstrap": config.kafka_bootstrap,
            "brokers": config.brokers,
            "database": config.database,
            "canary_table": config.canary_table,
            "load_table": config.load_table,
            "cdc_user": CDC_USER,
            "writer_user": WRITER_USER,
            "arms": arms,
            # Every Debezium release an arm runs: each is fetched into its own plugin.path;
            # and every Kafka Connect release beyond the lab's Kafka, each its own classpath.
            "debezium_versions": sorted({a["debezium"] for a in arms}),
            "connect_versions": sorted({a["connect"] for a in arms} - {pinned.kafka}),
        },
        "cdclab_connectors": [connector_entry(config, arm) for arm in config.arms],
    }
