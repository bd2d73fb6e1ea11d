"""What containerised arms capture and where the canaries go — the lab's source or yours —
as one seam (`Source`), and the parts of a target that only ask it (`Sourced`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.core.spec import LoadSpec
from cdclab.load import LoadWriter
from cdclab.ssh import SSHHost
from cdclab.targets.run_connectors import RunArm


class Source(Protocol):
    """What containerised arms capture and where the canaries go: the lab's, or yours."""

    @property
    def secret_env_names(self) -> list[str]: ...

    @property
    def db_host(self) -> str: ...

    @property
    def connector_class(self) -> str: ...

    def preflight(self) -> None: ...

    def describe(self) -> str: ...

    def topic(self, topic_prefix: str) -> str: ...

    def connector_config(
        self, name: str, server_id: int, topic_prefix: str, overrides: dict[str, Any]
    ) -> dict[str, Any]: ...

    def deploy_secrets(self) -> dict[str, str]: ...

    def deploy_vars(self, files: dict[str, Path | str]) -> dict[str, Any]: ...

    def db_peer(self, ssh: SSHHost, where: str) -> str: ...

    def writer(self) -> CanaryWriter: ...

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter: ...

    def watcher(self, topics: dict[str, str]) -> CanaryWatcher: ...

    def db_version(self) -> str | None: ...

    def tls(self, worker_pids: dict[int, str]) -> dict[str, Any]: ...


class Sourced:
    """Connector entries and the clock's writers and watcher, from the target's source; the
    target says where each arm's REST listens (`rest_port`)."""

    source: Source
    arms: list[RunArm]
    _arm_specs: dict[str, Any]

    def rest_port(self, arm_name: str) -> int:
        raise NotImplementedError

    def connector_entries(self) -> list[dict[str, Any]]:
        """{name, rest_url (on the arms' host), config} per arm."""
        return [
            {
                "name": arm.connector,
                "rest_url": f"http://127.0.0.1:{self.rest_port(arm.name)}",
                "config": self.source.connector_config(
                    arm.connector,
                    arm.server_id,
                    arm.topic_prefix,
                    self._arm_specs[arm.name].connector,  # the spec's shared ones merged in
                ),
            }
            for arm in self.arms
        ]

    def writer(self) -> CanaryWriter:
        return self.source.writer()

    def load_writer(self, load: LoadSpec, on_error) -> LoadWriter:
        return self.source.load_writer(load, on_error)

    def watcher(self) -> CanaryWatcher:
        return self.source.watcher({a.name: a.topic for a in self.arms})
