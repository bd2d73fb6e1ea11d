"""Where things live: the checkout, the machine-wide lab state, the download cache."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = PROJECT_ROOT / "roles"
PLAYBOOKS_DIR = PROJECT_ROOT / "playbooks"
INVENTORIES_DIR = PROJECT_ROOT / "inventories"
LOCAL_INVENTORY = INVENTORIES_DIR / "local"  # the lab's hosts (and the controller)
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
VERSIONS_FILE = PROJECT_ROOT / "versions.yml"


def state_dir() -> Path:
    """The lab's state (keys, pid files, logs, data).

    Machine-wide, not per checkout: the lab's namespaces and bridge are machine-wide too,
    so there is one lab per machine and every checkout must find the same state.
    """
    return Path(os.environ.get("CDCLAB_STATE_DIR", "/var/lib/cdclab/lab"))


def worker_pidfile(arm_name: str) -> str:
    """The pid file of an arm's Connect worker, as the lab_process role writes it."""
    return str(state_dir() / "connect" / arm_name / "run" / "connect.pid")


def fault_heal_dir() -> Path:
    """Heal scripts and dead-man pid files of the lab's faults (every host sees it)."""
    return state_dir() / "run" / "faults"


def cache_dir() -> Path:
    """Downloads (the Maven repository). Inside the checkout, git-ignored, safe to delete."""
    return Path(os.environ.get("CDCLAB_CACHE_DIR", str(PROJECT_ROOT / ".cache")))


def results_dir() -> Path:
    return Path(os.environ.get("CDCLAB_RESULTS_DIR", str(PROJECT_ROOT / "results")))


def aws_state_dir() -> Path:
    """Per-run AWS state (private keys, host.json, inventory). The user's, not the machine's:
    provisioning needs no root. Never inside results/."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return Path(os.environ.get("CDCLAB_AWS_STATE_DIR", str(default / "cdclab" / "aws")))
