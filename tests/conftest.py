"""Shared test helpers: run the real command line the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdclab.paths import PROJECT_ROOT

INVOKE = Path(sys.executable).parent / "invoke"


@dataclass
class Ran:
    rc: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_invoke(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    prefix: list[str] | None = None,
) -> Ran:
    done = subprocess.run(
        [*(prefix or []), str(INVOKE), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return Ran(done.returncode, done.stdout, done.stderr)


# The lab's modules share one lab, in an order that changes it as little as possible:
# test_lab builds it from nothing; the modules on its own shape follow; then those whose last
# runs change it (test_faults' 4-worker catalog, test_handshakes' ssl-debug arms); test_oncall
# brings the lab's own shape back for test_docker (on ssl-debug's debug-logging workers the
# docker runs' lab.up ran every playbook, twice), last, whose last test takes the lab down.
# Unit tests first, with no lab up.
FIRST_MODULES = ("test_lab.py",)
LAST_MODULES = ("test_faults.py", "test_handshakes.py", "test_oncall.py", "test_docker.py")


def _rank(item) -> tuple[int, int]:
    name = item.path.name
    if item.path.parent.name != "integration":
        return (0, 0)
    if name in FIRST_MODULES:
        return (1, 0)
    if name in LAST_MODULES:
        return (1, 2 + LAST_MODULES.index(name))
    return (1, 1)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_rank)  # stable: the order within a rank is kept


@pytest.fixture
def invoke_cli():
    return run_invoke


# -- the machine as the tests found it --------------------------------------------------
# The lab's namespaces are machine-wide. Lab tests bring up (or take over) the machine's lab
# under their own state directory; at the end of the session that lab goes down again, and
# a lab that another state directory drove before the tests is brought back up, so the
# README's first command works right after its second one.


def _lab_up_owner() -> Path | None:
    if os.geteuid() != 0:
        return None
    from cdclab.lab.teardown import lab_namespaces, lab_owner

    return lab_owner() if lab_namespaces() else None


def pytest_sessionstart(session):
    session.config.stash[_OWNER_BEFORE] = _lab_up_owner()


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(_OWNER_BEFORE, None)
    now = _lab_up_owner()
    if now is None or now == before:
        return
    from cdclab.lab.teardown import teardown

    previous = os.environ.get("CDCLAB_STATE_DIR")
    os.environ["CDCLAB_STATE_DIR"] = str(now)
    try:
        teardown()
    finally:
        if previous is None:
            os.environ.pop("CDCLAB_STATE_DIR", None)
        else:
            os.environ["CDCLAB_STATE_DIR"] = previous
    if before is not None:
        run_invoke("lab.up", env={"CDCLAB_STATE_DIR": str(before)}, timeout=1200)


_OWNER_BEFORE = pytest.StashKey[Path | None]()


def make_ca(directory: Path, common_name: str) -> Path:
    """A throwaway CA certificate (PEM) that signed nothing the lab serves."""
    cert = directory / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(directory / "other-ca-key.pem"), "-out", str(cert),
         "-subj", f"/CN={common_name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert


def group_alive(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group: a killed group's members may
    wait as zombies until their reaper gets to them."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def until(condition, within_s: float, poll_s: float = 0.5) -> None:
    """Poll condition until it holds; fail the test after within_s."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll_s)
