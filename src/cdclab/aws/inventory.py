"""The Ansible inventory of a provisioned run: the same groups as the lab's, so the same
playbooks run against an EC2 host (or a lab namespace standing in for one)."""

from __future__ import annotations

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
    """inventory.yml beside the run's key: one host in the `connect` and `kafka` groups.

    A new instance's host key is unknown until first contact: accept-new records it in the
    run's own known_hosts and refuses a changed one afterwards.
    """
    known_hosts = known_hosts or str(directory / "known_hosts")
    inventory = {
        "all": {
            "vars": {
                "ansible_user": user,
                "ansible_ssh_private_key_file": key_file,
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=accept-new "
                    "-o IdentitiesOnly=yes -o BatchMode=yes"
                ),
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                "connect": {"hosts": {host_name: {"ansible_host": address}}},
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
