"""`invoke logs --arm A --since 10m`: a worker's recent log, from the lab host or the
instance's container, over SSH."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime

from cdclab.errors import CdclabError, InvalidInputError

# log4j's ISO8601 pattern in the lab's worker log: "[2026-11-26 00:14:39,952] INFO …"
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")
TAIL_LINES = 50_000


def since_filter(lines: list[str], since_epoch: float) -> list[str]:
    """Lines stamped at or after since_epoch (UTC), with their unstamped continuations
    (stack traces); unstamped lines before the first stamp are dropped."""
    kept, keep = [], False
    for line in lines:
        stamp = STAMP.match(line)
        if stamp:
            at = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            keep = at.timestamp() + int(stamp[2]) / 1000 >= since_epoch
        if keep:
            kept.append(line)
    return kept


def lab_worker_log(arm: str, since_epoch: float) -> str:
    from cdclab.lab.access import running_config, ssh_to
    from cdclab.paths import state_dir

    config = running_config()
    try:
        config.arm(arm)
    except KeyError as exc:
        raise InvalidInputError(f"--arm: {exc.args[0]}") from exc
    path = state_dir() / "connect" / arm / "log" / "connect.log"
    with ssh_to(config.connect) as ssh:
        done = ssh.run(["tail", "-n", str(TAIL_LINES), str(path)], timeout=60)
    if not done.ok:
        raise CdclabError(f"arm {arm}: cannot read {path}: {done.stderr.strip()}")
    return "\n".join(since_filter(done.stdout.splitlines(), since_epoch))


def aws_container_log(run_id: str, arm: str, since_s: float, cli: str = "docker") -> str:
    from cdclab.aws.containers import container_name
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.aws.provision import run_state_dir

    with ssh_from_inventory(run_state_dir(run_id) / "inventory.yml") as ssh:
        done = ssh.run(
            f"{cli} logs --since {int(since_s)}s {shlex.quote(container_name(arm))} 2>&1",
            timeout=120,
        )
    if not done.ok:
        raise CdclabError(f"arm {arm} of run {run_id}: {done.stdout.strip()[-500:]}")
    return done.stdout
