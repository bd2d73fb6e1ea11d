"""What the EC2 host and the docker target share: arms as containers from one compose file.

Each arm is a container of the Connect image with host networking; REST and the metrics
agent listen on the host's 127.0.0.1 and are reached through SSH forwards, so the same code
reaches an EC2 instance and the lab's connect host.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cdclab.core.jvm import worker_jvm_options
from cdclab.lab.config import Arm
from cdclab.ssh import SSHHost
from cdclab.ssh_tunnel import LocalForward
from cdclab.targets.run_connectors import RunArm
from cdclab.templating import DbTrust

# Inside each container (the connect_compose role mounts the arm's files there).
CONTAINER_SECRETS_FILE = "/cdclab/secrets.properties"
COMPOSE_SECURITY_FILE = "/cdclab/java.security"
COMPOSE_AGENT_JAR = "/cdclab/jolokia.jar"
# The CA of the user's Kafka brokers, when they name one (connect_compose puts it there).
CONTAINER_KAFKA_CA = "/cdclab/tls/kafka-ca.pem"
# The database's CA and its truststore (connect_compose's truststore tasks).
CONTAINER_TRUST = DbTrust(ca_file="/cdclab/tls/db-ca.pem", truststore="/cdclab/tls/truststore.p12")


def compose_arms(workers: list[Arm], *, metrics: bool) -> list[dict[str, Any]]:
    """The compose role's arms, each with its JVM options as the container sees its files
    (the java.security file and the agent jar are mounted under /cdclab)."""
    return [
        {
            "name": w.name,
            "rest_port": w.rest_port,
            "metrics_port": w.metrics_port,
            "security_properties": w.security_properties,
            "jvm_options": worker_jvm_options(
                w.jvm_opts,
                security_file=COMPOSE_SECURITY_FILE if w.security_properties else None,
                agent_jar=COMPOSE_AGENT_JAR if metrics else None,
                agent_host="127.0.0.1",  # REST and metrics listen on the host's loopback
                agent_port=w.metrics_port,
            ),
        }
        for w in workers
    ]


def forward_arms(
    ssh: SSHHost, arms: list[RunArm], workers: list[Arm], forwards: list[LocalForward]
) -> list[RunArm]:
    """The arms with REST and metrics URLs through SSH forwards to the host's loopback;
    the forwards opened are appended to `forwards` (the caller closes them)."""
    ports = {w.name: w for w in workers}
    updated = []
    for arm in arms:
        worker = ports[arm.name]
        rest = LocalForward(ssh, "127.0.0.1", worker.rest_port)
        forwards.append(rest)
        metrics = LocalForward(ssh, "127.0.0.1", worker.metrics_port)
        forwards.append(metrics)
        updated.append(
            dataclasses.replace(arm, rest_url=rest.url, metrics_url=f"{metrics.url}/jolokia/")
        )
    return updated


def close_forwards(forwards: list[LocalForward], ssh: SSHHost | None) -> None:
    """Close the arms' forwards, then the session they ride on."""
    for forward in forwards:
        forward.close()
    forwards.clear()
    if ssh is not None:
        ssh.close()
