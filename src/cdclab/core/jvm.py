"""Every option an arm's Connect worker JVM starts with beyond its heap, decided once.

The lab's worker (connect_worker role) and the EC2 host's container (connect_compose
role, as KAFKA_OPTS) both take this string as it is: the arm's own options, then its
java.security file (security properties are not -D properties), then the metrics agent.
"""

from __future__ import annotations


def worker_jvm_options(
    arm_options: str,
    *,
    security_file: str | None,
    agent_jar: str | None,
    agent_host: str,
    agent_port: int,
) -> str:
    options = arm_options.split()
    if security_file:
        options.append(f"-Djava.security.properties={security_file}")
    if agent_jar and agent_port > 0:
        # Jolokia serves the worker's JMX (Debezium's streaming metrics) as JSON.
        options.append(
            f"-javaagent:{agent_jar}=host={agent_host},port={agent_port},discoveryEnabled=false"
        )
    return " ".join(options)
