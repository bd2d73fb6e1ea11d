"""Persistent SSH sessions to lab or EC2 hosts (paramiko), for steps that must be quick.

Ansible sets hosts up; a command over an open paramiko session takes ~85 ms instead of a
playbook's seconds, which is what checks on a schedule need.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko

from cdclab.errors import CdclabError


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class SSHHost:
    """One host reached with a key, its host key checked against known_hosts.

    Lab hosts are reached as root. An EC2 host is reached as its login user with
    `become=True`: every command then runs through `sudo -n` (iptables, docker need root).
    """

    def __init__(
        self,
        address: str,
        *,
        key_file: Path,
        known_hosts: Path,
        user: str = "root",
        port: int = 22,
        connect_timeout: float = 5.0,
        become: bool = False,
    ):
        self.address = address
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.user = user
        self.port = port
        self.connect_timeout = connect_timeout
        self.become = become and user != "root"
        self._client: paramiko.SSHClient | None = None
        self._connecting = threading.Lock()  # forwards and commands share one session

    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.address,
                port=self.port,
                username=self.user,
                key_filename=str(self.key_file),
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise CdclabError(f"cannot reach {self.user}@{self.address} over SSH: {exc}") from exc
        return client

    @property
    def client(self) -> paramiko.SSHClient:
        with self._connecting:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self._client = self._connect()
            return self._client

    def command_line(self, argv: list[str] | str) -> str:
        """What the remote shell runs: argv quoted, through sudo when becoming root."""
        command = argv if isinstance(argv, str) else shlex.join(argv)
        return f"sudo -n sh -c {shlex.quote(command)}" if self.become else command

    def run(
        self, argv: list[str] | str, *, stdin: str | None = None, timeout: float = 30.0
    ) -> CommandResult:
        """Run a command; argv lists are quoted. Secrets go through stdin, never argv."""
        command = self.command_line(argv)
        chan_in, chan_out, chan_err = self.client.exec_command(command, timeout=timeout)
        if stdin is not None:
            chan_in.write(stdin)
        chan_in.channel.shutdown_write()
        out = chan_out.read().decode(errors="replace")
        err = chan_err.read().decode(errors="replace")
        return CommandResult(chan_out.channel.recv_exit_status(), out, err)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
