"""Local port forwards over an SSH session (paramiko's direct-tcpip channels).

The AWS target's Connect REST and Jolokia ports listen on 127.0.0.1 of the instance and are
never opened in its security group: the orchestrator reaches them through forwards like
`ssh -L`, one loopback port here per remote port there.
"""

from __future__ import annotations

import logging
import select
import socket
import threading

import paramiko

from cdclab.errors import CdclabError
from cdclab.ssh import SSHHost

# A forward to a port nobody listens on yet (a worker still starting) is refused: the caller
# sees the error; paramiko's own "Secsh channel open FAILED" line would only be noise.
logging.getLogger("paramiko.transport").addHandler(logging.NullHandler())

_CHUNK = 65536


class LocalForward:
    """127.0.0.1:<local_port> here → remote_host:remote_port as seen from the SSH host."""

    def __init__(self, ssh: SSHHost, remote_host: str, remote_port: int):
        self.ssh = ssh
        self.remote = (remote_host, remote_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.5)
        self.local_port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._accept, name=f"cdclab-forward-{remote_port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, peer = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client: socket.socket, peer) -> None:
        try:
            transport = self.ssh.client.get_transport()
            if transport is None:
                raise CdclabError("SSH session closed")
            channel = transport.open_channel("direct-tcpip", self.remote, peer, timeout=10)
        except (CdclabError, paramiko.SSHException, OSError):
            # The caller sees a refused/closed connection, as from a worker that is down.
            client.close()
            return
        try:
            _pump(client, channel, self._stop)
        finally:
            channel.close()
            client.close()

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=2)


def _pump(client: socket.socket, channel: paramiko.Channel, stop: threading.Event) -> None:
    while not stop.is_set():
        readable, _, _ = select.select([client, channel], [], [], 0.5)
        if client in readable:
            data = client.recv(_CHUNK)
            if not data:
                return
            channel.sendall(data)
        if channel in readable:
            data = channel.recv(_CHUNK)
            if not data:
                return
            client.sendall(data)
