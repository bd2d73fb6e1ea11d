"""Where experiments run and where deployments stand: the one seam for "which place?".

- `target_for(spec, run_id)`: the `Target` (targets/base.py) an experiment run uses:
  the local lab (targets/local.py), containers on the lab's Docker engine
  (targets/docker.py), or the `HandsOver` place that is an EC2 host (targets/aws.py), whose
  runs are handed over to targets/instance.py there;
- `places.place_for(kind, run_id=…, connect_url=…)`: the `Place` the runbook, logs, dumps,
  fault.clear and the watchdog act on.

Only this package looks at the kind; everything above it calls the protocols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runbook tasks import targets.places: keep this package light
    from cdclab.ansible import EventHandler
    from cdclab.core.spec import ExperimentSpec
    from cdclab.targets.base import HandsOver, Target


def target_for(
    spec: ExperimentSpec, run_id: str, *, event_handler: EventHandler | None = None
) -> Target | HandsOver:
    """The target the spec names, for one run (nothing is created by constructing it): one
    that runs the clock here, or (aws) one that hands the run over to its instance."""
    if spec.target == "aws":
        from cdclab.targets.aws import AwsTarget

        return AwsTarget(spec, run_id, artifact_dir=None, event_handler=event_handler)
    if spec.target == "docker":
        from cdclab.targets.docker import DockerTarget

        return DockerTarget(spec, run_id, artifact_dir=None, event_handler=event_handler)
    from cdclab.targets.local import LocalTarget

    return LocalTarget(spec, run_id, artifact_dir=None, event_handler=event_handler)
