"""The Ansible inventory of a provisioned run: the same groups as the lab's, so the same
playbooks run against an EC2 host (or a lab namespace standing in for one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


def write_inventory(
    directory: Path,
    *,
    address: str,
    user: str,
    key_file: str,
    known_hosts: str | None = None,
    host_name: str = "cdclab-aws",
) -> Path:
    """inventory.yml beside the run's key: one host in the `connect` group.

    A new instance's host key is unknown until first contact: accept-new records it in the
    run's own known_hosts and refuses a changed one afterwards. The connection settings are
    the group's, not `all`'s: the implicit localhost (the deploy's first play) would take
    `all`'s, sudo and login user included.
    """
    known_hosts = known_hosts or str(directory / "known_hosts")
    inventory = {
        "all": {
            "children": {
                "connect": {
                    "hosts": {host_name: {"ansible_host": address}},
                    "vars": {
                        # cdclab's own SSH sessions (paramiko) read the same facts here.
                        "cdclab_known_hosts": known_hosts,
                        "ansible_user": user,
                        "ansible_ssh_private_key_file": key_file,
                        "ansible_ssh_common_args": (
                            f"-o UserKnownHostsFile={known_hosts} "
                            "-o StrictHostKeyChecking=accept-new "
                            "-o IdentitiesOnly=yes -o BatchMode=yes"
                        ),
                        "ansible_python_interpreter": "/usr/bin/python3",
                        "ansible_become": user != "root",
                    },
                },
            },
        }
    }
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "inventory.yml"
    path.write_text(
        "# Written by cdclab for one AWS run; the lab's inventory has the same groups.\n"
        + yaml.safe_dump(inventory, sort_keys=False)
    )
    return path


@dataclass(frozen=True)
class InventoryHost:
    """The instance as the run's inventory describes it: enough for an SSH session."""

    name: str
    address: str
    user: str
    key_file: str
    known_hosts: str


def read_inventory(path: Path) -> InventoryHost:
    if not path.exists():
        from cdclab.errors import InvalidInputError

        raise InvalidInputError(
            f"--run-id: no such AWS run here ({path} is missing); `invoke aws.ls` lists runs"
        )
    group = yaml.safe_load(path.read_text())["all"]["children"]["connect"]
    settings = group["vars"]
    ((name, host),) = group["hosts"].items()
    return InventoryHost(
        name=name,
        address=host["ansible_host"],
        user=settings["ansible_user"],
        key_file=settings["ansible_ssh_private_key_file"],
        known_hosts=settings["cdclab_known_hosts"],
    )


def ssh_from_inventory(path: Path):
    """An SSH session to the run's instance as its inventory describes it (sudo as needed)."""
    from cdclab.ssh import SSHHost

    host = read_inventory(path)
    return SSHHost(
        host.address,
        key_file=Path(host.key_file),
        known_hosts=Path(host.known_hosts),
        user=host.user,
        become=True,
    )
