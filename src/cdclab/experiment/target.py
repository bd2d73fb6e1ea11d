"""What every experiment target starts from (the lab, an EC2 host)."""

from __future__ import annotations

from pathlib import Path

from cdclab.ansible import EventHandler
from cdclab.experiment.spec import ExperimentSpec


class BaseTarget:
    kind: str
    substrate: str

    def __init__(
        self,
        spec: ExperimentSpec,
        run_id: str,
        artifact_dir: Path | None,
        event_handler: EventHandler | None = None,
    ):
        self.spec = spec
        self.run_id = run_id
        self.artifact_dir = artifact_dir  # Ansible's artifacts, inside the results directory
        self.event_handler = event_handler
