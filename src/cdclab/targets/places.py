"""Where a deployment's arms stand, for the tasks that act on it outside a run: runbook
steps, logs, thread dumps, fault.clear and the watchdog.

- the lab: the running lab's standing connectors, over SSH to its hosts;
- an AWS run (`--run-id`): the arms deployed on its instance, through SSH (REST through a
  port forward to the instance's loopback-only port);
- a cluster cdclab did not create (`--connect-url`): its REST API, nothing more.

`place_for()` picks one; the tasks call the `Place` protocol and never ask which it is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cdclab.connect_rest import ConnectRest
from cdclab.errors import CdclabError, InvalidInputError

PLACE_FILE = "place.json"  # in an AWS run's state: how to reach its containers
TAIL_LINES = 50_000
# log4j's ISO8601 pattern in the lab's worker log: "[2026-11-26 00:14:39,952] INFO …"
LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")


@dataclass(frozen=True)
class Endpoint:
    target: str
    arm: str | None
    rest_url: str
    connector: str

    def rest(self) -> ConnectRest:
        return ConnectRest(self.rest_url, timeout=5.0, attempts=3, backoff=0.5)


@dataclass(frozen=True)
class Watched:
    """What a watchdog watches at a place: connectors and their Kafka; the canary writer's
    account where the place has one of its own (the lab), else None: the watch reads it
    from its environment (CDCLAB_WATCH_DB)."""

    connectors: list[dict[str, str]]
    kafka_bootstrap: str
    account: Any = None  # canary.DbAccount
    table: str | None = None
    kafka_security: dict[str, Any] | None = None  # librdkafka's; held in memory only


class Place(Protocol):
    """A deployment of arms that the tasks act on."""

    kind: str  # local | aws | explicit: journalled with a watch, shown in status output

    def endpoint(self, arm: str | None, connector: str | None) -> Any:
        """A context manager giving the Endpoint of an arm's connector (or the cluster's);
        whatever it opens (an SSH forward) lives as long as the `with` block."""
        ...

    def worker_log(self, arm: str, since_s: float) -> str:
        """The arm's worker log of the last since_s seconds."""
        ...

    def thread_dump(self, arm: str) -> str:
        """A HotSpot thread dump of the arm's worker, now."""
        ...

    def sweep_faults(self, *, include_root: bool = False) -> dict[str, list[str]]:
        """Remove every cdclab fault there; host -> what was removed."""
        ...

    def watched(self, options: dict[str, str | None], stack: contextlib.ExitStack) -> Watched:
        """What `invoke watch` watches here; forwards it needs are held open by stack."""
        ...


def default_kind(run_id: str | None, connect_url: str | None) -> str:
    """The place the options point at when --target is not given."""
    return "explicit" if connect_url else "aws" if run_id else "local"


def place_for(
    kind: str | None = None, *, run_id: str | None = None, connect_url: str | None = None
) -> Place:
    kind = kind or default_kind(run_id, connect_url)
    if kind == "local":
        return LabPlace()
    if kind == "aws":
        if not run_id:
            raise InvalidInputError("--run-id: which AWS run? `invoke aws.ls` lists them")
        return AwsRunPlace(run_id)
    if kind == "explicit":
        return ClusterPlace(connect_url)
    raise InvalidInputError(
        f"--target {kind!r}: use local (the lab), aws (with --run-id) or explicit "
        "(with --connect-url)"
    )


def only_connector(rest_url: str, where: str) -> str:
    """The worker's only connector; several (or none) are an error that lists them."""
    try:
        _status, names = ConnectRest(rest_url, attempts=2).request("GET", "/connectors")
    except ConnectionError as exc:
        raise InvalidInputError(f"{where}: Connect REST does not answer ({exc})") from exc
    names = names or []
    if len(names) != 1:
        raise InvalidInputError(
            f"{where} runs {len(names)} connectors ({', '.join(names) or 'none'}): "
            "name one with --connector"
        )
    return names[0]


def since_filter(lines: list[str], since_epoch: float) -> list[str]:
    """Lines stamped at or after since_epoch (UTC), with their unstamped continuations
    (stack traces); unstamped lines before the first stamp are dropped."""
    kept, keep = [], False
    for line in lines:
        stamp = LOG_STAMP.match(line)
        if stamp:
            at = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            keep = at.timestamp() + int(stamp[2]) / 1000 >= since_epoch
        if keep:
            kept.append(line)
    return kept


class LabPlace:
    kind = "local"

    @functools.cached_property
    def config(self):  # read when first needed: a root check may have to come first
        from cdclab.lab.access import running_config

        return running_config()

    def _arm(self, arm: str | None):
        if arm is None:
            names = ", ".join(a.name for a in self.config.arms)
            raise InvalidInputError(f"--arm: which arm? The lab has {names}")
        try:
            return self.config.arm(arm)
        except KeyError as exc:
            raise InvalidInputError(f"--arm: {exc.args[0]}") from exc

    @contextlib.contextmanager
    def endpoint(self, arm: str | None, connector: str | None) -> Iterator[Endpoint]:
        lab_arm = self._arm(arm)
        yield Endpoint(
            "local", arm, self.config.rest_url(lab_arm), connector or lab_arm.connector_name
        )

    def worker_log(self, arm: str, since_s: float) -> str:
        from cdclab.lab.access import ssh_to
        from cdclab.paths import state_dir

        self._arm(arm)
        path = state_dir() / "connect" / arm / "log" / "connect.log"
        with ssh_to(self.config.connect) as ssh:
            done = ssh.run(["tail", "-n", str(TAIL_LINES), str(path)], timeout=60)
        if not done.ok:
            raise CdclabError(f"arm {arm}: cannot read {path}: {done.stderr.strip()}")
        return "\n".join(since_filter(done.stdout.splitlines(), time.time() - since_s))

    def thread_dump(self, arm: str) -> str:
        from cdclab.dumps.take import jcmd_thread_dump

        self._arm(arm)
        return jcmd_thread_dump(self.config, arm)

    def sweep_faults(self, *, include_root: bool = False) -> dict[str, list[str]]:
        from cdclab.faults.plan import lab_sweep
        from cdclab.prereqs import check_root
        from cdclab.targets.docker import deployed_workers

        check_root()  # the lab's namespaces and the root namespace's iptables
        # The docker target's containers too, when the lab's engine runs them.
        return lab_sweep(self.config, include_root=include_root, workers=deployed_workers())

    def watched(self, options: dict[str, str | None], stack: contextlib.ExitStack) -> Watched:
        from cdclab.lab.access import writer_account

        config = self.config
        connectors = [
            {
                "name": arm.name,
                "connect_url": config.rest_url(arm),
                "connector": arm.connector_name,
                "topic": config.topic(arm),
            }
            for arm in config.arms
        ]
        account = writer_account(config, connect_timeout=3.0)
        return Watched(connectors, config.kafka_bootstrap, account, config.canary_table)


class AwsRunPlace:
    kind = "aws"

    def __init__(self, run_id: str):
        from cdclab.aws.provision import run_state_dir

        self.run_id = run_id
        self.state = run_state_dir(run_id)

    @functools.cached_property
    def _recorded(self) -> dict[str, Any]:
        path = self.state / PLACE_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def container_cli(self) -> str:
        return self._recorded.get("container_cli", "docker")

    @property
    def compose_project(self) -> str:
        return self._recorded.get("compose_project", "cdclab")

    def _ssh(self):
        from cdclab.aws.inventory import ssh_from_inventory

        return ssh_from_inventory(self.state / "inventory.yml")

    def _arms(self) -> dict[str, dict]:
        from cdclab.aws.arms import deployed_arms

        return deployed_arms(self.state)

    @contextlib.contextmanager
    def endpoint(self, arm: str | None, connector: str | None) -> Iterator[Endpoint]:
        from cdclab.ssh_tunnel import LocalForward

        ports = self._arms()
        if arm not in ports:
            raise InvalidInputError(
                f"--arm: run {self.run_id} has arms {', '.join(ports) or 'none'}"
            )
        with contextlib.closing(self._ssh()) as ssh:
            where = ports[arm]
            forward = LocalForward(ssh, where.get("rest_host", "127.0.0.1"), where["rest_port"])
            with contextlib.closing(forward):
                label = f"arm {arm} of run {self.run_id}"
                name = connector or only_connector(forward.url, label)
                yield Endpoint("aws", arm, forward.url, name)

    def worker_log(self, arm: str, since_s: float) -> str:
        from cdclab.aws.containers import container_name

        with self._ssh() as ssh:
            done = ssh.run(
                f"{self.container_cli} logs --since {int(since_s)}s "
                f"{shlex.quote(container_name(arm, self.compose_project))} 2>&1",
                timeout=120,
            )
        if not done.ok:
            raise CdclabError(f"arm {arm} of run {self.run_id}: {done.stdout.strip()[-500:]}")
        return done.stdout

    def thread_dump(self, arm: str) -> str:
        from cdclab.aws.containers import thread_dump

        with self._ssh() as ssh:
            return thread_dump(ssh, self.container_cli, arm, self.compose_project)

    def sweep_faults(self, *, include_root: bool = False) -> dict[str, list[str]]:
        from cdclab.aws.containers import HEAL_DIR
        from cdclab.faults.plan import sweep_host

        with self._ssh() as ssh:
            return {"instance": sweep_host(ssh, self._recorded.get("heal_dir", HEAL_DIR), [])}

    def watched(self, options: dict[str, str | None], stack: contextlib.ExitStack) -> Watched:
        """Each arm through an SSH forward held open for the watch; its connector, topic and
        Kafka read from its worker (Debezium's topic is <prefix>.<db>.<table>)."""
        from cdclab.ssh_tunnel import LocalForward

        ssh = stack.enter_context(contextlib.closing(self._ssh()))
        connectors, bootstrap = [], ""
        for arm, where in self._arms().items():
            forward = LocalForward(ssh, where.get("rest_host", "127.0.0.1"), where["rest_port"])
            stack.enter_context(contextlib.closing(forward))
            connector, config = _single_table_connector(forward.url, arm, self.run_id)
            bootstrap = config.get("schema.history.internal.kafka.bootstrap.servers") or bootstrap
            topic = f"{config['topic.prefix']}.{config['table.include.list']}"
            connectors.append(
                {"name": arm, "connect_url": forward.url, "connector": connector, "topic": topic}
            )
        kafka = dict(self._recorded.get("kafka") or {})
        bootstrap = options.get("kafka_bootstrap") or kafka.pop("bootstrap", None) or bootstrap
        return Watched(connectors, bootstrap, kafka_security=_kafka_client(kafka))


def _kafka_client(recorded: dict[str, Any]) -> dict[str, Any] | None:
    """librdkafka's settings for the run's Kafka as its deploy recorded them, the password
    read now from where its reference points (never from the record)."""
    if not recorded:
        return None
    import boto3

    from cdclab.aws.secrets import kafka_client
    from cdclab.core.kafka_security import KafkaSecurity

    reference = recorded.pop("password_from", None)
    security = KafkaSecurity(**recorded)
    session = boto3.session.Session(region_name=security.region) if security.region else None
    return kafka_client(security, reference, session)


def _single_table_connector(url: str, arm: str, run_id: str) -> tuple[str, dict[str, Any]]:
    name = only_connector(url, f"arm {arm} of run {run_id}")
    _status, config = ConnectRest(url).request("GET", f"/connectors/{name}/config")
    tables = str(config.get("table.include.list", ""))
    if not tables or "," in tables:
        raise InvalidInputError(
            f"arm {arm}: connector {name} captures {tables or 'every table'}; watch it "
            "with --connect-url and its canary --topic instead"
        )
    return name, config


class ClusterPlace:
    """A Connect cluster cdclab did not create: its REST API is all there is to reach."""

    kind = "explicit"

    def __init__(self, connect_url: str | None):
        self.connect_url = connect_url

    @contextlib.contextmanager
    def endpoint(self, arm: str | None, connector: str | None) -> Iterator[Endpoint]:
        if not self.connect_url:
            raise InvalidInputError("--connect-url: give the Connect REST URL of the cluster")
        name = connector or only_connector(self.connect_url, self.connect_url)
        yield Endpoint("explicit", arm, self.connect_url, name)

    def _rest_only(self, what: str):
        return InvalidInputError(
            f"{what} needs a host cdclab reaches over SSH: the lab (--arm) or an AWS run "
            "(--run-id); a cluster given by --connect-url is reached through REST only"
        )

    def worker_log(self, arm: str, since_s: float) -> str:
        raise self._rest_only("logs")

    def thread_dump(self, arm: str) -> str:
        raise self._rest_only("a thread dump")

    def sweep_faults(self, *, include_root: bool = False) -> dict[str, list[str]]:
        raise self._rest_only("fault.clear")

    def watched(self, options: dict[str, str | None], stack: contextlib.ExitStack) -> Watched:
        wanted = ("connect_url", "connector", "topic", "kafka_bootstrap")
        missing = [f"--{k.replace('_', '-')}" for k in wanted if not options.get(k)]
        if missing:
            raise InvalidInputError(
                f"watching a cluster cdclab did not create needs {', '.join(missing)} "
                "(or --target local for the lab)"
            )
        connector = options["connector"] or ""
        connectors = [
            {
                "name": journal_label(connector),
                "connect_url": options["connect_url"] or "",
                "connector": connector,
                "topic": options["topic"] or "",
            }
        ]
        return Watched(connectors, options["kafka_bootstrap"] or "")


def journal_label(connector: str) -> str:
    """A journal label for a connector name: lower-case letters, digits and '_'."""
    label = re.sub(r"[^a-z0-9_]", "_", connector.lower())[:24]
    return label if label[:1].isalpha() else f"c{label}"[:24]


def write_place_file(
    state: Path,
    container_cli: str,
    heal_dir: str,
    compose_project: str = "cdclab",
    kafka: dict[str, Any] | None = None,
) -> Path:
    """What later tasks need to reach an AWS run's containers, faults and Kafka. `kafka`:
    its bootstrap and security as KafkaSecurity's fields plus the password's *reference*
    (password_from), never a secret."""
    path = state / PLACE_FILE
    recorded = {
        "container_cli": container_cli,
        "heal_dir": heal_dir,
        "compose_project": compose_project,
        "kafka": kafka or {},
    }
    path.write_text(json.dumps(recorded, indent=2) + "\n")
    return path
