"""Jinja2 rendering of what the library owns: the connector JSON shared by every target."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cdclab.core.kafka_security import SCHEMA_HISTORY_PREFIXES, prefixed

TEMPLATES_DIR = Path(__file__).parent / "templates"
ConnectorValue = str | int | bool


def environment(
    search_path: Path | list[Path] = TEMPLATES_DIR, *, html: bool = False
) -> Environment:
    """HTML templates escape every value (thread names, labels and errors come from the
    run); JSON, Markdown and properties templates escape with tojson or explicitly."""
    return Environment(
        loader=FileSystemLoader(search_path),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=html,
    )


# The key of the truststore's password in the worker's secrets file, beside database.password.
TRUSTSTORE_PASSWORD_KEY = "database.ssl.truststore.password"


@dataclasses.dataclass(frozen=True)
class DbTrust:
    """How a connector verifies the database's certificate, as paths its worker sees: the
    CA bundle (PEM) and a PKCS12 truststore made of it, whose password the secrets file holds
    under TRUSTSTORE_PASSWORD_KEY. `mode` None: by the address the connector dials."""

    ca_file: str
    truststore: str
    mode: str | None = None

    def ssl_mode(self, db_host: str) -> str:
        return self.mode or ssl_mode_for(db_host)


def ssl_mode_for(db_host: str) -> str:
    """verify_identity for a name; verify_ca for an IP address, because the binlog client
    matches a certificate against host names only: even a matching IP SAN fails there
    ("identity was not confirmed")."""
    try:
        ipaddress.ip_address(db_host)
    except ValueError:
        return "verify_identity"
    return "verify_ca"


# MySQL's names of the SSL modes (Debezium's binlog connectors) and the MariaDB connector's
# own from Debezium 3.1 on, which refuses the former; required and preferred encrypt
# without verifying, as trust does.
MARIADB_SSL_MODES = {
    "disabled": "disable",
    "preferred": "trust",
    "required": "trust",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}


def _as_connect_string(value: ConnectorValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_connector_config(
    *,
    name: str,
    connector_class: str,
    db_host: str,
    db_port: int,
    db_user: str,
    secrets_file: str,
    server_id: int,
    topic_prefix: str,
    database: str,
    table: str,
    bootstrap_servers: str,
    trust: DbTrust | None = None,
    kafka_client: Mapping[str, str] | None = None,
    overrides: Mapping[str, ConnectorValue] | None = None,
    mariadb_ssl_modes: bool = False,
) -> dict[str, str]:
    """The connector's config map: the template's settings, then the arm's overrides.
    Without `trust` the connection is encrypted but the certificate is not verified;
    `kafka_client`: the cluster's client security (KafkaSecurity.java), which Debezium's
    schema history producer and consumer need besides the worker's own clients;
    `mariadb_ssl_modes`: the release names SSL modes as MariaDB does, so an arm's MySQL
    name (verify_ca, ...) is said that way."""
    text = (
        environment()
        .get_template("connector.json.j2")
        .render(
            name=name,
            connector_class=connector_class,
            db_host=db_host,
            db_port=db_port,
            db_user=db_user,
            secrets_file=secrets_file,
            server_id=server_id,
            topic_prefix=topic_prefix,
            database=database,
            table=table,
            bootstrap_servers=bootstrap_servers,
            ssl_mode=trust.ssl_mode(db_host) if trust else "required",
            trust=trust,
            truststore_password_key=TRUSTSTORE_PASSWORD_KEY,
            # MariaDB Connector/J (the MariaDB connector's JDBC side) ignores the truststore
            # Debezium hands it and verifies against serverSslCert instead.
            mariadb_driver=connector_class.endswith("MariaDbConnector"),
        )
    )
    config: dict[str, str] = json.loads(text)
    config |= prefixed(dict(kafka_client or {}), SCHEMA_HISTORY_PREFIXES)
    for key, value in (overrides or {}).items():
        if key == "name":
            raise ValueError("connector override 'name' is not allowed: names are per run")
        config[key] = _as_connect_string(value)
    if mariadb_ssl_modes:
        mode = config["database.ssl.mode"]
        config["database.ssl.mode"] = MARIADB_SSL_MODES.get(mode, mode)
    return config
