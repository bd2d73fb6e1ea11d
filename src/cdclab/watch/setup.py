"""From the task's options to a ready Watchdog: what is watched, as whom, where it reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cdclab.errors import InvalidInputError, from_validation
from cdclab.watch.config import WatchConfig, account_from_env
from cdclab.watch.watchdog import Watchdog


def lab_connectors() -> tuple[list[dict[str, str]], str]:
    """The running lab's standing connectors, and its Kafka."""
    from cdclab.lab.access import running_config

    config = running_config()
    connectors = [
        {
            "name": arm.name,
            "connect_url": config.rest_url(arm),
            "connector": arm.connector_name,
            "topic": config.topic(arm),
        }
        for arm in config.arms
    ]
    return connectors, config.kafka_bootstrap


def _label(connector: str) -> str:
    """A journal label for a connector name: lower-case letters, digits and '_'."""
    label = re.sub(r"[^a-z0-9_]", "_", connector.lower())[:24]
    return label if label[:1].isalpha() else f"c{label}"[:24]


def build_watch(
    target: str,
    settings: dict[str, Any],
    explicit: dict[str, str | None],
    directory: Path,
    duration: float | None,
) -> Watchdog:
    if target == "local":
        from cdclab.lab.access import running_config, writer_account

        connectors, bootstrap = lab_connectors()
        config = running_config()
        account, table = writer_account(config, connect_timeout=3.0), config.canary_table
    elif target == "explicit":
        missing = [f"--{k.replace('_', '-')}" for k, v in explicit.items() if not v]
        if missing:
            raise InvalidInputError(
                f"watching a cluster cdclab did not create needs {', '.join(missing)} "
                "(or --target local for the lab)"
            )
        connectors = [
            {
                "name": _label(explicit["connector"] or ""),
                "connect_url": explicit["connect_url"],
                "connector": explicit["connector"],
                "topic": explicit["topic"],
            }
        ]
        bootstrap = explicit["kafka_bootstrap"] or ""
        account, table = account_from_env()
    else:
        raise InvalidInputError(
            f"--target {target!r}: watch runs on local (the lab) or on an explicit cluster "
            "(--connect-url …); for an AWS run, point --connect-url at its forwarded REST"
        )
    try:
        config = WatchConfig.model_validate(
            {**settings, "connectors": connectors, "kafka_bootstrap": bootstrap}
        )
    except ValidationError as exc:
        raise from_validation(exc, "watch settings") from exc
    client = None
    if config.cloudwatch is not None:
        from cdclab.aws.settings import AwsSettings, aws_session

        client = aws_session(AwsSettings(region=config.cloudwatch.region)).client("cloudwatch")
    return Watchdog(
        config,
        account,
        table,
        directory,
        target=target,
        duration=duration,
        cloudwatch_client=client,
    )
