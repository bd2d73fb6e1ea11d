"""Where each arm of an AWS run listens, kept in the run's state for later tasks."""

from __future__ import annotations

import json
from pathlib import Path

from cdclab.errors import InvalidInputError

# In an AWS run's state: {arm: {"rest_host", "rest_port", "metrics_port"}}, where each arm's
# REST listens as seen from the instance (127.0.0.1 for the compose arms).
ARMS_FILE = "arms.json"


def write_arms_file(state: Path, arms: dict[str, dict]) -> Path:
    path = state / ARMS_FILE
    path.write_text(json.dumps(arms, indent=2) + "\n")
    return path


def deployed_arms(state: Path) -> dict[str, dict]:
    path = state / ARMS_FILE
    if not path.exists():
        raise InvalidInputError(
            f"no deployed arms in {state} (a run deploys them; `invoke aws.ls` lists runs)"
        )
    return json.loads(path.read_text())
