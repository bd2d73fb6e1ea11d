"""Starting and removing the AWS sandbox (aws/sandbox.py says what it is).

Start: the lab must be up (the caller brings it up); ec2-user is made with sudo unless it
exists; moto's server starts detached on a free loopback port; the lab's passwords go into
moto's Secrets Manager; `values.yaml` names the lab's database and Kafka as "yours".
Remove: the stand-in taken back, moto stopped, the user (if the sandbox made it), the
sudoers entry, the lab's Docker engine (if the sandbox's deploys started it) and the
sandbox's directory removed. The lab itself stays.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import yaml

from cdclab.aws.sandbox import SSH_USER, SUDOERS, USER_COMMENT, Sandbox, runs, take_back
from cdclab.errors import CdclabError, PrerequisiteError
from cdclab.lab.access import db_ca_file, kafka_ca_file, running_config
from cdclab.lab.docker_engine import engine_cli, engine_root, remove_engine
from cdclab.lab.extravars import CDC_USER, WRITER_USER
from cdclab.lab.processes import pidfile_process
from cdclab.paths import aws_state_dir
from cdclab.secrets import DB_CDC_PASSWORD, DB_WRITER_PASSWORD, KAFKA_SCRAM_PASSWORD, read_secret

REGION = "us-east-1"
MOTO = Path(sys.executable).parent / "moto_server"
SECRETS = {  # the name in moto's Secrets Manager: the lab's password file
    "cdclab/sandbox/db-cdc": DB_CDC_PASSWORD,
    "cdclab/sandbox/db-writer": DB_WRITER_PASSWORD,
    "cdclab/sandbox/kafka": KAFKA_SCRAM_PASSWORD,
}


def sandbox_dir() -> Path:
    return aws_state_dir() / "sandbox"


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError("aws.sandbox: the lab needs root; run it as root (sudo)")
    if not MOTO.exists():
        raise PrerequisiteError(
            f"aws.sandbox: moto's server is not installed ({MOTO}); install the test extras: "
            "`.venv/bin/pip install -e '.[test]'` (or `bash .ci/run --setup-only`)"
        )
    if shutil.which("sudo") is None:
        raise PrerequisiteError(
            "aws.sandbox: the stand-in's ec2-user needs sudo: `apt-get install sudo`"
        )


def running_sandbox() -> Sandbox | None:
    path = sandbox_dir() / "sandbox.json"
    if not path.is_file():
        return None
    sandbox = Sandbox.load(path)
    return sandbox if _answers(sandbox.endpoint) else None


def start_sandbox() -> Sandbox:
    """The sandbox on a running lab (the same one again if it is up)."""
    check_prerequisites()
    running = running_sandbox()
    if running is not None:
        return running
    stop_sandbox()  # one whose moto is gone (a reboot): what it made goes first
    config = running_config()
    directory = sandbox_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    sandbox = Sandbox(
        path=str(directory / "sandbox.json"),
        endpoint="",
        region=REGION,
        address=config.connect.address,
        namespace=config.connect.namespace,
        caller_cidr=f"{config.bridge_address}/32",
        container_cli=engine_cli(),
        host_vars={
            # Debian without systemd, its own docker.io and compose plugin: the lab's engine.
            "docker_engine_install": "none",
            "docker_engine_service": "daemon",
            "docker_engine_root": str(engine_root()),
            "docker_engine_mount_cgroups": True,
            # cdclab on the stand-in: Debian's Python 3.11, as AL2023's python3.11.
            "cdclab_control_install": "none",
            "cdclab_control_python": "/usr/bin/python3",
        },
        made_engine=pidfile_process(engine_root() / "dockerd.pid") is None,
    )
    try:  # each step recorded as it is made, so a failure removes exactly that
        sandbox.made_user = _make_user()
        sandbox.save()
        _grant_sudo()
        sandbox.endpoint, sandbox.moto_pid = _start_moto(directory)
        sandbox.save()
        _store_secrets(sandbox)
        _write_values(directory / "values.yaml", config)
    except BaseException:
        stop_sandbox()
        raise
    return sandbox


def stop_sandbox() -> list[str]:
    """Everything the sandbox made, gone, each step tried whatever the others did; what was
    removed (and what could not be, marked so)."""
    path = sandbox_dir() / "sandbox.json"
    if not path.is_file():
        return []
    sandbox = Sandbox.load(path)
    removed: list[str] = []
    steps = [
        lambda: take_back(sandbox, sandbox.handed_to) if sandbox.handed_to else [],
        lambda: _stop_moto(sandbox.moto_pid),
        lambda: [f"Docker engine: {g}" for g in remove_engine()[0]] if sandbox.made_engine else [],
        lambda: _remove_user(sandbox.made_user),
    ]
    for step in steps:
        try:
            removed += step()
        except Exception as exc:  # the next steps still run
            removed.append(f"NOT removed ({exc})")
    shutil.rmtree(sandbox_dir(), ignore_errors=True)
    return removed


def _stop_moto(pid: int) -> list[str]:
    if not (pid and runs(pid, b"moto_server")):
        return []
    os.kill(pid, signal.SIGTERM)
    return [f"moto's server (pid {pid})"]


def _remove_user(made: bool) -> list[str]:
    SUDOERS.unlink(missing_ok=True)
    if not made:
        return ["the sudoers entry"]
    # Its sessions first (Ansible's persistent SSH masters linger a minute).
    subprocess.run(["pkill", "-KILL", "-u", SSH_USER], capture_output=True, check=False)
    subprocess.run(["userdel", "--remove", SSH_USER], capture_output=True, check=False)
    return ["the sudoers entry", f"user {SSH_USER}"]


def _make_user() -> bool:
    """ec2-user, as on Amazon Linux; True if made here (and so removed by --down)."""
    try:
        pwd.getpwnam(SSH_USER)
        return False
    except KeyError:
        pass
    subprocess.run(
        # Password '*': none to log in with, yet not locked ("!"), which sshd refuses
        # without PAM even for a key.
        [
            "useradd",
            "--create-home",
            "--comment",
            USER_COMMENT,
            "--shell",
            "/bin/bash",
            "--password",
            "*",
            SSH_USER,
        ],
        check=True,
        capture_output=True,
    )
    return True


def _grant_sudo() -> None:
    """Passwordless sudo for ec2-user (checked by visudo first) and its authorized_keys."""
    rule = f"{SSH_USER} ALL=(ALL) NOPASSWD:ALL\n"
    staged = SUDOERS.with_name(".cdclab-sandbox.new")  # sudo ignores names with a dot
    staged.write_text(f"# Written by `invoke aws.sandbox`; removed by --down.\n{rule}")
    staged.chmod(0o440)
    checked = subprocess.run(["visudo", "-cf", str(staged)], capture_output=True, text=True)
    if checked.returncode != 0:
        staged.unlink()
        raise CdclabError(f"aws.sandbox: the sudoers entry did not check: {checked.stdout}")
    staged.replace(SUDOERS)
    user = pwd.getpwnam(SSH_USER)
    ssh = Path(user.pw_dir) / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    keys = ssh / "authorized_keys"
    keys.touch(mode=0o600)
    for path in (ssh, keys):
        os.chown(path, user.pw_uid, user.pw_gid)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_moto(directory: Path) -> tuple[str, int]:
    port = _free_port()
    with open(directory / "moto.log", "ab") as log:
        server = subprocess.Popen(
            [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives this command, like the lab's daemons
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _answers(endpoint):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise CdclabError(f"aws.sandbox: moto's server did not start (see {log.name})")
        time.sleep(0.2)
    return endpoint, server.pid


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
            return True
    except OSError:
        return False


def _store_secrets(sandbox: Sandbox) -> None:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=sandbox.endpoint,
        region_name=sandbox.region,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    for name, secret in SECRETS.items():
        client.create_secret(Name=name, SecretString=read_secret(secret))


def _write_values(path: Path, config) -> None:
    """The lab's database and Kafka as the user's, for `--values` (no secret in it)."""
    external = {
        "db_flavour": "mariadb",  # the lab's MariaDB stands in for Aurora MySQL
        "db_host": config.db.address,
        "db_user": CDC_USER,
        "db_password_from": "secretsmanager:cdclab/sandbox/db-cdc",
        "writer_user": WRITER_USER,
        "writer_password_from": "secretsmanager:cdclab/sandbox/db-writer",
        "db_ca_file": str(db_ca_file()),
        "kafka_bootstrap": config.kafka_sasl_ssl_bootstrap,
        "kafka_security": "SASL_SSL",  # SCRAM on TLS, as MSK offers it
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_user": "cdclab",
        "kafka_password_from": "secretsmanager:cdclab/sandbox/kafka",
        "kafka_ca_file": str(kafka_ca_file()),
    }
    path.write_text(
        "# Written by `invoke aws.sandbox`: the lab's database and Kafka as yours, their\n"
        "# passwords in the sandbox's Secrets Manager. Use: --values "
        + str(path)
        + "\n"
        + yaml.safe_dump({"external": external}, sort_keys=False)
    )
