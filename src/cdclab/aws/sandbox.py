"""`invoke aws.sandbox`: the AWS path without an account.

moto's server on loopback answers the AWS API (EC2, SSM, Secrets Manager, RDS); the lab's
connect host stands in for the instance `aws.up` makes: it has sshd, the Docker engine the
deploy starts there (the lab's), and an `ec2-user` with sudo. `aws.up` hands the instance
out — the run's new key authorised for ec2-user, the stand-in's address recorded as the
instance's — and `aws.down` takes it back as EC2 would terminate it: the run's processes,
containers, fault rules and files gone, the key revoked. One instance at a time: the
sandbox has one stand-in. The lab's database and Kafka are "yours"; their passwords are
kept in moto's Secrets Manager, and `values.yaml` says where everything is.

The sandbox is found through CDCLAB_AWS_SANDBOX (its state file), which `eval "$(invoke
aws.sandbox)"` exports with moto's endpoint and test credentials.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from cdclab.aws.containers import COMPOSE_PROJECT, HEAL_DIR, REMOTE_DIR
from cdclab.errors import InvalidInputError

SANDBOX_ENV = "CDCLAB_AWS_SANDBOX"
SSH_USER = "ec2-user"
USER_COMMENT = "cdclab sandbox"  # marks the user the sandbox made (and only that one goes)
SUDOERS = Path("/etc/sudoers.d/cdclab-sandbox")


@dataclass
class Sandbox:
    """What `aws.up` and `aws.down` need to hand the stand-in out and take it back."""

    path: str  # this record
    endpoint: str  # moto's server
    region: str
    address: str  # the stand-in's, as the instance's public and private address
    namespace: str  # the stand-in's network namespace (its "kernel": rules to sweep)
    caller_cidr: str  # this machine as the stand-in sees it (the security group's source)
    container_cli: str  # the docker command of the engine the deploy starts there
    host_vars: dict[str, Any] = field(default_factory=dict)  # how the deploy treats it
    moto_pid: int = 0
    made_user: bool = False
    made_engine: bool = False  # the lab's engine was not running before the sandbox
    handed_to: str | None = None  # the run holding the stand-in

    def save(self) -> None:
        Path(self.path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Sandbox:
        return cls(**json.loads(path.read_text()))


def active_sandbox() -> Sandbox | None:
    """The sandbox this shell's environment names, or None (real AWS)."""
    named = os.environ.get(SANDBOX_ENV)
    if not named:
        return None
    path = Path(named)
    if not path.is_file():
        raise InvalidInputError(
            f"{SANDBOX_ENV} names {path}, which is gone (the sandbox was removed): "
            'start it again with `eval "$(invoke aws.sandbox)"`, or `unset '
            f"{SANDBOX_ENV} AWS_ENDPOINT_URL` to use AWS"
        )
    return Sandbox.load(path)


def check_free(sandbox: Sandbox, run_id: str) -> None:
    """Before anything is created: the stand-in must not be another run's."""
    if sandbox.handed_to not in (None, run_id):
        raise InvalidInputError(
            f"the sandbox has one stand-in instance and run {sandbox.handed_to} holds it: "
            f"`invoke aws.down {sandbox.handed_to}` first (or reuse it: "
            f"--set aws.run_id={sandbox.handed_to})"
        )


def hand_out(sandbox: Sandbox, run_id: str, key_file: str) -> str:
    """Authorise the run's key for ec2-user on the stand-in; its address."""
    check_free(sandbox, run_id)
    public = paramiko.Ed25519Key.from_private_key_file(key_file)
    line = f"{public.get_name()} {public.get_base64()} {_key_comment(run_id)}\n"
    keys = _authorized_keys()
    with keys.open("a") as handle:
        handle.write(line)
    sandbox.handed_to = run_id
    sandbox.save()
    return sandbox.address


def take_back(sandbox: Sandbox, run_id: str) -> list[str]:
    """The stand-in as a terminated instance leaves it: the run's processes stopped, its
    containers, fault rules and timers gone, /opt/cdclab removed, the key revoked. What
    was removed, one line each."""
    if sandbox.handed_to != run_id:
        return []
    removed = _stop_runs(Path(REMOTE_DIR) / "runs") + _stop_watches(Path(REMOTE_DIR) / "watches")
    removed += _sweep(sandbox)
    subprocess.run(["rm", "-rf", "--one-file-system", REMOTE_DIR], check=False)
    keys = _authorized_keys()
    kept = [k for k in keys.read_text().splitlines(keepends=True) if _key_comment(run_id) not in k]
    keys.write_text("".join(kept))
    sandbox.handed_to = None
    sandbox.save()
    return [*removed, f"{REMOTE_DIR} and the run's key on the stand-in"]


def _key_comment(run_id: str) -> str:
    return f"cdclab-run-{run_id}"


def _authorized_keys() -> Path:
    home = Path(pwd.getpwnam(SSH_USER).pw_dir)
    return home / ".ssh" / "authorized_keys"


def _stop_runs(runs: Path, grace_s: float = 30.0) -> list[str]:
    """SIGINT to every run still going there (it heals its faults and writes its report),
    SIGKILL after the grace period."""
    live = {}
    for pidfile in runs.glob("*/pid"):
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _is_cdclab(pid):
            os.kill(pid, signal.SIGINT)
            live[pid] = pidfile.parent.name
    deadline = time.monotonic() + grace_s
    while any(_is_cdclab(p) for p in live) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in live:
        if _is_cdclab(pid):
            os.kill(pid, signal.SIGKILL)
    return [f"run {name} on the stand-in (stopped)" for name in live.values()]


def _stop_watches(watches: Path) -> list[str]:
    """Installed watches' supervisors (watch.install), each with its process group."""
    stopped = []
    for pidfile in watches.glob("*/supervisor.pid"):
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _is_cdclab(pid):
            os.killpg(pid, signal.SIGKILL)
            stopped.append(f"watch {pidfile.parent.name} on the stand-in (stopped)")
    return stopped


def runs(pid: int, mark: bytes) -> bool:
    """The pid is alive with mark in its command line (a stale pid file may name a
    reused pid)."""
    try:
        return mark in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _is_cdclab(pid: int) -> bool:
    return runs(pid, b"cdclab")


def _sweep(sandbox: Sandbox) -> list[str]:
    """The instance's kernel state and containers: tagged rules, dead-man timers, the
    run's compose project."""
    from cdclab.faults.actions import sweep_script  # the same sweep as fault.clear's

    swept = subprocess.run(
        ["ip", "netns", "exec", sandbox.namespace, "sh", "-c", sweep_script(HEAL_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    if not Path(sandbox.container_cli).exists():  # no deploy started the engine
        return swept.stdout.splitlines()
    down = subprocess.run(
        [sandbox.container_cli, "compose", "-p", COMPOSE_PROJECT, "down", "--remove-orphans"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [*swept.stdout.splitlines(), *(["the arms' containers"] if down.returncode == 0 else [])]


def export_lines(sandbox: Sandbox) -> list[str]:
    """What `eval "$(invoke aws.sandbox)"` sets: moto's endpoint, region and test
    credentials (not secrets: moto takes any), the sandbox's record, the stand-in's docker."""
    values = {
        "AWS_ENDPOINT_URL": sandbox.endpoint,
        "AWS_REGION": sandbox.region,
        "AWS_DEFAULT_REGION": sandbox.region,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        SANDBOX_ENV: sandbox.path,
        "CDCLAB_AWS_CONTAINER_CLI": sandbox.container_cli,
    }
    return ["unset AWS_PROFILE"] + [f"export {k}={shlex.quote(v)}" for k, v in values.items()]


def unset_lines() -> list[str]:
    names = "AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID"
    return [f"unset {names} AWS_SECRET_ACCESS_KEY {SANDBOX_ENV} CDCLAB_AWS_CONTAINER_CLI"]
