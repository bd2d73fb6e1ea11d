"""A running lab proven healthy, so `lab.up` can skip the playbooks: seconds, not a minute.

Proven, not assumed. The last successful `lab.up` records a digest of everything the
playbooks were given (the lab's shape, versions, connector configs, the playbooks and roles
themselves) and of every file they wrote. A later `lab.up` skips Ansible only when the
digest is the same, those files are unchanged, every lab process is alive, every connector
and task is RUNNING with the config lab.up registers, and a canary row reaches every arm's
topic. Anything else, and the playbooks run as before.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import BRIDGE
from cdclab.lab.processes import pidfile_process
from cdclab.lab.teardown import lab_links, lab_namespaces
from cdclab.paths import PROJECT_ROOT, state_dir

# What the lab's playbooks read besides their extra vars.
PLAYBOOK_SOURCES = ("ansible.cfg", "playbooks", "roles", "inventories")
# What they write (relative to the state directory): configs, start scripts, TLS
# material, keys, secrets. Logs, data and pid files change by themselves; they are not here.
WRITTEN = (
    "db/my.cnf",
    "db/tls/*.pem",
    "kafka/*.properties",
    "kafka2/*.properties",
    "kafka/tls/*",
    "connect/*/*.properties",
    "connect/*/jvm_opts",
    "connect/*/java.security",
    "connect/*/tls/*",
    "*/run/*.pid.start",
    "connect/*/run/*.pid.start",
    "run/sshd-*.conf",
    "ssh/*",
    "secrets/*",
)
# The processes the lab runs: lab_process's pid files (each has a .start script) and sshd's.
PIDFILES = ("*/run/*.pid.start", "connect/*/run/*.pid.start", "run/sshd-*.pid")
# What playbooks/lab_workers.yml writes and runs (the workers, the second broker), and the
# extra vars only it reads: a lab that differs from its record only there needs only
# lab_arms.yml.
WORKERS_PART = ("connect/", "kafka2/")
ARMS_LAB_VARS = ("arms", "debezium_versions", "connect_versions", "brokers")
INPUTS_CHANGED = "inputs changed"
CANARY_TIMEOUT_S = 10.0


def record_path() -> Path:
    return state_dir() / "run" / "lab-proof.json"


@dataclass(frozen=True)
class Proof:
    """Whether the running lab is the one lab.up would build, and if not, the first reason."""

    healthy: bool
    reason: str
    seconds: float
    # The lab's own connectors found PAUSED, and nothing else wrong up to them: what a run
    # killed mid-way leaves (it pauses them for its duration), repaired by resuming them.
    paused: tuple[str, ...] = ()
    # Only the arms differ from the last lab.up (another experiment's shape), and the rest
    # of the lab is as it left it: lab_arms.yml is enough.
    arms_only: bool = False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def base_extravars(extravars: dict[str, Any]) -> dict[str, Any]:
    """The extra vars without what only the workers' plays read."""
    lab = {k: v for k, v in extravars.get("cdclab_lab", {}).items() if k not in ARMS_LAB_VARS}
    rest = {k: v for k, v in extravars.items() if k not in ("cdclab_lab", "cdclab_connectors")}
    return {**rest, "cdclab_lab": lab}


def inputs_digest(extravars: dict[str, Any]) -> str:
    """One digest of the playbooks' extra vars and of the playbooks and roles."""
    digest = hashlib.sha256(json.dumps(extravars, sort_keys=True, default=str).encode())
    for name in PLAYBOOK_SOURCES:
        top = PROJECT_ROOT / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(_sha256(path).encode())
    return digest.hexdigest()


def _glob(patterns: tuple[str, ...]) -> list[Path]:
    root = state_dir()
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def written_files() -> dict[str, str]:
    root = state_dir()
    return {str(p.relative_to(root)): _sha256(p) for p in _glob(WRITTEN)}


def lab_pidfiles() -> list[str]:
    root = state_dir()
    return [str(p.relative_to(root)).removesuffix(".start") for p in _glob(PIDFILES)]


def record(extravars: dict[str, Any]) -> None:
    """After a successful lab.up: what the next one compares against."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "inputs": inputs_digest(extravars),
        "base_inputs": inputs_digest(base_extravars(extravars)),
        "files": written_files(),
        "pidfiles": lab_pidfiles(),
        "recorded_at": time.time(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(content, indent=1))
    tmp.replace(path)


def forget() -> None:
    """Before the playbooks run: a lab.up that fails or is interrupted proves nothing."""
    record_path().unlink(missing_ok=True)


def _load() -> dict[str, Any] | None:
    try:
        return json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None


def _shape_problem(config: LabConfig) -> str | None:
    missing = {h.namespace for h in config.hosts} - set(lab_namespaces())
    if missing:
        return f"namespace(s) missing: {', '.join(sorted(missing))}"
    if BRIDGE not in lab_links():
        return f"bridge {BRIDGE} missing"
    return None


def _process_problem(pidfiles: list[str]) -> str | None:
    for name in pidfiles:
        if pidfile_process(state_dir() / name) is None:
            return f"process not running: {name}"
    return None


def _connector_problem(connectors: list[dict[str, Any]], paused: list[str]) -> str | None:
    """The first connector problem; connectors that are only PAUSED (with lab.up's config)
    are added to `paused` and the others still checked, so paused is the whole repair."""
    from cdclab.connect_rest import ConnectRest

    first = None
    for entry in connectors:
        rest = ConnectRest(entry["rest_url"])
        state = rest.connector_state(entry["name"])
        problem = f"connector {entry['name']} is {state.connector}, task {state.task}"
        if state.connector != "PAUSED" and (state.connector, state.task) != ("RUNNING",) * 2:
            paused.clear()
            return problem  # absent, unreachable, failed: the playbooks' to mend
        status, registered = rest.request("GET", f"/connectors/{entry['name']}/config")
        if status != 200 or registered != entry["config"]:
            paused.clear()
            return f"connector {entry['name']}: registered config differs from lab.up's"
        if state.connector == "PAUSED":
            first = first or problem
            paused.append(entry["name"])
    return first


def _canary_problem() -> str | None:
    from cdclab.errors import CdclabError
    from cdclab.lab.smoke import lab_canary

    try:
        result = lab_canary(timeout_s=CANARY_TIMEOUT_S)
    except CdclabError as exc:
        return f"canary: {exc}"
    missing = [a.arm for a in result.arms if a.outcome != "delivered"]
    if missing:
        return f"canary not delivered within {CANARY_TIMEOUT_S:.0f} s on: {', '.join(missing)}"
    return None


def _outside_workers(names) -> set[str]:
    return {n for n in names if not n.startswith(WORKERS_PART)}


def _arms_only(recorded: dict[str, Any], extravars: dict[str, Any]) -> bool:
    """The inputs differ only in what the workers' plays read, and the files and processes
    of the rest of the lab are as the last lab.up left them."""
    if recorded.get("base_inputs") != inputs_digest(base_extravars(extravars)):
        return False
    files, now = recorded["files"], written_files()
    if any(files.get(n) != now.get(n) for n in _outside_workers(files.keys() | now.keys())):
        return False
    return _process_problem(sorted(_outside_workers(recorded["pidfiles"]))) is None


def prove(config: LabConfig, extravars: dict[str, Any]) -> Proof:
    """Cheapest checks first; the first that fails is the reason."""
    started = time.monotonic()
    paused: list[str] = []
    recorded = _load()

    def checks():
        yield None if recorded else "no record of a successful lab.up"
        yield _shape_problem(config)
        yield None if recorded["inputs"] == inputs_digest(extravars) else INPUTS_CHANGED
        files, now = recorded["files"], written_files()
        changed = sorted(n for n in files.keys() | now.keys() if files.get(n) != now.get(n))
        yield f"file(s) changed: {', '.join(changed[:5])}" if changed else None
        yield _process_problem(recorded["pidfiles"])
        yield _connector_problem(extravars["cdclab_connectors"], paused)
        yield _canary_problem()

    for problem in checks():
        if problem:
            arms_only = problem == INPUTS_CHANGED and _arms_only(recorded, extravars)
            return Proof(
                False,
                "only the arms changed" if arms_only else problem,
                time.monotonic() - started,
                tuple(paused),
                arms_only,
            )
    return Proof(True, "healthy", time.monotonic() - started)
