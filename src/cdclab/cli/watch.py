"""invoke watch: a canary-based silent-failure watchdog for a running deployment."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task

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


def _settings(name, interval, deadline, misses, webhook, cloudwatch, region, actions, restart):
    """The watch's settings from the options both `watch` and `watch.install` take."""
    return {
        "name": name,
        "canary": _given(interval=interval, deadline=deadline),
        "detector": _given(misses=misses and flag_int("--misses", misses, 1)),
        "webhook": {"url": webhook} if webhook else None,
        "cloudwatch": {"region": region, "alarm_actions": actions or []} if cloudwatch else None,
        "restart": _restart(*restart),
    }


HELP = {
    "connect-url": "Kafka Connect REST URL, e.g. http://connect:8083",
    "connector": "the connector to watch",
    "topic": "the topic its canary table's change events go to",
    "kafka-bootstrap": "Kafka bootstrap servers",
    "name": "a name for the watch (its directory is results/watch-NAME)",
    "interval": "a canary this often (default 5s)",
    "deadline": "a canary later than this is overdue (default 30s)",
    "misses": "overdue canaries in a row while RUNNING that make an episode (default 2)",
    "webhook": "POST a JSON document here on every episode open and close",
    "cloudwatch": "publish CanaryLatencyMs/CanaryMissing/SilentFailure and an alarm",
    "region": "AWS region for CloudWatch (default: the environment's)",
    "alarm-action": "an action ARN for the alarm, e.g. an SNS topic (repeatable)",
    "restart-after": "restart the connector and its tasks after K overdue canaries",
    "restart-backoff": "wait between restarts; doubles each time (default 60s)",
    "restart-max-per-hour": "at most this many restarts per hour (default 3)",
}


@task(
    name="run",
    iterable=["alarm_action"],
    help={
        **HELP,
        "target": "local: the lab's own connectors; aws: the arms of --run-id (through SSH); "
        "explicit (default when --connect-url is given): the cluster named below",
        "run-id": "aws: the run whose arms to watch (`invoke aws.ls`)",
        "minutes": "stop after M minutes (default: run until Ctrl-C/SIGTERM)",
        "directory": "the watch directory (default results/watch-NAME); a restart continues it",
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

    settings = _settings(
        name, interval, deadline, misses, webhook, cloudwatch, region, alarm_action,
        (restart_after, restart_backoff, restart_max_per_hour),
    )  # fmt: skip
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


@task(
    iterable=["alarm_action"],
    help={
        **HELP,
        "run-id": "install on the instance of this AWS run (`invoke aws.ls`); cdclab is there",
        "host": "or on this host over SSH, [user@]host[:port] (cdclab installed from the "
        "wheelhouse built here); with --key-file",
        "key-file": "--host: the private key to log in with",
        "python": "--host: its Python 3.11 (default: Amazon Linux's python3.11, from dnf)",
        "name": "the watch's name: its unit is cdclab-watch-NAME (default watch)",
    },
)
@user_errors
def install(
    c,
    connect_url=None,
    connector=None,
    topic=None,
    kafka_bootstrap=None,
    run_id=None,
    host=None,
    key_file=None,
    python=None,
    name="watch",
    interval=None,
    deadline=None,
    misses=None,
    webhook=None,
    cloudwatch=False,
    region=None,
    alarm_action=None,
    restart_after=None,
    restart_backoff=None,
    restart_max_per_hour=None,
):
    """Run the watchdog as a service on a host next to the connectors: it survives this
    machine, restarts after a crash (and, under systemd, a reboot).

    The canary writer's DSN comes from CDCLAB_WATCH_DB, as for `invoke watch`; it reaches
    the host through SSH's stdin as a file only root reads, with its CA copied beside it.
    """
    from cdclab.watch.installed import install_watch

    explicit = {
        "connect_url": connect_url,
        "connector": connector,
        "topic": topic,
        "kafka_bootstrap": kafka_bootstrap,
    }
    settings = _settings(
        name, interval, deadline, misses, webhook, cloudwatch, region, alarm_action,
        (restart_after, restart_backoff, restart_max_per_hour),
    )  # fmt: skip
    where = {"run_id": run_id, "host": host, "key_file": key_file, "python": python}
    service = install_watch(name, settings, explicit, where)
    out.print(
        f"watch {name} runs on {service.ssh.address} ({service.state()}): "
        f"`invoke watch.status --name {name}`; `invoke watch.uninstall --name {name}` stops it "
        "and brings its directory back"
    )


@task(help={"name": "the installed watch (watch.install --name)"})
@user_errors
def status(c, name="watch"):
    """Whether an installed watch runs, and its last check."""
    from cdclab.watch.installed import installed_watch

    service = installed_watch(name)
    out.print(f"watch {name} on {service.ssh.address}: {service.state()}")
    out.print(f"last check: {service.last_check() or '(none yet)'}", markup=False)


@task(help={"name": "the installed watch (watch.install --name)"})
@user_errors
def uninstall(c, name="watch"):
    """Stop an installed watch, bring its directory back into results/, remove it there."""
    from cdclab.paths import results_dir
    from cdclab.watch.installed import forget_watch, installed_watch

    service = installed_watch(name)
    pulled = service.uninstall(results_dir())
    forget_watch(name)
    out.print(f"removed watch {name} from {service.ssh.address}")
    if pulled:
        out.print(f"results: {pulled}")


# `invoke watch …` watches from here; watch.install/status/uninstall run it on a host.
ns = Collection("watch")
ns.add_task(watch, default=True)
ns.add_task(install)
ns.add_task(status)
ns.add_task(uninstall)
