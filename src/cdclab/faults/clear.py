"""invoke fault.clear: remove every cdclab fault on every lab host, idempotently."""

from __future__ import annotations

import subprocess

from cdclab.faults.actions import heal_iptables_by_tag
from cdclab.faults.plan import all_pidfiles, sweep_host
from cdclab.lab.access import running_config, ssh_to
from cdclab.paths import fault_heal_dir


def clear_faults(*, include_root: bool = False) -> dict[str, list[str]]:
    """host -> what was removed there. With include_root, the root namespace too."""
    config = running_config()
    pidfiles = all_pidfiles([a.name for a in config.arms])
    removed: dict[str, list[str]] = {}
    for host in config.hosts:
        with ssh_to(host) as ssh:
            removed[host.name] = sweep_host(ssh, str(fault_heal_dir()), pidfiles)
    if include_root:
        listed = subprocess.run(
            ["iptables", "-w", "-S"], capture_output=True, text=True, check=False
        ).stdout
        removed["root namespace"] = [f"rule: {r}" for r in listed.splitlines() if "cdclab:" in r]
        subprocess.run(["sh", "-c", heal_iptables_by_tag("cdclab:")], check=False)
    return removed


def clear_instance_faults(run_id: str) -> dict[str, list[str]]:
    """The same sweep on an AWS run's instance (its systemd dead-man timers included)."""
    from cdclab.aws.containers import HEAL_DIR
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.aws.provision import run_state_dir

    with ssh_from_inventory(run_state_dir(run_id) / "inventory.yml") as ssh:
        return {"instance": sweep_host(ssh, HEAL_DIR, [])}
