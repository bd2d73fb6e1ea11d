"""How every Kafka client of a run authenticates: the Connect workers and their connectors'
producers (Java), Debezium's schema history clients (Java), and this machine's canary
consumer and admin (librdkafka through confluent-kafka).

One description, two dialects. Java clients are given the password as a FileConfigProvider
reference, never the secret; this machine's clients get the resolved secret in memory only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")
MSK_IAM = "AWS_MSK_IAM"
MECHANISMS = (*SCRAM, MSK_IAM)
# The key of the Kafka password in a worker's secrets file, beside database.password.
PASSWORD_KEY = "kafka.password"
# Where the worker's own clients and the ones it runs connectors with take their settings.
WORKER_PREFIXES = ("", "producer.", "consumer.", "admin.")
# Debezium's schema history topic has a producer and a consumer of its own.
SCHEMA_HISTORY_PREFIXES = ("schema.history.internal.producer.", "schema.history.internal.consumer.")

MSK_IAM_JAVA = {
    "sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}


@dataclasses.dataclass(frozen=True)
class KafkaSecurity:
    """A cluster's listener as its clients must speak to it.

    `ca_file`: the CA (PEM) that signed the brokers' certificates, None for the clients'
    default trust (MSK's certificates chain to a public CA). `user`: the SCRAM user.
    `region`: where MSK IAM tokens are signed for."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    user: str | None = None
    ca_file: str | None = None
    region: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def java(self, *, secrets_file: str, ca_file: str | None) -> dict[str, str]:
        """Client properties for a JVM whose secrets file is `secrets_file` and which sees
        the CA at `ca_file` (its own path for it)."""
        props = {"security.protocol": self.protocol}
        if self.tls and ca_file:
            # Kafka reads PEM truststores itself (KIP-651): no keytool, no store password.
            props |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": ca_file}
        if self.mechanism in SCRAM:
            password = "${file:" + secrets_file + ":" + PASSWORD_KEY + "}"
            props |= {
                "sasl.mechanism": self.mechanism,
                "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
                f'required username="{self.user}" password="{password}";',
            }
        elif self.mechanism == MSK_IAM:
            props |= {"sasl.mechanism": MSK_IAM, **MSK_IAM_JAVA}
        return props

    def librdkafka(self, password: str | None = None) -> dict[str, Any]:
        """Settings for confluent-kafka's Consumer and AdminClient on this machine."""
        config: dict[str, Any] = {"security.protocol": self.protocol}
        if self.tls:
            # Without a CA file, the system's store (probe), where public CAs are.
            config["ssl.ca.location"] = self.ca_file or "probe"
        if self.mechanism in SCRAM:
            config |= {
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.user,
                "sasl.password": password,
            }
        elif self.mechanism == MSK_IAM:
            config |= {"sasl.mechanism": "OAUTHBEARER", "oauth_cb": msk_iam_token(self.region)}
        return config


def prefixed(props: dict[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The same client properties under each prefix (worker.producer., ...)."""
    return {prefix + key: value for prefix in prefixes for key, value in props.items()}


def msk_iam_token(region: str | None) -> Callable[[Any], tuple[str, float]]:
    """librdkafka's OAUTHBEARER callback: a token signed with this machine's AWS credentials
    (MSK IAM's Python signer), as (token, expiry in seconds since the epoch)."""

    def token(_config: Any) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        value, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return value, expiry_ms / 1000

    return token
