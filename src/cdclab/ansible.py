"""The one wrapper around ansible-runner: run a playbook, collect stats and failures.

No shelling out to ansible-playbook: ansible-runner gives events and artifacts per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from cdclab.errors import CdclabError
from cdclab.paths import PLAYBOOKS_DIR, PROJECT_ROOT, state_dir
from cdclab.redact import looks_secret

EventHandler = Callable[[dict[str, Any]], None]


@dataclass
class PlaybookResult:
    playbook: str
    status: str
    rc: int
    changed: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    artifact_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


class PlaybookFailed(CdclabError):
    def __init__(self, result: PlaybookResult):
        details = "\n".join(f"  - {f}" for f in result.failures) or _stdout_tail(result)
        super().__init__(
            f"playbook {result.playbook} failed (status {result.status}, rc {result.rc}):\n"
            f"{details}\nAnsible artifacts: {result.artifact_dir}"
        )
        self.result = result


def _stdout_tail(result: PlaybookResult, lines: int = 15) -> str:
    """When no task failed (a parse error, say), Ansible's own last words explain it."""
    stdout = result.artifact_dir / "stdout" if result.artifact_dir else None
    if stdout is None or not stdout.exists():
        return "  (no task failure recorded)"
    tail = stdout.read_text(errors="replace").rstrip().splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in tail)


def _failure_text(event: Mapping[str, Any]) -> str:
    data = event.get("event_data", {})
    res = data.get("res", {}) or {}
    msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
    if res.get("_ansible_no_log") or res.get("censored"):
        msg = "(output hidden: task handles a secret)"
    return f"{data.get('host', '?')}: {data.get('task', '?')}: {str(msg).strip()[:800]}"


def _environment() -> dict[str, str]:
    # ansible-runner execs ansible-playbook from PATH: put this interpreter's bin dir first,
    # so a venv works without being activated.
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]),
        "ANSIBLE_CONFIG": str(PROJECT_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(PROJECT_ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
    }


# Environment variables that look secret are a playbook's business never: ansible-runner
# copies its whole environment into the `command` artifact (AWS keys, an env: password).


@contextlib.contextmanager
def _private_data_dir():
    """A fresh private data dir per run, and no env files in it: ansible-runner otherwise
    writes env/envvars, env/extravars and env/cmdline on the first run only and then
    prefers those files, so one run's settings (even --check) would leak into the next."""
    base = state_dir() / "ansible-private"
    base.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    try:
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def _secrets_out_of_environment(names: Iterable[str]):
    hidden = {
        name: os.environ.pop(name)
        for name in list(os.environ)
        if name in set(names) or looks_secret(name)
    }
    try:
        yield
    finally:
        os.environ.update(hidden)


def run_playbook(
    playbook: str,
    *,
    inventory: Path | list[Path],
    extravars: Mapping[str, Any],
    artifact_dir: Path | None = None,
    event_handler: EventHandler | None = None,
    check: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    hide_env: Iterable[str] = (),
) -> PlaybookResult:
    """Run playbooks/<playbook> and return its result; raise PlaybookFailed on failure.

    extravars must never hold a secret: ansible-runner writes them to its artifacts.
    Roles read secrets from files on the controller instead (no_log tasks). Environment
    variables named in hide_env, or looking like secrets, are kept from the playbook.
    """
    artifacts = artifact_dir or state_dir() / "ansible"
    artifacts.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    def on_event(event: dict[str, Any]) -> bool:
        failed = event.get("event") in ("runner_on_failed", "runner_on_unreachable")
        if failed and not event.get("event_data", {}).get("ignore_errors"):
            failures.append(_failure_text(event))
        if event_handler is not None:
            event_handler(event)
        return True

    inventories = inventory if isinstance(inventory, list) else [inventory]
    with _private_data_dir() as private, _secrets_out_of_environment(hide_env):
        runner = ansible_runner.run(
            private_data_dir=str(private),
            artifact_dir=str(artifacts),
            ident=f"{Path(playbook).stem}-{uuid.uuid4().hex[:8]}",
            playbook=str(PLAYBOOKS_DIR / playbook),
            inventory=[str(p) for p in inventories],
            extravars=dict(extravars),
            envvars=_environment(),
            cmdline="--check" if check else None,
            limit=limit,
            tags=tags,
            quiet=True,
            event_handler=on_event,
            suppress_env_files=True,
        )
    stats = runner.stats or {}
    result = PlaybookResult(
        playbook=playbook,
        status=runner.status,
        rc=runner.rc,
        changed=dict(stats.get("changed", {})),
        failures=failures,
        artifact_dir=Path(runner.config.artifact_dir),
    )
    if not result.ok:
        raise PlaybookFailed(result)
    return result
