"""Taking a thread dump of an arm's Connect worker: `jcmd <pid> Thread.print -l` over SSH."""

from __future__ import annotations

import time
from pathlib import Path

from cdclab.errors import CdclabError
from cdclab.lab.access import ssh_to
from cdclab.lab.config import LabConfig
from cdclab.paths import worker_pidfile


def jcmd_thread_dump(config: LabConfig, arm_name: str) -> str:
    with ssh_to(config.connect) as ssh:
        pid = ssh.run(["cat", worker_pidfile(arm_name)]).stdout.strip()
        if not pid.isdigit():
            raise CdclabError(
                f"arm {arm_name}: no running worker (no pid file); `invoke lab.up` starts it"
            )
        done = ssh.run(["jcmd", pid, "Thread.print", "-l"], timeout=60)
        if not done.ok:
            raise CdclabError(f"arm {arm_name}: jcmd failed: {done.stderr.strip()}")
        return done.stdout


def dump_path(directory: Path, arm: str, trigger: str, at: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at or time.time()))
    return directory / arm / f"{stamp}-{trigger}.txt"
