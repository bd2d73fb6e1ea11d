"""The place an experiment runs: the `Target` protocol every target implements.

A run's lifecycle, in the order the runner calls it (ducktape's `Service` writes its
lifecycle down the same way): `check_prerequisites` and `exclusive` before anything, then
`preflight` (nothing is created yet), `prepare`, `apply_sysctls`, `sweep_faults`, the clock
(`writer`, `watcher`, `rest`, `metrics`, `thread_dump`, `load_writer`, faults through
`fault_actions`/`ssh_for`/`fault_heal_dir`), then `cleanup`, `collect_logs` and `close`,
each of which runs even if an earlier one failed. Facts for the manifest come from
`versions`, `hosts` and `tls`. The runner never asks which target it has.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cdclab.ansible import EventHandler
from cdclab.canary import CanaryWatcher, CanaryWriter
from cdclab.connect_rest import ConnectRest
from cdclab.core.spec import ExperimentSpec, LoadSpec
from cdclab.faults.actions import FaultAction
from cdclab.lab.config import Arm
from cdclab.load import LoadWriter
from cdclab.metrics import StreamingMetrics
from cdclab.ssh import SSHHost
from cdclab.targets.run_connectors import RunArm, run_connector_name, run_server_id

FIRST_REST_PORT = 8083
FIRST_SERVER_ID = 5401


def spec_arms(spec: ExperimentSpec, first_rest_port: int = FIRST_REST_PORT) -> list[Arm]:
    """One worker per spec arm, REST ports from 8083 in order (metrics at REST + 700)."""
    return [
        Arm(
            name=name,
            rest_port=first_rest_port + index,
            server_id=FIRST_SERVER_ID + index,
            jvm_opts=arm.jvm_opts,
            security_properties=arm.security_properties,
            debezium=arm.debezium,
        )
        for index, (name, arm) in enumerate(spec.resolved_arms().items())
    ]


class Target(Protocol):
    """Where one experiment run happens (the lab, an EC2 host)."""

    kind: str  # the spec's `target:` value
    run_id: str
    substrate: str  # what hosts the arms (netns, ec2), for the manifest
    arms: list[RunArm]  # this run's arms, in spec order
    artifact_dir: Path | None  # Ansible's artifacts go here (inside the results directory)

    # -- before anything exists -----------------------------------------------------------
    def describe_plan(self) -> list[str]:
        """--dry-run: what would be created and run, without creating anything."""
        ...

    def check_prerequisites(self) -> None:
        """What this machine needs for the target (root and programs for the lab)."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[Any]:
        """Held for the whole run: one experiment at a time where runs would collide."""
        ...

    def preflight(self) -> None:
        """Every check that needs no resource: a bad setting fails here, before a results
        directory exists."""
        ...

    # -- set up and tear down ---------------------------------------------------------------
    @property
    def preparing(self) -> str:
        """What prepare() is about to do, in a few words for the user."""
        ...

    def prepare(self) -> list[str]:
        """Stand up the arms and register this run's connectors; returns warnings."""
        ...

    hands_over: bool  # False: the clock runs here (see HandsOver)

    def apply_sysctls(self) -> list[dict[str, str]]:
        """The spec's host tuning; what was set and what it replaced."""
        ...

    def restore_sysctls(self) -> list[str]:
        """Undo apply_sysctls; errors, not exceptions."""
        ...

    def sweep_faults(self) -> list[str]:
        """Remove faults an earlier run left behind; what was found."""
        ...

    def cleanup(self) -> list[str]:
        """Delete this run's connectors, undo its changes; errors, not exceptions."""
        ...

    def collect_logs(self, results: Path) -> None:
        """Bring the workers' logs into the results directory."""
        ...

    def close(self) -> list[str]:
        """Release what the run holds (forwards, an instance unless kept); errors."""
        ...

    # -- what the clock uses ------------------------------------------------------------------
    def writer(self) -> CanaryWriter: ...

    def watcher(self) -> CanaryWatcher: ...

    def load_writer(self, load: LoadSpec, on_error: Callable[[str], None]) -> LoadWriter: ...

    def rest(self, arm: RunArm) -> ConnectRest: ...

    def metrics(self, arm: RunArm) -> StreamingMetrics: ...

    def thread_dump(self, arm_name: str) -> str: ...

    # -- faults -------------------------------------------------------------------------------
    def fault_actions(self, run_id: str) -> list[FaultAction]:
        """The spec's faults as concrete actions on this target's hosts."""
        ...

    def ssh_for(self, host_name: str) -> SSHHost:
        """A session of its own to the host a fault acts on."""
        ...

    @property
    def fault_heal_dir(self) -> str:
        """Where heal scripts and dead-man pid files live on the hosts."""
        ...

    # -- facts for the manifest ---------------------------------------------------------------
    def versions(self) -> dict[str, Any]: ...

    def hosts(self) -> dict[str, Any]: ...

    def tls(self) -> dict[str, Any]: ...


class HandsOver(Protocol):
    """A place that runs the clock itself (an EC2 instance with cdclab on it): checked and
    prepared from here, then handed the run (`start_remote`), which this machine follows
    and pulls; `close` removes what was made for it."""

    kind: str
    run_id: str
    hands_over: bool  # True

    def describe_plan(self) -> list[str]: ...

    def check_prerequisites(self) -> None: ...

    def exclusive(self) -> contextlib.AbstractContextManager[Any]: ...

    def preflight(self) -> None: ...

    @property
    def preparing(self) -> str: ...

    def prepare(self) -> list[str]: ...

    def start_remote(self) -> Any:
        """Start the run there; its handle (aws.handover.RemoteRun: follow, stop, pull)."""
        ...

    def close(self) -> list[str]: ...


class BaseTarget:
    """The constructor every target shares."""

    kind: str
    substrate: str
    hands_over = False

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
        self._arm_specs = spec.resolved_arms()  # a matrix expands once, not per use
        self.arms: list[RunArm] = []
        self.setup()

    def setup(self) -> None:
        """The target's own state, built from self.spec (constructing creates nothing)."""

    def topic_prefix(self, arm: str) -> str:
        """This run's topics for the arm: its own, so runs never read each other's events."""
        return f"run_{self.run_id}_{arm}"

    def add_arm(
        self,
        index: int,
        name: str,
        *,
        rest_url: str,
        metrics_url: str,
        topic: str,
        standing_connector: str = "",
    ) -> None:
        """This run's arm `name` (spec order `index`): its own connector and binlog server
        id; where the worker listens and what the topic is are the target's."""
        arm_spec = self._arm_specs[name]
        self.arms.append(
            RunArm(
                name=name,
                description=arm_spec.description,
                jvm_opts=arm_spec.jvm_opts,
                rest_url=rest_url,
                metrics_url=metrics_url,
                connector=run_connector_name(self.run_id, name),
                standing_connector=standing_connector,
                topic=topic,
                server_id=run_server_id(self.run_id, index),
            )
        )

    def exclusive(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def check_prerequisites(self) -> None:
        """Nothing beyond Python by default."""
