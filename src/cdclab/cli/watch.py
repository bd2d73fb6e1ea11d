"""invoke watch: a canary-based silent-failure watchdog for a running deployment."""

from __future__ import annotations

from pathlib import Path

from invoke import task

from cdclab.cli._common import flag_duration, flag_int, user_errors
from cdclab.progress import console, out


def _given(**values) -> dict:
    """The options given; the rest take the watch settings' own defaults."""
    return {key: value for key, value in values.items() if value is not None}


def _restart(after, backoff, max_per_hour) -> dict | None:
    if after is None:
        return None
    return _given(
        after_misses=flag_int("--restart-after", after, 1),
        backoff=backoff,
        max_per_hour=max_per_hour and flag_int("--restart-max-per-hour", max_per_hour, 1),
    )


@task(
    iterable=["alarm_action"],
    help={
        "target": "local: the lab's own connectors; aws: the arms of --run-id (through SSH); "
        "explicit (default when --connect-url is given): the cluster named below",
        "run-id": "aws: the run whose arms to watch (`invoke aws.ls`)",
        "connect-url": "Kafka Connect REST URL, e.g. http://connect:8083",
        "connector": "the connector to watch",
        "topic": "the topic its canary table's change events go to",
        "kafka-bootstrap": "Kafka bootstrap servers",
        "name": "a name for the watch (its directory is results/watch-NAME)",
        "interval": "a canary this often (default 5s)",
        "deadline": "a canary later than this is overdue (default 30s)",
        "misses": "overdue canaries in a row while RUNNING that make an episode (default 2)",
        "minutes": "stop after M minutes (default: run until Ctrl-C/SIGTERM)",
        "directory": "the watch directory (default results/watch-NAME); a restart continues it",
        "webhook": "POST a JSON document here on every episode open and close",
        "cloudwatch": "publish CanaryLatencyMs/CanaryMissing/SilentFailure and an alarm",
        "region": "AWS region for CloudWatch (default: the environment's)",
        "alarm-action": "an action ARN for the alarm, e.g. an SNS topic (repeatable)",
        "restart-after": "restart the connector and its tasks after K overdue canaries",
        "restart-backoff": "wait between restarts; doubles each time (default 60s)",
        "restart-max-per-hour": "at most this many restarts per hour (default 3)",
    },
)
@user_errors
def watch(
    c,
    target=None,
    connect_url=None,
    connector=None,
    topic=None,
    kafka_bootstrap=None,
    name="watch",
    interval=None,
    deadline=None,
    misses=None,
    minutes=None,
    directory=None,
    webhook=None,
    cloudwatch=False,
    region=None,
    alarm_action=None,
    restart_after=None,
    restart_backoff=None,
    restart_max_per_hour=None,
    run_id=None,
):
    """Write a canary every interval and report a connector that is RUNNING but silent.

    The database account comes from CDCLAB_WATCH_DB (never argv):
    mysql://user:password@host:3306/database?ssl_ca=/path/ca.pem&table=canary
    """
    from cdclab.paths import results_dir
    from cdclab.watch.setup import build_watch

    settings = {
        "name": name,
        "canary": _given(interval=interval, deadline=deadline),
        "detector": _given(misses=misses and flag_int("--misses", misses, 1)),
        "webhook": {"url": webhook} if webhook else None,
        "cloudwatch": {"region": region, "alarm_actions": alarm_action or []}
        if cloudwatch
        else None,
        "restart": _restart(restart_after, restart_backoff, restart_max_per_hour),
    }
    explicit = {
        "connect_url": connect_url,
        "connector": connector,
        "topic": topic,
        "kafka_bootstrap": kafka_bootstrap,
        "run_id": run_id,
    }
    duration = flag_duration("--minutes", minutes, "m") if minutes is not None else None
    where = Path(directory) if directory else results_dir() / f"watch-{name}"
    with build_watch(target, settings, explicit, where, duration) as watchdog:
        console.print(
            f"watching {', '.join(x.connector for x in watchdog.config.connectors)} → {where} "
            "(Ctrl-C stops)"
        )
        outcome = watchdog.run()
    out.print(f"results: {outcome.directory}")
    out.print(f"status: {outcome.status}")
    out.print(f"episodes: {outcome.episodes}")
    for line in outcome.verdict:
        out.print(f"verdict: {line}")
