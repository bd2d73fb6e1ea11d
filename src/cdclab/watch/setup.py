"""From the task's options to a ready Watchdog: what is watched, as whom, where it reports."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
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


def _aws_connectors(run_id: str | None, stack: contextlib.ExitStack):
    """An AWS run's arms through SSH forwards held open for the watch; each arm's connector,
    topic and Kafka read from its worker (Debezium's topic is <prefix>.<db>.<table>)."""
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.aws.provision import run_state_dir
    from cdclab.connect_rest import ConnectRest
    from cdclab.runbook.endpoints import deployed_arms, only_connector
    from cdclab.ssh_tunnel import LocalForward

    if not run_id:
        raise InvalidInputError("--run-id: which AWS run? `invoke aws.ls` lists them")
    state = run_state_dir(run_id)
    arms = deployed_arms(state)
    ssh = stack.enter_context(contextlib.closing(ssh_from_inventory(state / "inventory.yml")))
    connectors, bootstrap = [], ""
    for arm, where in arms.items():
        forward = LocalForward(ssh, where.get("rest_host", "127.0.0.1"), where["rest_port"])
        stack.enter_context(contextlib.closing(forward))
        name = only_connector(forward.url, f"arm {arm} of run {run_id}")
        _status, config = ConnectRest(forward.url).request("GET", f"/connectors/{name}/config")
        tables = str(config.get("table.include.list", ""))
        if not tables or "," in tables:
            raise InvalidInputError(
                f"arm {arm}: connector {name} captures {tables or 'every table'}; watch it "
                "with --connect-url and its canary --topic instead"
            )
        topic = f"{config['topic.prefix']}.{tables}"
        bootstrap = config.get("schema.history.internal.kafka.bootstrap.servers") or bootstrap
        connectors.append(
            {"name": arm, "connect_url": forward.url, "connector": name, "topic": topic}
        )
    return connectors, bootstrap


@contextlib.contextmanager
def build_watch(
    target: str,
    settings: dict[str, Any],
    explicit: dict[str, str | None],
    directory: Path,
    duration: float | None,
) -> Iterator[Watchdog]:
    """A ready watchdog; what it holds open (an AWS run's forwards) closes after it."""
    with contextlib.ExitStack() as stack:
        yield _build(target, settings, explicit, directory, duration, stack)


def _build(target, settings, explicit, directory, duration, stack) -> Watchdog:
    if target == "local":
        from cdclab.lab.access import running_config, writer_account

        connectors, bootstrap = lab_connectors()
        config = running_config()
        account, table = writer_account(config, connect_timeout=3.0), config.canary_table
    elif target == "aws":
        connectors, bootstrap = _aws_connectors(explicit.get("run_id"), stack)
        bootstrap = explicit.get("kafka_bootstrap") or bootstrap
        account, table = account_from_env()
    elif target == "explicit":
        wanted = ("connect_url", "connector", "topic", "kafka_bootstrap")
        missing = [f"--{k.replace('_', '-')}" for k in wanted if not explicit.get(k)]
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
            f"--target {target!r}: watch runs on local (the lab), aws (--run-id) or an "
            "explicit cluster (--connect-url …)"
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
