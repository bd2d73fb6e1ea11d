"""A run handed over to the EC2 instance: `python -m cdclab.experiment.on_instance SPEC`.

The laptop copies the resolved spec (its secrets as `file:` references to 0600 files beside
it) and starts this as a service; the run writes its results directory on the instance,
where `invoke results.pull` fetches it. Exit codes as `invoke experiment`: 0 completed, 1
failed, 130 interrupted (SIGINT/SIGTERM: `invoke experiment.stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cdclab.aws.containers import COMPOSE_PROJECT, REMOTE_DIR
from cdclab.core.spec import ExperimentSpec
from cdclab.errors import CdclabError
from cdclab.experiment.runner import run_experiment
from cdclab.targets.instance import InstanceTarget

EXIT_CODES = {"failed": 1, "interrupted": 130}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdclab-on-instance", description=__doc__)
    parser.add_argument("spec", type=Path, help="the resolved spec (JSON) the laptop copied")
    parser.add_argument("--run-id", required=True, help="the run's id, chosen by the laptop")
    parser.add_argument("--results", type=Path, required=True, help="results root")
    parser.add_argument("--pid-file", type=Path, help="where `experiment.stop` finds the run")
    parser.add_argument("--home", default=REMOTE_DIR, help="cdclab's directory here")
    parser.add_argument("--compose-project", default=COMPOSE_PROJECT, help="the arms' project")
    args = parser.parse_args(argv)
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    spec = ExperimentSpec.model_validate(json.loads(args.spec.read_text()))
    target = InstanceTarget(spec, args.run_id, artifact_dir=None)
    target.remote_dir, target.compose_project = args.home, args.compose_project
    try:
        outcome = run_experiment(spec, args.results, target=target)
    except CdclabError as exc:  # preflight on the instance: nothing was created
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"results: {outcome.directory}")
    print(f"status: {outcome.status}")
    for line in outcome.verdict:
        print(f"verdict: {line}")
    return EXIT_CODES.get(outcome.status, 0)


if __name__ == "__main__":
    sys.exit(main())
