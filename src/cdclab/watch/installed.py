"""Where installed watches are (`invoke watch.install`): this machine keeps a record per
watch name of how to reach its host, so `watch.status` and `watch.uninstall` find it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from cdclab import __version__
from cdclab.ansible import run_playbook
from cdclab.aws.inventory import ssh_from_inventory, write_inventory
from cdclab.aws.provision import run_state_dir
from cdclab.aws.wheelhouse import wheelhouse_tarball
from cdclab.errors import InvalidInputError
from cdclab.paths import aws_state_dir
from cdclab.progress import ansible_printer
from cdclab.watch.config import DB_DSN_ENV, account_from_env
from cdclab.watch.service import WatchService, check_name

EXPLICIT = ("connect_url", "connector", "topic", "kafka_bootstrap")


def watches_dir() -> Path:
    """Beside the AWS runs' state: the user's, not the machine's."""
    return aws_state_dir().parent / "watches"


def install_watch(
    name: str, settings: dict[str, Any], explicit: dict[str, str | None], where: dict
) -> WatchService:
    """Check everything here first (name, what to watch, the DSN, where), then install."""
    check_name(name)
    missing = [f"--{k.replace('_', '-')}" for k in EXPLICIT if not explicit.get(k)]
    if missing:
        raise InvalidInputError(
            f"watch.install: name what the host watches: {', '.join(missing)} (the host "
            "reaches the connector itself, e.g. --connect-url http://127.0.0.1:8083)"
        )
    account_from_env()  # CDCLAB_WATCH_DB parses, its CA is named (copied to the host)
    inventory = _inventory_for(name, where)
    service = WatchService(ssh_from_inventory(inventory), name)
    request = {"target": "explicit", "settings": settings, "explicit": explicit, "duration": None}
    service.install(request, os.environ[DB_DSN_ENV])
    record = watches_dir() / name
    record.mkdir(parents=True, exist_ok=True, mode=0o700)
    (record / "watch.json").write_text(json.dumps({"inventory": str(inventory)}) + "\n")
    return service


def _inventory_for(name: str, where: dict) -> Path:
    """An AWS run's instance (cdclab is there from its deploy) or any host over SSH, with
    cdclab installed there from the wheelhouse first."""
    run_id, host = where.get("run_id"), where.get("host")
    if bool(run_id) == bool(host):
        raise InvalidInputError(
            "watch.install: where? give --run-id RUN (an AWS run's instance) or "
            "--host [user@]host[:port] with --key-file"
        )
    if run_id:
        inventory = run_state_dir(run_id) / "inventory.yml"
        if not inventory.exists():
            raise InvalidInputError(f"--run-id: no AWS run {run_id} here; `invoke aws.ls`")
        return inventory
    return _host_inventory(name, host, where.get("key_file"), where.get("python"))


def _host_inventory(name: str, host: str, key_file: str | None, python: str | None) -> Path:
    from cdclab.ssh import JumpHost

    if not key_file or not Path(key_file).expanduser().is_file():
        raise InvalidInputError(f"--key-file: the private key for {host} ({key_file!r})")
    target = JumpHost.parse(host, key_file)  # [user@]host[:port], checked the same way
    inventory = write_inventory(
        watches_dir() / name,
        address=target.address,
        user=target.user,
        key_file=str(Path(key_file).expanduser()),
        host_vars={"ansible_port": target.port} if target.port != 22 else None,
    )
    control = {"cdclab_control_install": "none", "cdclab_control_python": python} if python else {}
    run_playbook(
        "watch_install.yml",
        inventory=inventory,
        extravars={
            "cdclab_wheelhouse": str(wheelhouse_tarball()),
            "cdclab_version": __version__,
            **control,
        },
        event_handler=ansible_printer(),
    )
    return inventory


def installed_watch(name: str) -> WatchService:
    record = watches_dir() / check_name(name) / "watch.json"
    if not record.is_file():
        raise InvalidInputError(f"--name {name}: no watch installed from here by that name")
    inventory = Path(json.loads(record.read_text())["inventory"])
    return WatchService(ssh_from_inventory(inventory), name)


def forget_watch(name: str) -> None:
    # Its record, inventory and known_hosts (a --host install's) go with it.
    shutil.rmtree(watches_dir() / name, ignore_errors=True)
