"""What a watchdog watches and what it does on a silent failure, validated up front."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cdclab.canary import DbAccount
from cdclab.core.spec import (
    ARM_NAME,
    MAX_DURATION_S,
    CanarySpec,
    DetectorSpec,
    ExperimentSpec,
)
from cdclab.core.spec_types import Duration
from cdclab.errors import InvalidInputError

DB_DSN_ENV = "CDCLAB_WATCH_DB"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookAction(_Strict):
    url: str = Field(description="POSTed a JSON document on every episode open and close")
    timeout: Duration = 5.0

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if urlparse(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class CloudWatchAction(_Strict):
    namespace: str = "cdclab"
    region: str | None = None
    alarm: bool = Field(default=True, description="create/update an alarm on SilentFailure")
    alarm_actions: list[str] = Field(default_factory=list, description="e.g. an SNS topic ARN")


class RestartAction(_Strict):
    after_misses: int = Field(default=3, ge=1, le=1000, description="overdue canaries first")
    backoff: Duration = Field(default=60.0, description="wait after a restart; doubles each time")
    max_per_hour: int = Field(default=3, ge=1, le=60)


class WatchedConnector(_Strict):
    name: str = Field(description="a label for journals and alarms (an arm's name)")
    connect_url: str
    connector: str
    topic: str

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not re.fullmatch(ARM_NAME, value):
            raise ValueError(f"{value!r}: lower-case letters, digits or '_', from a letter")
        return value


class WatchCanarySpec(CanarySpec):
    """A watch runs for weeks against a production database: a canary every 5 s and a
    fixed 30 s deadline, unless its config says otherwise (no warm-up to learn from)."""

    interval: Duration = Field(default=5.0, description="time between canary rows")
    deadline: Duration | None = Field(default=30.0, description="delivered later is 'late'")


class WatchConfig(_Strict):
    name: str = Field(default="watch", pattern=r"^[a-z][a-z0-9-]{0,39}$")
    connectors: list[WatchedConnector] = Field(min_length=1)
    kafka_bootstrap: str
    canary: WatchCanarySpec = Field(default_factory=WatchCanarySpec)
    detector: DetectorSpec = Field(default_factory=DetectorSpec)
    webhook: WebhookAction | None = None
    cloudwatch: CloudWatchAction | None = None
    restart: RestartAction | None = None

    def clock_spec(self, duration: float | None) -> ExperimentSpec:
        """The experiment engine's spec for one clock cycle: same canary and detector."""
        return ExperimentSpec.model_validate(
            {
                "name": self.name,
                "description": "watchdog",
                # one clock cycle at most; the watchdog starts the next one itself
                "duration": min(duration or MAX_DURATION_S, MAX_DURATION_S),
                "canary": self.canary.model_dump(),
                "detector": self.detector.model_dump(),
                "arms": {c.name: {"description": c.connector} for c in self.connectors},
                "dumps": {"triggers": []},
                "metrics": {"enabled": False},
            }
        )


def account_from_env(connect_timeout: float = 3.0) -> tuple[DbAccount, str]:
    """The canary writer from CDCLAB_WATCH_DB (kept out of argv and files):
    mysql://user:password@host:3306/database?ssl_ca=/path/ca.pem&table=canary"""
    dsn = os.environ.get(DB_DSN_ENV)
    if not dsn:
        raise InvalidInputError(
            f"{DB_DSN_ENV} is not set: export {DB_DSN_ENV}="
            "'mysql://writer:PASSWORD@db.example:3306/cdclab?ssl_ca=/path/ca.pem&table=canary'"
        )
    url = urlparse(dsn)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    database = url.path.lstrip("/")
    missing = [
        what
        for what, value in (
            ("user", url.username),
            ("password", url.password),
            ("host", url.hostname),
            ("database (the path)", database),
            ("ssl_ca", query.get("ssl_ca")),
        )
        if not value
    ]
    if url.scheme not in ("mysql", "mariadb") or missing:
        raise InvalidInputError(
            f"{DB_DSN_ENV}: expected mysql://user:password@host:port/database?ssl_ca=… "
            f"(missing: {', '.join(missing) or 'the mysql:// scheme'})"
        )
    account = DbAccount(
        host=url.hostname or "",
        port=url.port or 3306,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        ca_file=Path(query["ssl_ca"]),
        database=database,
        connect_timeout=connect_timeout,
    )
    return account, query.get("table", "canary")
