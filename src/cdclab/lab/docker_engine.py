"""The lab's Docker engine: dockerd on the connect host, inside its network namespace.

Containers with `network_mode: host` then share that host's network, so the lab's iptables
faults reach them as on an EC2 host. The docker_engine role starts it over SSH like any
host's daemon; a lab host's session (`ip netns exec`) has /sys remounted for the namespace,
so the role mounts the cgroup hierarchies dockerd needs in that session's mount namespace
first (docker_engine_mount_cgroups). It makes no bridge and no iptables rules of its own
(--bridge=none --iptables=false); its mounts live in the connect host's mount namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from cdclab.ansible import EventHandler, run_playbook
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import lab_extravars
from cdclab.lab.processes import alive, pidfile_process
from cdclab.paths import LOCAL_INVENTORY, state_dir


def engine_root(state: Path | None = None) -> Path:
    """Data root, exec root, socket, pid file and log of the lab's engine."""
    return (state or state_dir()) / "docker"


def engine_cli(root: Path | None = None) -> str:
    """The one-word docker command for the lab's engine (written by the docker_engine role)."""
    return str((root or engine_root()) / "docker")


def engine_extravars(image: str, tarball: Path | None) -> dict[str, Any]:
    """docker_up.yml's engine and image variables, beside the lab's (the compose ones are
    the target's)."""
    return {
        "cdclab_docker_root": str(engine_root()),
        "cdclab_image": image,
        "cdclab_image_tarball": str(tarball or ""),
        "cdclab_compose_arms": [],
    }


def start_engine(
    config: LabConfig,
    image: str,
    tarball: Path | None,
    event_handler: EventHandler | None = None,
) -> None:
    """The engine in the connect host, with the image imported if it was built here."""
    run_playbook(
        "docker_up.yml",
        inventory=LOCAL_INVENTORY,
        extravars={**lab_extravars(config), **engine_extravars(image, tarball)},
        event_handler=event_handler,
    )


def _mounts_under(root: Path) -> list[str]:
    """Mount points below root (overlay layers, shm, netns files), deepest first."""
    points = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].encode().decode("unicode_escape")
            if point == str(root) or point.startswith(f"{root}/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_engine(
    state: Path | None = None, grace_seconds: float = 20.0
) -> tuple[list[str], list[str]]:
    """Containers, dockerd, containerd and its shims, mounts and data: (removed, errors).

    Every step is tried even if another fails; nothing is left for a later lab.up to trip on.
    """
    root = engine_root(state)
    cli = engine_cli(root)
    removed: list[str] = []
    errors: list[str] = []
    if not root.exists():
        return removed, errors
    pid = pidfile_process(root / "dockerd.pid")
    if pid and Path(cli).exists():
        ids = _run([cli, "ps", "-aq"]).stdout.split()
        if ids:
            _run([cli, "rm", "-f", *ids])
            removed.append(f"{len(ids)} container(s)")
    if pid and alive(pid):
        _stop(pid, grace_seconds)
        removed.append("dockerd")
    shims = _processes_using(root)
    for shim in shims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(shim, signal.SIGKILL)
    if shims:
        removed.append(f"{len(shims)} leftover engine process(es)")
    for point in _mounts_under(root):
        done = _run(["umount", "-l", point])
        if done.returncode != 0:
            errors.append(f"could not unmount {point}: {done.stderr.strip()}")
    try:
        shutil.rmtree(root)
        removed.append(str(root))
    except OSError as exc:
        errors.append(f"could not remove {root}: {exc}")
    return removed, errors


def _stop(pid: int, grace_seconds: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _processes_using(root: Path) -> list[int]:
    """containerd and shims whose command line names the engine's root (they outlive
    dockerd when it is killed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(root) in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
