"""Which Connect REST endpoint and connector a runbook step acts on.

- local: an arm of the running lab (its standing connector);
- aws: an arm of a provisioned run (`--run-id`), through an SSH port forward to the
  instance's loopback-only REST port;
- explicit: `--connect-url` (and `--connector`) of a cluster cdclab did not create.
Without --connector, the worker's only connector is used; several are listed in the error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cdclab.connect_rest import ConnectRest
from cdclab.errors import InvalidInputError

# In an AWS run's state: {arm: {"rest_host", "rest_port", "metrics_port"}}, where each arm's
# REST listens as seen from the instance (127.0.0.1 for the compose arms).
ARMS_FILE = "arms.json"


@dataclass(frozen=True)
class Endpoint:
    target: str
    arm: str | None
    rest_url: str
    connector: str

    def rest(self) -> ConnectRest:
        return ConnectRest(self.rest_url, timeout=5.0, attempts=3, backoff=0.5)


def only_connector(rest_url: str, where: str) -> str:
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


@contextlib.contextmanager
def endpoint(
    *,
    target: str | None = None,
    arm: str | None = None,
    connect_url: str | None = None,
    connector: str | None = None,
    run_id: str | None = None,
) -> Iterator[Endpoint]:
    """The endpoint to act on; a forward (aws) lives as long as the `with` block."""
    target = target or ("explicit" if connect_url else "aws" if run_id else "local")
    if target == "explicit":
        if not connect_url:
            raise InvalidInputError("--connect-url: give the Connect REST URL of the cluster")
        yield Endpoint(
            "explicit", arm, connect_url, connector or only_connector(connect_url, connect_url)
        )
    elif target == "local":
        from cdclab.lab.access import running_config

        config = running_config()
        if arm is None:
            raise InvalidInputError(
                f"--arm: which arm? The lab has {', '.join(a.name for a in config.arms)}"
            )
        try:
            lab_arm = config.arm(arm)
        except KeyError as exc:
            raise InvalidInputError(f"--arm: {exc.args[0]}") from exc
        yield Endpoint("local", arm, config.rest_url(lab_arm), connector or lab_arm.connector_name)
    elif target == "aws":
        with _aws_endpoint(arm, connector, run_id) as found:
            yield found
    else:
        raise InvalidInputError(f"--target {target!r}: use local, aws (with --run-id) or explicit")


@contextlib.contextmanager
def _aws_endpoint(arm: str | None, connector: str | None, run_id: str | None):
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.aws.provision import run_state_dir
    from cdclab.ssh_tunnel import LocalForward

    if not run_id:
        raise InvalidInputError("--run-id: which AWS run? `invoke aws.ls` lists them")
    state = run_state_dir(run_id)
    ports = deployed_arms(state)
    if arm not in ports:
        raise InvalidInputError(f"--arm: run {run_id} has arms {', '.join(ports) or 'none'}")
    with contextlib.closing(ssh_from_inventory(state / "inventory.yml")) as ssh:
        where = ports[arm]
        forward = LocalForward(ssh, where.get("rest_host", "127.0.0.1"), where["rest_port"])
        with contextlib.closing(forward):
            where = f"arm {arm} of run {run_id}"
            yield Endpoint("aws", arm, forward.url, connector or only_connector(forward.url, where))


def write_arms_file(state: Path, arms: dict[str, dict]) -> Path:
    path = state / ARMS_FILE
    path.write_text(json.dumps(arms, indent=2) + "\n")
    return path


def deployed_arms(state: Path) -> dict[str, dict]:
    path = state / ARMS_FILE
    if not path.exists():
        raise InvalidInputError(
            f"no deployed arms in {state} (a run deploys them; `invoke aws.ls` lists runs)"
        )
    return json.loads(path.read_text())
