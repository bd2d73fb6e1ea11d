"""Shared test helpers: run the real command line the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.fixture
def invoke_cli():
    return run_invoke
