"""From the task's options to a ready Watchdog: what is watched, as whom, where it reports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cdclab.errors import from_validation
from cdclab.targets.places import place_for
from cdclab.watch.config import WatchConfig, account_from_env
from cdclab.watch.watchdog import Watchdog


@contextlib.contextmanager
def build_watch(
    target: str | None,
    settings: dict[str, Any],
    explicit: dict[str, str | None],
    directory: Path,
    duration: float | None,
) -> Iterator[Watchdog]:
    """A ready watchdog; what it holds open (an AWS run's forwards) closes after it."""
    with contextlib.ExitStack() as stack:
        yield _build(target, settings, explicit, directory, duration, stack)


def _build(target, settings, explicit, directory, duration, stack) -> Watchdog:
    place = place_for(
        target, run_id=explicit.get("run_id"), connect_url=explicit.get("connect_url")
    )
    watched = place.watched(explicit, stack)
    connectors, bootstrap = watched.connectors, watched.kafka_bootstrap
    account, table = (
        (watched.account, watched.table) if watched.account is not None else account_from_env()
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
        target=place.kind,
        duration=duration,
        cloudwatch_client=client,
        kafka_security=watched.kafka_security,
    )
