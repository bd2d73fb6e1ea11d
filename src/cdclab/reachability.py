"""Before anything is created: can this machine write canaries into the user's database and
read their topics from the user's Kafka? Each failure is named with what to do about it:
a private database or cluster needs a rule in its security group, a refused user a
password or a grant, a certificate that does not verify the right CA bundle."""

from __future__ import annotations

import logging
from typing import Any

import pymysql
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from cdclab.canary import CanaryWriter
from cdclab.errors import InvalidInputError

# MySQL client (2xxx) and server (1xxx) error numbers, as PyMySQL raises them in args[0].
UNREACHABLE = {2003, 2005, 2006, 2013}  # no route, unknown host, gone, lost while connecting
ACCESS_DENIED = 1045
NO_PRIVILEGE = {1044, 1142}  # on the database; on the table
UNKNOWN_DATABASE = 1049
NO_SUCH_TABLE = 1146
KAFKA_TIMEOUT_S = 10.0
QUIET = logging.getLogger("cdclab.reachability.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def canary_table_ddl(database: str, table: str) -> str:
    """What the user creates once in their database (cdclab does not need CREATE rights)."""
    return (
        f"CREATE TABLE `{database}`.`{table}` (id VARCHAR(64) NOT NULL PRIMARY KEY, "
        "run_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, written_at_ms BIGINT NOT NULL) "
        "ENGINE=InnoDB"
    )


def explain_db_error(exc: pymysql.MySQLError, writer: CanaryWriter) -> str:
    """One sentence: what went wrong reaching the canary table, and the fix. Server and
    client messages never carry the password, so the error's own words are kept."""
    account, table = writer.account, writer.table
    code = exc.args[0] if exc.args else None
    said = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    where = f"{account.host}:{account.port}"
    if "CERTIFICATE_VERIFY_FAILED" in said or "certificate" in said.lower():
        return (
            f"the database at {where} presented a certificate that external.db_ca_file "
            f"({account.ca_file}) does not verify ({said}): give the CA bundle that signed it "
            "(Aurora: RDS's global-bundle.pem) and connect by the name on the certificate"
        )
    if code in UNREACHABLE:
        return (
            f"cannot reach the database at {where} from this machine ({said}). A private "
            f"database (Aurora usually is) must let this machine in: add an inbound rule for "
            f"TCP {account.port} from this machine's address to its security group, or run "
            "cdclab from inside its VPC"
        )
    if code == ACCESS_DENIED:
        return (
            f"the database refused user {account.user} ({said}): check the user and the "
            "password its reference (external.writer_password_from, else db_password_from) "
            "gives"
        )
    if code == UNKNOWN_DATABASE:
        return f"database {account.database} does not exist on {where}: CREATE DATABASE first"
    if code in NO_PRIVILEGE:
        return (
            f"user {account.user} may not use {account.database}.{table} ({said}): "
            f"GRANT SELECT, INSERT ON `{account.database}`.`{table}` TO it"
        )
    if code == NO_SUCH_TABLE:
        return (
            f"the canary table {account.database}.{table} does not exist. Create it once "
            f"with: {canary_table_ddl(account.database, table)}; and grant INSERT on it to "
            f"{account.user}"
        )
    return f"cannot use {account.database}.{table} on {where} as {account.user} ({said})"


def check_canary_table(writer: CanaryWriter) -> None:
    """Fail before anything exists if canaries cannot be written (the writer is closed)."""
    try:
        writer.query_one(f"SELECT 1 FROM `{writer.table}` LIMIT 0")
    except pymysql.MySQLError as exc:
        raise InvalidInputError(f"external: {explain_db_error(exc, writer)}") from exc
    except OSError as exc:  # the CA bundle is loaded before any connection is made
        raise InvalidInputError(
            f"external.db_ca_file: {writer.account.ca_file} cannot be loaded as a CA bundle "
            f"({exc}); give the PEM file of the CA that signed the database's certificate"
        ) from exc
    finally:
        writer.close()


def check_kafka(
    bootstrap: str, security: dict[str, Any] | None = None, timeout: float = KAFKA_TIMEOUT_S
) -> None:
    """Fail before anything exists if this machine cannot read the cluster's metadata:
    the canary consumer runs here and would otherwise fail only after the deploy.
    `security`: librdkafka's settings for the listener (KafkaSecurity.librdkafka)."""
    if not bootstrap:
        raise InvalidInputError(
            "external.kafka_bootstrap: empty; give the cluster's bootstrap servers "
            "(host:port[,host:port]; MSK: its plaintext bootstrap string)"
        )
    errors: list[str] = []  # librdkafka reports TLS and SASL failures here, not in the raise
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": int(timeout * 1000),
            "error_cb": lambda error: errors.append(error.str()),
            **(security or {}),
        },
        logger=QUIET,  # its retries would fill the terminal; the error says what went wrong
    )
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0.5)  # serves the queued error callbacks
        said = errors[0] if errors else (exc.args[0].str() if exc.args else str(exc))
        raise InvalidInputError(explain_kafka_error(bootstrap, said, timeout)) from exc


def explain_kafka_error(bootstrap: str, said: str, timeout: float) -> str:
    """The fix for what librdkafka said while reading the cluster's metadata."""
    where = f"external.kafka_bootstrap: cannot read the cluster's metadata from {bootstrap}"
    lowered = said.lower()
    if "certificate" in lowered or "ssl handshake" in lowered:
        return (
            f"{where} ({said}): the brokers' certificate does not verify: give the CA bundle "
            "that signed it with --set external.kafka_ca_file=<pem>, or check "
            "external.kafka_security (SSL listeners: MSK's 9094, 9096 and 9098)"
        )
    if "authentication" in lowered or "sasl" in lowered:
        return (
            f"{where} ({said}): the cluster refused the SASL login: check "
            "external.kafka_sasl_mechanism, external.kafka_user and what "
            "external.kafka_password_from holds (SCRAM), or this machine's AWS credentials "
            "and their kafka-cluster:Connect permission (AWS_MSK_IAM)"
        )
    return (
        f"{where} within {timeout:g} s ({said}). A private cluster (MSK usually is) must "
        "let this machine in: add an inbound rule for its broker port to the cluster's "
        "security group from this machine's address, or run cdclab from inside its VPC; "
        "and external.kafka_security must be the listener's (PLAINTEXT, SSL or SASL_SSL)"
    )
