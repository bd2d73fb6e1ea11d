"""Jinja2 rendering of what the library owns: the connector JSON shared by every target."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

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
    ssl_mode: str = "required",
    overrides: Mapping[str, ConnectorValue] | None = None,
) -> dict[str, str]:
    """The connector's config map: the template's settings, then the arm's overrides."""
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
            ssl_mode=ssl_mode,
        )
    )
    config: dict[str, str] = json.loads(text)
    for key, value in (overrides or {}).items():
        if key == "name":
            raise ValueError("connector override 'name' is not allowed: names are per run")
        config[key] = _as_connect_string(value)
    return config
