"""The Ansible inventory of a provisioned run: the same groups as the lab's, so the same
playbooks run against an EC2 host (or a lab namespace standing in for one)."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from cdclab.core.aws_settings import AwsSettings
from cdclab.ssh import JumpHost, SSHHost


def instance_route(
    public_ip: str | None, private_ip: str | None, settings: AwsSettings
) -> tuple[str, JumpHost | None]:
    """The address to reach the instance at, and the bastion on the way: with aws.ssh_jump
    its private address through the bastion, else its public one (else its private one)."""
    if settings.ssh_jump:
        jump = JumpHost.parse(settings.ssh_jump, settings.ssh_jump_key_file)
        return private_ip or "", jump
    return public_ip or private_ip or "", None


def write_inventory(
    directory: Path,
    *,
    address: str,
    user: str,
    key_file: str,
    known_hosts: str | None = None,
    host_name: str = "cdclab-aws",
    jump: JumpHost | None = None,
    host_vars: dict[str, Any] | None = None,
) -> Path:
    """inventory.yml beside the run's key: one host in the `connect` group.

    A new instance's host key is unknown until first contact: accept-new records it in the
    run's own known_hosts and refuses a changed one afterwards. The connection settings are
    the group's, not `all`'s: the implicit localhost (the deploy's first play) would take
    `all`'s, sudo and login user included. With a bastion, OpenSSH hops through it
    (ProxyCommand) and cdclab's own sessions read the same bastion from cdclab_ssh_jump.
    """
    known_hosts = known_hosts or str(directory / "known_hosts")
    hop = f" -o {shlex.quote('ProxyCommand=' + jump.proxy_command())}" if jump else ""
    inventory = {
        "all": {
            "children": {
                "connect": {
                    "hosts": {host_name: {"ansible_host": address, **(host_vars or {})}},
                    "vars": {
                        # cdclab's own SSH sessions (paramiko) read the same facts here.
                        "cdclab_known_hosts": known_hosts,
                        "ansible_user": user,
                        "ansible_ssh_private_key_file": key_file,
                        "ansible_ssh_common_args": (
                            f"-o UserKnownHostsFile={known_hosts} "
                            "-o StrictHostKeyChecking=accept-new "
                            "-o IdentitiesOnly=yes -o BatchMode=yes" + hop
                        ),
                        "cdclab_ssh_jump": _jump_vars(jump),
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


def _jump_vars(jump: JumpHost | None) -> dict[str, str | int] | None:
    if jump is None:
        return None
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(jump).items() if v}


def _jump_of(facts: dict | None) -> JumpHost | None:
    if not facts:
        return None
    paths = {k: Path(facts[k]) for k in ("key_file", "known_hosts") if facts.get(k)}
    return JumpHost(facts["address"], facts["user"], int(facts.get("port", 22)), **paths)


@dataclass(frozen=True)
class InventoryHost:
    """The instance as the run's inventory describes it: enough for an SSH session."""

    name: str
    address: str
    user: str
    key_file: str
    known_hosts: str
    jump: JumpHost | None = None
    port: int = 22


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
        jump=_jump_of(settings.get("cdclab_ssh_jump")),
        port=int(host.get("ansible_port", 22)),
    )


def ssh_from_inventory(path: Path):
    """An SSH session to the run's instance as its inventory describes it (sudo as needed)."""
    host = read_inventory(path)
    return SSHHost(
        host.address,
        key_file=Path(host.key_file),
        known_hosts=Path(host.known_hosts),
        user=host.user,
        become=True,
        jump=host.jump,
        port=host.port,
    )
