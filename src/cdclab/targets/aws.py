"""The AWS target: the original investigation's EC2 host, provisioned and deployed from here;
the run itself is handed over to it (targets/instance.py runs its clock there).

One instance per run (or one kept from `aws.up` / `--keep`, named by `aws.run_id`) runs one
Connect container per arm against the user's database and Kafka, and cdclab itself, from a
wheelhouse built here. This machine checks what needs nothing created, provisions, deploys,
hands the run over (aws/handover.py), follows its journals, pulls its results directory and
removes the instance. The database and Kafka are reached from the instance only: private
endpoints work, latencies are measured inside the VPC, and the run survives this machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cdclab import __version__
from cdclab.ansible import run_playbook
from cdclab.aws import containers
from cdclab.aws.arms import write_arms_file
from cdclab.aws.aurora import SourceAccess, with_cluster
from cdclab.aws.handover import SECRET_FIELDS, RemoteRun, record_handover
from cdclab.aws.inventory import ssh_from_inventory
from cdclab.aws.lifecycle import aws_down, aws_up, write_run_inventory
from cdclab.aws.provision import AwsHost, caller_cidr, run_state_dir
from cdclab.aws.secrets import resolve_secret
from cdclab.aws.settings import aws_session
from cdclab.aws.wheelhouse import wheelhouse_tarball
from cdclab.errors import PrerequisiteError
from cdclab.images.connect import choose_image
from cdclab.paths import cache_dir
from cdclab.prereqs import APT, Program, missing_programs
from cdclab.progress import console
from cdclab.secrets import secret_files
from cdclab.ssh import SSHHost
from cdclab.targets import aws_deployed as deployed
from cdclab.targets.aws_plan import describe_aws_plan
from cdclab.targets.base import BaseTarget, spec_arms
from cdclab.targets.compose import (
    compose_arms,
)
from cdclab.targets.external import ExternalSource
from cdclab.targets.places import write_place_file
from cdclab.versions import jolokia_agent_jar, load_versions

# What fetching the Jolokia agent from Maven Central takes on this machine.
JOLOKIA_FETCH = (
    Program("mvn", "fetching the Jolokia agent", f"{APT} maven"),
    Program("java", "running Maven", f"{APT} openjdk-17-jdk-headless"),
)


def check_jolokia_source(metrics: bool, which: Callable[[str], str | None] = shutil.which) -> None:
    """The Jolokia agent is fetched here with Maven before the deploy copies it over: with
    metrics on, it must be in the cache already or Maven and Java must be here to get it."""
    if not metrics:
        return
    if jolokia_agent_jar(cache_dir() / "aws-dist").is_file():
        return
    missing = missing_programs(JOLOKIA_FETCH, which=which)
    if missing:
        version = load_versions().jolokia
        needs = "; ".join(f"{p.name}, for {p.purpose} ({p.fix})" for p in missing)
        raise PrerequisiteError(
            f"metrics: the Jolokia agent (org.jolokia:jolokia-agent-jvm:{version}) is fetched "
            f"on this machine before the deploy, which needs {needs}. Install them, or run "
            "without metrics (--set metrics.enabled=false)"
        )


class AwsTarget(BaseTarget):
    kind = "aws"
    substrate = "ec2"
    hands_over = True  # the clock runs on the instance (targets/instance.py)

    def setup(self) -> None:
        spec, run_id = self.spec, self.run_id
        self.settings = spec.aws
        self.external = spec.external
        self.aws_run_id = self.settings.run_id or run_id
        self.workers = spec_arms(spec)  # REST / metrics ports on the instance's loopback
        self.host: AwsHost | None = None
        self.inventory: Path | None = None
        self._provisioned = False  # this run created the instance: it removes it too
        self._ssh: SSHHost | None = None
        self._session = None
        self._ingress: SourceAccess | None = None
        self.remote_dir = containers.REMOTE_DIR  # compose project, logs, heal scripts
        self.compose_project = containers.COMPOSE_PROJECT  # container names, worker groups
        # As the docker target's: the image `invoke docker.image` built, copied over and
        # imported (a private subnet without NAT pulls nothing), else the original
        # investigation's, pulled by the instance; docker.image names another.
        self.image, self.tarball = choose_image(spec.docker.image)

    # -- before anything exists ---------------------------------------------------------
    def describe_plan(self) -> list[str]:
        return describe_aws_plan(self.spec)

    @property
    def preparing(self) -> str:
        return "provisioning and deploying the AWS host, registering this run's connectors…"

    # -- set up and tear down -----------------------------------------------------------
    def preflight(self) -> None:
        """Everything that can be checked without creating anything: credentials, region,
        the kept host, the CA file, the secrets (read, then dropped)."""
        self._session = aws_session(self.settings)
        # external.aurora_cluster: endpoint, port, VPC (and the groups to open) looked up.
        self.spec, self._ingress = with_cluster(self.spec, self._session)
        self.settings, self.external = self.spec.aws, self.spec.external
        if self.settings.run_id:
            self.host = AwsHost.load(self.settings.run_id)
        elif not self.settings.allow_cidr:  # fail closed now, not after the results exist
            self.settings = self.settings.model_copy(update={"allow_cidr": caller_cidr()})
        # Reachability is checked where the clock runs: on the instance, as the run starts.
        self.source.check_settings()
        check_jolokia_source(self.spec.metrics.enabled)

    def prepare(self) -> list[str]:
        """Provision (or reuse) the instance, deploy the arms, register this run's connectors."""
        if self.host is None:
            self.host = aws_up(self.settings, run_id=self.aws_run_id, source=self._ingress).host
            self._provisioned = True
        self.inventory = run_state_dir(self.aws_run_id) / "inventory.yml"
        if not self.inventory.exists():
            self.inventory = write_run_inventory(self.host, self.settings)
        self.deploy()
        return []

    def start_remote(self) -> RemoteRun:
        """Hand the run over to the instance: its spec, secrets and CA bundles copied there,
        the run started as a service that outlives this machine."""
        remote = RemoteRun(self.ssh(), self.run_id, self.remote_dir, self.compose_project)
        ext = self.external
        references = {f: getattr(ext, f) for f in SECRET_FIELDS if getattr(ext, f)}
        secrets = {f: resolve_secret(r, self._session) for f, r in references.items()}
        remote.start(self.spec, secrets)
        record_handover(run_state_dir(self.aws_run_id), remote)
        return remote

    @property
    def source(self) -> ExternalSource:
        """The user's database and Kafka, with the session that reads their secrets."""
        return ExternalSource(self.external, self._session)

    def deploy_extravars(
        self, password_file: Path, kafka_password_file: Path | None = None
    ) -> dict[str, Any]:
        return {
            "cdclab_versions": load_versions().model_dump(),
            "cdclab_image": self.image,
            "cdclab_image_tarball": str(self.tarball or ""),
            "cdclab_container_cli": self.settings.container_cli,
            "cdclab_compose_project": self.compose_project,
            "cdclab_cache_dir": str(cache_dir()),
            "cdclab_compose_dir": self.remote_dir,
            **self.source.deploy_vars({"db": password_file, "kafka": kafka_password_file or ""}),
            "cdclab_metrics": self.spec.metrics.enabled,
            "cdclab_arms": compose_arms(self.workers, metrics=self.spec.metrics.enabled),
        }

    def deploy(self) -> None:
        """Docker and the arms' containers on the instance (aws_deploy.yml).

        The database and Kafka passwords reach the playbook as 0600 files in the run's state
        (never in extra vars, argv or results), removed as soon as the play ends.
        """
        assert self.inventory is not None
        state, values = run_state_dir(self.aws_run_id), self.source.deploy_secrets()
        with secret_files(state, values) as files:
            extravars = {
                **self.deploy_extravars(files["db"], files.get("kafka")),
                "cdclab_wheelhouse": str(wheelhouse_tarball()),
                "cdclab_version": __version__,
            }
            recorded, salt = deployed.load(state)
            digest = deployed.deploy_digest(extravars, salt)
            if digest == recorded and self._containers_run():
                console.print(
                    "  deploy skipped: the instance runs this deploy already (same settings, "
                    "image, cdclab and playbooks; every arm's container up)"
                )
            else:
                deployed.forget(state)
                run_playbook(
                    "aws_deploy.yml",
                    inventory=self.inventory,
                    extravars=extravars,
                    event_handler=self.event_handler,
                    artifact_dir=self.artifact_dir,
                    hide_env=self.secret_env_names,
                )
                deployed.record(state, digest, salt)
        # For the runbook tasks (`invoke connect.status --target aws --run-id …`).
        write_arms_file(
            state,
            {
                w.name: {
                    "rest_host": "127.0.0.1",
                    "rest_port": w.rest_port,
                    "metrics_port": w.metrics_port,
                }
                for w in self.workers
            },
        )
        write_place_file(
            state,
            self.settings.container_cli,
            f"{self.remote_dir}/faults",  # the instance run's heal dir (InstanceTarget's)
            self.compose_project,
            kafka=self.source.kafka_record(),
        )

    def _containers_run(self) -> bool:
        """Every arm's container is running on the instance (as the deploy left them)."""
        names = [containers.container_name(w.name, self.compose_project) for w in self.workers]
        done = self.ssh().run(
            [self.settings.container_cli, "inspect", "--format", "{{.State.Running}}", *names]
        )
        return done.ok and done.stdout.split() == ["true"] * len(names)

    @property
    def secret_env_names(self) -> list[str]:
        """Environment variables the spec's env: references name: kept from playbooks."""
        return self.source.secret_env_names

    def ssh(self) -> SSHHost:
        """The run's session to the instance (its login user, commands through sudo)."""
        if self._ssh is None:
            assert self.inventory is not None
            self._ssh = ssh_from_inventory(self.inventory)
        return self._ssh

    def close(self) -> list[str]:
        """Close the session; remove the instance unless kept or reused."""
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None
        if not self._provisioned:
            return []
        if self.settings.keep:
            console.print(
                f"kept AWS run {self.aws_run_id} (--keep): reuse it with "
                f"--set aws.run_id={self.aws_run_id}; remove it with "
                f"`invoke aws.down {self.aws_run_id}`"
            )
            return []
        try:
            aws_down(self.settings, self.aws_run_id)
        except Exception as exc:  # loud: a forgotten instance costs money
            return [
                f"could not remove AWS run {self.aws_run_id} ({exc}); run "
                f"`invoke aws.down {self.aws_run_id}` (and `invoke aws.ls` to check)"
            ]
        return []
