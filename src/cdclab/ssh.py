"""Persistent SSH sessions to lab or EC2 hosts (paramiko), for steps that must be quick.

Ansible sets hosts up; a command over an open paramiko session takes ~85 ms instead of a
playbook's seconds, which is what checks on a schedule need.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paramiko

from cdclab.errors import CdclabError

# A lab or EC2 sshd opens a channel in milliseconds; one that takes this long is stuck.
CHANNEL_OPEN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class JumpHost:
    """An SSH bastion on the way to a host with no address of its own this machine reaches.
    Logged in to with its own key (or the user's agent and default keys), its host key
    checked against its own known_hosts (or the user's)."""

    address: str
    user: str
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path | None = None

    @classmethod
    def parse(cls, text: str, key_file: str | None = None) -> JumpHost:
        """[user@]host[:port]; the user defaults to the local login, as ssh's does."""
        import getpass

        user, _, rest = text.rpartition("@")
        address, _, port = rest.partition(":")
        return cls(
            address=address,
            user=user or getpass.getuser(),
            port=int(port or 22),
            key_file=Path(key_file).expanduser() if key_file else None,
        )

    def proxy_command(self) -> str:
        """The same hop for OpenSSH (Ansible): `ssh -W` through the bastion."""
        argv = ["ssh", "-W", "%h:%p", "-p", str(self.port), "-o", "BatchMode=yes"]
        if self.key_file:
            argv += ["-i", str(self.key_file), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return shlex.join([*argv, f"{self.user}@{self.address}"])

    def connect(self, timeout: float) -> paramiko.SSHClient:
        try:
            return _open_client(
                self.address, self.port, self.user, self.key_file, self.known_hosts, timeout
            )
        except (OSError, paramiko.SSHException) as exc:
            raise CdclabError(
                f"cannot reach the bastion {self.user}@{self.address}:{self.port} (aws.ssh_jump) "
                f"over SSH: {exc}; check that `ssh {self.user}@{self.address}` works from here"
            ) from exc


def _open_client(
    address: str,
    port: int,
    user: str,
    key_file: Path | None,
    known_hosts: Path | None,
    timeout: float,
    sock: paramiko.Channel | None = None,
) -> paramiko.SSHClient:
    """A session to a host whose key is known already (known_hosts, else the user's); with
    no key file the user's agent and default keys are offered. Raises what paramiko does."""
    client = paramiko.SSHClient()
    if known_hosts:
        client.load_host_keys(str(known_hosts))
    else:
        client.load_system_host_keys()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            address,
            sock=sock,
            port=port,
            username=user,
            key_filename=str(key_file) if key_file else None,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=key_file is None,
            look_for_keys=key_file is None,
        )
    except BaseException:
        client.close()
        raise
    return client


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
        jump: JumpHost | None = None,
    ):
        self.address = address
        self.jump = jump
        self._jump_client: paramiko.SSHClient | None = None
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.user = user
        self.port = port
        self.connect_timeout = connect_timeout
        self.become = become and user != "root"
        self._client: paramiko.SSHClient | None = None
        self._connecting = threading.Lock()  # forwards and commands share one session

    def _through_jump(self) -> paramiko.Channel | None:
        """A channel to this host's SSH port opened by the bastion, when there is one."""
        if self.jump is None:
            return None
        if self._jump_client is not None:
            self._jump_client.close()
        self._jump_client = self.jump.connect(self.connect_timeout)
        transport = self._jump_client.get_transport()
        assert transport is not None
        try:
            return transport.open_channel(
                "direct-tcpip",
                (self.address, self.port),
                ("127.0.0.1", 0),
                timeout=self.connect_timeout,
            )
        except (OSError, paramiko.SSHException) as exc:
            raise CdclabError(
                f"the bastion {self.jump.address} cannot reach {self.address}:{self.port}: "
                f"{exc}; aws.allow_cidr must admit the bastion's address"
            ) from exc

    def _connect(self) -> paramiko.SSHClient:
        sock = self._through_jump()
        try:
            return _open_client(
                self.address,
                self.port,
                self.user,
                self.key_file,
                self.known_hosts,
                self.connect_timeout,
                sock,
            )
        except (OSError, paramiko.SSHException) as exc:
            raise CdclabError(f"cannot reach {self.user}@{self.address} over SSH: {exc}") from exc

    @property
    def client(self) -> paramiko.SSHClient:
        with self._connecting:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self._client = self._connect()
            return self._client

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        assert transport is not None  # client() returns a connected session
        return transport

    def _session(self) -> paramiko.Channel:
        """A new channel on the persistent session. A session whose server stopped answering
        (its channel never opens) is replaced once: nothing ran on it, so a retry is safe."""
        stale = self._transport()
        try:
            return stale.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S)
        except (EOFError, paramiko.SSHException):
            with self._connecting:
                if self._client is not None and self._client.get_transport() is stale:
                    self._client.close()
                    self._client = None
        return self._transport().open_session(timeout=CHANNEL_OPEN_TIMEOUT_S)

    def _exec(self, command: str, timeout: float) -> tuple[Any, Any, Any]:
        """paramiko's exec_command (stdin, stdout, stderr files), on a channel of _session."""
        channel = self._session()
        channel.settimeout(timeout)
        channel.exec_command(command)
        return channel.makefile_stdin("wb"), channel.makefile("r"), channel.makefile_stderr("r")

    def command_line(self, argv: list[str] | str) -> str:
        """What the remote shell runs: argv quoted, through sudo when becoming root."""
        command = argv if isinstance(argv, str) else shlex.join(argv)
        return f"sudo -n sh -c {shlex.quote(command)}" if self.become else command

    def run(
        self, argv: list[str] | str, *, stdin: str | None = None, timeout: float = 30.0
    ) -> CommandResult:
        """Run a command; argv lists are quoted. Secrets go through stdin, never argv."""
        chan_in, chan_out, chan_err = self._exec(self.command_line(argv), timeout)
        if stdin is not None:
            chan_in.write(stdin)
        chan_in.channel.shutdown_write()
        out = chan_out.read().decode(errors="replace")
        err = chan_err.read().decode(errors="replace")
        return CommandResult(chan_out.channel.recv_exit_status(), out, err)

    @contextlib.contextmanager
    def stream(self, argv: list[str] | str, timeout: float = 600.0) -> Iterator[IO[bytes]]:
        """A command's standard output as a byte stream (a tar of a results directory);
        a failure of the command raises after the stream was read."""
        _stdin, stdout, stderr = self._exec(self.command_line(argv), timeout)
        yield stdout
        if stdout.channel.recv_exit_status() != 0:
            raise CdclabError(f"{self.address}: {stderr.read().decode(errors='replace')[-500:]}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._jump_client is not None:
            self._jump_client.close()
            self._jump_client = None

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
