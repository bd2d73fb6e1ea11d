"""Experiment specs: YAML in experiments/, validated into typed models before anything starts."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cdclab import yaml12
from cdclab.core.aws_settings import AwsSettings
from cdclab.core.deadline import LearnSettings
from cdclab.core.durations import format_duration
from cdclab.core.faults import SECOND_BROKER, CampaignSpec, FaultSpec
from cdclab.core.kafka_security import KafkaSecurity
from cdclab.core.secret_refs import check_reference
from cdclab.core.spec_types import NAME_PATTERN, Duration
from cdclab.errors import InvalidInputError, from_validation
from cdclab.paths import EXPERIMENTS_DIR

ConnectorSetting = str | int | bool
ARM_NAME = NAME_PATTERN  # the lab's rule: spec arms become lab arms
DUMP_TRIGGERS = ("solo_failure", "episode_start")
MAX_LOAD_BYTES_PER_S = 20e6
DOTTED_SECTIONS = ("connector", "sysctls", "security_properties")
MIN_DURATION_S, MAX_DURATION_S = 10.0, 7 * 86400.0  # one clock's span
DEBEZIUM_VERSION = r"^\d+\.\d+\.\d+\.(Final|CR\d+|Beta\d+|Alpha\d+)$"
# The MariaDB connector begins at 2.7; from 3.1 on Debezium is built and tested against
# Kafka 4, so an arm on such a release runs a Kafka Connect 4 worker.
FIRST_LAB_DEBEZIUM_LINE = (2, 7)
FIRST_CONNECT4_DEBEZIUM_LINE = (3, 1)
# From 3.1 the MariaDB connector also takes its driver's SSL mode names (verify-ca, ...).
FIRST_MARIADB_SSL_MODES_LINE = (3, 1)


def _line(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split(".")[:2])


def lab_debezium_problem(release: str) -> str | None:
    """Why the lab's workers cannot run this Debezium release, or None if they can."""
    if _line(release) < FIRST_LAB_DEBEZIUM_LINE:
        return (
            f"{release} has no MariaDB connector (debezium-connector-mariadb begins at "
            "2.7.0.Final); name 2.7.0.Final or later"
        )
    return None


def needs_connect4(release: str) -> bool:
    """Whether this Debezium release is built for Kafka Connect 4 (3.1 and later)."""
    return _line(release) >= FIRST_CONNECT4_DEBEZIUM_LINE


def debezium_label(release: str) -> str:
    """How plans and reports name an arm's release, with the Connect line it runs on."""
    return f"Debezium {release}" + (" on Kafka Connect 4" if needs_connect4(release) else "")


def mariadb_ssl_mode_names(release: str) -> bool:
    """Whether this release's MariaDB connector names its SSL modes as MariaDB's driver does
    (disable, trust, verify-ca, verify-full): from 3.1 on; before, MySQL's names."""
    return _line(release) >= FIRST_MARIADB_SSL_MODES_LINE


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LearnSpec(Strict):
    """How the deadline is learned when the spec sets none (cdclab.core.deadline)."""

    warmup: int = Field(
        default=20, ge=5, le=1000, description="canaries delivered per arm to learn from"
    )
    factor: float = Field(default=4.0, ge=1.5, le=100, description="deadline = factor × p99")
    floor: Duration = Field(
        default=5.0, description="never below (a 2 s GC pause of a worker is no outage)"
    )
    ceiling: Duration = Field(
        default=30.0, description="never above; also the deadline until it is learned"
    )

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> LearnSpec:
        if self.floor > self.ceiling:
            raise ValueError(
                f"floor ({format_duration(self.floor)}) must not exceed the ceiling "
                f"({format_duration(self.ceiling)})"
            )
        return self


class CanarySpec(Strict):
    interval: Duration = Field(default=1.0, description="time between canary rows")
    deadline: Duration | None = Field(
        default=None,
        description="delivered later than this is 'late'; default: learned from the warm-up",
    )
    learn: LearnSpec = Field(default_factory=LearnSpec)

    @field_validator("interval")
    @classmethod
    def _interval_range(cls, value: float) -> float:
        if not 0.2 <= value <= 3600:
            raise ValueError("must be between 200ms and 1h")
        return value

    @model_validator(mode="after")
    def _deadline_after_interval(self) -> CanarySpec:
        for name, value in (("deadline", self.deadline), ("learn.ceiling", self.learn.ceiling)):
            if value is not None and value < self.interval:
                raise ValueError(
                    f"{name} ({format_duration(value)}) must be at least the interval "
                    f"({format_duration(self.interval)})"
                )
        return self

    @property
    def first_deadline(self) -> float:
        """The deadline from the first canary on: the spec's, or the ceiling until learned."""
        return self.learn.ceiling if self.deadline is None else self.deadline

    def learn_settings(self) -> LearnSettings:
        learn = self.learn
        return LearnSettings(learn.warmup, learn.factor, learn.floor, learn.ceiling, self.interval)

    def describe_deadline(self) -> str:
        if self.deadline is not None:
            return f"deadline {format_duration(self.deadline)}"
        learn = self.learn
        return (
            f"deadline learned from the first {learn.warmup} canaries per arm "
            f"({learn.factor:g} × p99, at least {format_duration(learn.floor)}, at most "
            f"{format_duration(learn.ceiling)}; {format_duration(learn.ceiling)} until then)"
        )


class DetectorSpec(Strict):
    misses: int = Field(default=2, ge=1, le=100, description="overdue canaries in a row")


class DumpSpec(Strict):
    # Not `on:` as DESIGN.md sketched: YAML 1.1 reads a bare `on` key as the boolean true.
    triggers: list[Literal["solo_failure", "episode_start", "fault"]] = Field(
        default_factory=lambda: list(DUMP_TRIGGERS)
    )
    min_interval: Duration = 60.0
    every: Duration | None = Field(
        default=None, description="with trigger 'fault': a dump this often while a fault lasts"
    )


class MetricsSpec(Strict):
    enabled: bool = Field(
        default=True, description="read Debezium's streaming metrics (Jolokia) at every canary"
    )
    stall_after: Duration | None = Field(
        default=None,
        description="MilliSecondsSinceLastEvent above this counts as a stall "
        "(default: the canary deadline; canaries keep the binlog busy every interval)",
    )


class LoadSpec(Strict):
    """A background write load: rows of random bytes, overwriting `slots` rows in turn."""

    rows_per_second: float = Field(gt=0, le=5000, description="rows written per second")
    row_bytes: int = Field(default=4096, ge=1, le=1_000_000, description="payload bytes a row")
    slots: int = Field(default=64, ge=1, le=100_000, description="distinct rows overwritten")

    @property
    def bytes_per_second(self) -> float:
        return self.rows_per_second * self.row_bytes

    def describe(self, table: str) -> str:
        return (
            f"write load: {self.rows_per_second:g} rows/s × {self.row_bytes} bytes "
            f"= {self.bytes_per_second / 1e3:,.0f} kB/s of binlog, over {self.slots} rows "
            f"of {table}"
        )

    @model_validator(mode="after")
    def _fits_one_machine(self) -> LoadSpec:
        if self.bytes_per_second > MAX_LOAD_BYTES_PER_S:
            raise ValueError(
                f"rows_per_second × row_bytes is {self.bytes_per_second / 1e6:.1f} MB/s; "
                f"at most {MAX_LOAD_BYTES_PER_S / 1e6:.0f} MB/s fit one lab machine"
            )
        return self


class HostTuning(Strict):
    """Kernel settings of one lab host for the run, restored at its end."""

    sysctls: dict[str, str] = Field(
        default_factory=dict,
        description="net.* sysctls (per network namespace), e.g. net.ipv4.tcp_rmem",
    )

    @field_validator("sysctls", mode="before")
    @classmethod
    def _numbers_are_values_too(cls, value: Any) -> Any:
        # `--set hosts.db.sysctls.net.core.somaxconn=4096` reads 4096 as a number.
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @field_validator("sysctls")
    @classmethod
    def _namespaced_only(cls, value: dict[str, str]) -> dict[str, str]:
        for key, setting in value.items():
            if not re.fullmatch(r"net(\.[a-z0-9_]+)+", key):
                raise ValueError(
                    f"{key!r}: only net.* sysctls are allowed; they belong to the host's "
                    "network namespace, anything else would change the whole machine"
                )
            if not re.fullmatch(r"[\w .:/-]+", setting):
                raise ValueError(f"{key}: {setting!r} is not a plain sysctl value")
        return value


# iptables rules on the instance; netem needs the instance's device, and kill/pause the
# containers: not built yet for aws.
AWS_FAULT_KINDS = ("drop", "reject")
# Boot, deploy (engine, image, connectors) and the report, on top of the run itself.
AWS_SETUP_MARGIN_S = 1800


class DockerSettings(Strict):
    """The `docker:` section: how the docker target runs its arms' containers."""

    image: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][\w./-]*(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$",
        description="the Connect image; default: the one `invoke docker.image` built, else the "
        "original investigation's (quay.io/debezium/connect, pinned in versions.yml)",
    )


# Debezium's connector for each source flavour: Aurora MySQL and MySQL are read by the MySQL
# connector; the MariaDB connector is for MariaDB servers (the lab's).
CONNECTOR_CLASSES = {
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
}


class ExternalSpec(Strict):
    """The user's own source database and Kafka (the AWS target: Aurora/MySQL and MSK)."""

    db_flavour: Literal["mysql", "mariadb"] = Field(
        default="mysql",
        description="mysql (MySQL, Aurora MySQL: Debezium's MySqlConnector) or mariadb "
        "(MariaDB: MariaDbConnector)",
    )
    db_host: str | None = None
    aurora_cluster: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$",
        description="an Aurora cluster identifier: its endpoint, port, VPC and security groups "
        "are looked up (RDS API); db_host and db_port, if given, win",
    )
    db_port: int = Field(default=3306, ge=1, le=65535)
    db_user: str = "debezium"
    db_password_from: str | None = Field(
        default=None,
        description="env:VAR, secretsmanager:<id>[#key] or ssm:<name>; never the password",
    )
    db_ca_file: str | None = Field(
        default=None,
        description="the CA bundle (here) that verifies the database's certificate; Aurora: "
        "RDS's global-bundle.pem",
    )
    writer_user: str | None = Field(
        default=None, description="who writes canaries (needs INSERT); default: db_user"
    )
    writer_password_from: str | None = Field(
        default=None, description="its password reference; default: db_password_from"
    )
    database: str = "cdclab"
    canary_table: str = "canary"
    kafka_bootstrap: str | None = None
    kafka_security: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="the listener's protocol, for the workers, the connectors and the canary "
        "consumer alike (MSK: SSL on 9094, SASL_SSL on 9096 for SCRAM and 9098 for IAM)",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"] | None = Field(
        default=None, description="with SASL_SSL: SCRAM-SHA-512 (MSK's SCRAM) or AWS_MSK_IAM"
    )
    kafka_user: str | None = Field(default=None, description="the SCRAM user")
    kafka_password_from: str | None = Field(
        default=None, description="the SCRAM password's reference (env:, secretsmanager:, ssm:)"
    )
    kafka_ca_file: str | None = Field(
        default=None,
        description="the CA bundle (here) that verifies the brokers' certificates; default: "
        "the system's (MSK's chain to a public CA)",
    )

    @property
    def connector_class(self) -> str:
        return CONNECTOR_CLASSES[self.db_flavour]

    def kafka(self, region: str | None = None) -> KafkaSecurity:
        """How every client of the run speaks to the user's Kafka (IAM tokens: `region`)."""
        ca_file = self.kafka_ca_file and str(Path(self.kafka_ca_file).expanduser().resolve())
        return KafkaSecurity(
            protocol=self.kafka_security,
            mechanism=self.kafka_sasl_mechanism,
            user=self.kafka_user,
            ca_file=ca_file or None,
            region=region,
        )

    @field_validator("db_password_from", "writer_password_from", "kafka_password_from")
    @classmethod
    def _a_reference_not_a_password(cls, value: str | None) -> str | None:
        return None if value is None else check_reference(value)

    @model_validator(mode="after")
    def _kafka_security_is_whole(self) -> ExternalSpec:
        sasl = self.kafka_security == "SASL_SSL"
        if sasl != (self.kafka_sasl_mechanism is not None):
            raise ValueError(
                "external.kafka_sasl_mechanism goes with external.kafka_security=SASL_SSL, "
                "and only with it: set both (SCRAM-SHA-512 or AWS_MSK_IAM) or neither"
            )
        scram = (self.kafka_sasl_mechanism or "").startswith("SCRAM")
        for key in ("kafka_user", "kafka_password_from"):
            if scram != (getattr(self, key) is not None):
                raise ValueError(
                    f"external.{key}: SCRAM needs external.kafka_user and "
                    "external.kafka_password_from (env:VAR, secretsmanager:<id>[#key] or "
                    "ssm:<name>); other mechanisms take neither"
                )
        if self.kafka_ca_file is not None and self.kafka_security == "PLAINTEXT":
            raise ValueError(
                "external.kafka_ca_file verifies TLS brokers: set external.kafka_security=SSL "
                "or SASL_SSL, or drop the CA file"
            )
        return self


# Security properties are read from java.security files, not from -D system properties.
SECURITY_PROPERTIES = ("jdk.tls.keyLimits", "jdk.tls.disabledAlgorithms", "jdk.certpath.")


class ArmSpec(Strict):
    """An arm as the user writes it: what differs between arms (JVM options, connector
    settings, java.security). One of four arm models, one per layer: ArmSpec (what to
    compare), lab.config.Arm (a worker of the lab: ports, server id), RunArm (one run's
    connector, topic and endpoints on any target), lab.status.ArmStatus (what a worker
    reports)."""

    jvm_opts: str = ""
    connector: dict[str, ConnectorSetting] = Field(default_factory=dict)
    security_properties: dict[str, str] = Field(
        default_factory=dict,
        description="java.security properties (e.g. jdk.tls.keyLimits), given to the "
        "worker's JVM in a file through -Djava.security.properties",
    )
    description: str = ""
    debezium: str | None = Field(
        default=None,
        pattern=DEBEZIUM_VERSION,
        description="this arm's Debezium release from Maven Central, 2.7 or 3.0 line on the "
        "lab (e.g. 3.0.1.Final; default: the one versions.yml pins); each release gets its "
        "own plugin directory",
    )

    def topic_creation(self) -> tuple[int, dict[str, str]]:
        """(replication factor, topic configs) Connect's topic creation gives this arm's
        topics (topic.creation.default.*; -1: the cluster's default), so that a topic made
        before the connector's first event is made the same way."""
        prefix = "topic.creation.default."
        settings = {
            k.removeprefix(prefix): v for k, v in self.connector.items() if k.startswith(prefix)
        }
        factor = int(settings.pop("replication.factor", -1))
        for key in ("partitions", "include", "exclude"):
            settings.pop(key, None)
        return factor, {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()
        }

    def describe(self) -> str:
        """JVM options, java.security overrides and connector settings, for plans."""
        connector = ", ".join(f"{k}={v}" for k, v in self.connector.items()) or "template defaults"
        security = ", ".join(f"{k}={v}" for k, v in self.security_properties.items())
        return (
            (f"{debezium_label(self.debezium)}; " if self.debezium else "")
            + f"JVM options {self.jvm_opts or '(JVM defaults)'}"
            + (f"; java.security: {security}" if security else "")
            + f"; connector: {connector}"
        )

    @field_validator("jvm_opts")
    @classmethod
    def _no_security_property_as_system_property(cls, value: str) -> str:
        for option in value.split():
            if option.startswith("-D") and option[2:].startswith(SECURITY_PROPERTIES):
                name = option[2:].split("=", 1)[0]
                raise ValueError(
                    f"{name} is a security property: -D{name} is ignored by the JVM. "
                    f"Set it under security_properties: {{{name}: ...}} instead"
                )
        return value

    @field_validator("security_properties")
    @classmethod
    def _property_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, setting in value.items():
            if not re.fullmatch(r"[A-Za-z][\w.]*", name) or "\n" in setting:
                raise ValueError(
                    f"{name!r}: a property name is dotted words (jdk.tls.keyLimits) and its "
                    "value one line"
                )
        return value


class ExperimentSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    description: str = ""
    target: Literal["local", "docker", "aws"] = "local"
    duration: Duration = 600.0
    canary: CanarySpec = Field(default_factory=CanarySpec)
    detector: DetectorSpec = Field(default_factory=DetectorSpec)
    arms: dict[str, ArmSpec] = Field(default_factory=dict)
    matrix: dict[str, dict[str, ArmSpec]] = Field(default_factory=dict)
    connector: dict[str, ConnectorSetting] = Field(
        default_factory=dict, description="Debezium settings shared by every arm"
    )
    dumps: DumpSpec = Field(default_factory=DumpSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    load: LoadSpec | None = Field(default=None, description="background write load")
    aws: AwsSettings = Field(default_factory=AwsSettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    hosts: dict[Literal["db", "connect"], HostTuning] = Field(
        default_factory=dict, description="per lab host: sysctls for the run"
    )
    external: ExternalSpec = Field(default_factory=ExternalSpec)
    faults: list[FaultSpec] = Field(default_factory=list)
    campaign: CampaignSpec | None = None

    @field_validator("duration")
    @classmethod
    def _duration_range(cls, value: float) -> float:
        if not MIN_DURATION_S <= value <= MAX_DURATION_S:
            raise ValueError("must be between 10s and 7 days")
        return value

    def _fits_the_instances_life(self) -> None:
        """A new instance ends itself after aws.max_hours: the run, its deploy and its
        report must fit, or the instance would die mid-run."""
        needed_h = (self.duration + AWS_SETUP_MARGIN_S) / 3600
        if self.aws.run_id is None and needed_h > self.aws.max_hours:
            raise ValueError(
                f"duration: this run needs its instance for about {needed_h:.1f} h (the run "
                f"and {AWS_SETUP_MARGIN_S // 60} min to deploy and report), but aws.max_hours "
                f"is {self.aws.max_hours:g}, when the instance terminates itself: give --set "
                f"aws.max_hours={math.ceil(needed_h)} (at most 72) or a shorter run"
            )

    @property
    def uses_external(self) -> bool:
        """Whether the run captures the user's database and Kafka (external.*), not the
        lab's: always on aws; on docker when external.* is given."""
        default = ExternalSpec()  # a spec dumped and re-read sets every field, to its default
        return self.target == "aws" or any(
            getattr(self.external, k) != getattr(default, k) for k in ExternalSpec.model_fields
        )

    def _external_is_whole(self) -> None:
        missing = [
            f"external.{key}"
            for key in ("db_password_from", "db_ca_file", "kafka_bootstrap")
            if getattr(self.external, key) is None
        ]
        if self.external.db_host is None and self.external.aurora_cluster is None:
            missing.insert(0, "external.db_host (or external.aurora_cluster)")
        if missing:
            raise ValueError(
                f"target {self.target} runs against your database and Kafka: set "
                f"{', '.join(missing)} (e.g. --set external.db_host=mydb.cluster-…rds.amazonaws"
                ".com --set external.db_password_from=secretsmanager:cdclab/db#password "
                "--set external.db_ca_file=global-bundle.pem "
                "--set external.kafka_bootstrap=b-1.msk…:9092, or an external: section in a "
                "file given with --values)"
            )

    @model_validator(mode="after")
    def _aws_has_its_endpoints(self) -> ExperimentSpec:
        if self.target == "aws":
            self._external_is_whole()
            self._fits_the_instances_life()
            if (
                self.external.kafka_sasl_mechanism == "AWS_MSK_IAM"
                and not self.aws.instance_profile
            ):
                raise ValueError(
                    "aws.instance_profile: with MSK IAM the instance signs its Kafka logins "
                    "with its role's credentials; name an instance profile whose role is "
                    "allowed kafka-cluster:Connect and the topic actions, e.g. --set "
                    "aws.instance_profile=cdclab-msk (docs/aws.md, MSK IAM)"
                )
            if self.aws.authorize_source and self.external.aurora_cluster is None:
                raise ValueError(
                    "aws.authorize_source opens your Aurora cluster's security groups to the "
                    "instance: name the cluster with --set external.aurora_cluster=<identifier>"
                )
            if self.hosts:
                raise ValueError(
                    "hosts: per-host sysctls apply to the local lab only; on aws the database "
                    "is yours and the instance's kernel settings are left alone"
                )
            for index, fault in enumerate(self.all_faults()):
                if fault.kind not in AWS_FAULT_KINDS or fault.host != "connect":
                    raise ValueError(
                        f"faults[{index}]: a {fault.kind} fault on {fault.host}: the aws target "
                        f"applies {' and '.join(AWS_FAULT_KINDS)} faults on the instance "
                        "(host: connect, peer: db) only; the other kinds run on the local lab"
                    )
        return self

    @model_validator(mode="after")
    def _external_is_read_by_container_targets(self) -> ExperimentSpec:
        """external.* is read where the arms are containers (aws, docker); on the local lab
        it would be ignored: the run would measure the lab's database while the user
        believes it measured theirs."""
        if not self.uses_external or self.target == "aws":
            return self
        if self.target == "local":
            raise ValueError(
                "external: the local target runs the lab's own MariaDB and Kafka; your "
                "database and Kafka (external.*) are captured by containers: run with "
                "--target docker (the lab's engine) or --target aws (an EC2 host)"
            )
        self._external_is_whole()
        if self.external.aurora_cluster is not None:
            raise ValueError(
                "external.aurora_cluster is looked up by --target aws (it places the instance "
                "beside the cluster); with --target docker give external.db_host instead"
            )
        if "db" in self.hosts:
            raise ValueError(
                "hosts.db: with external.* the database is yours and its kernel is left alone; "
                "remove hosts.db (hosts.connect tunes the lab's connect host)"
            )
        for index, fault in enumerate(self.all_faults()):
            on_workers = (fault.process or "worker").startswith("worker")
            if fault.host != "connect" or fault.kind == "half-open" or not on_workers:
                raise ValueError(
                    f"faults[{index}]: a {fault.kind} fault on {fault.process or fault.host}: "
                    "with external.* the database and Kafka are yours, so faults act on the "
                    "connect host only: network faults (host: connect, peer: db) and kill or "
                    "pause of the workers"
                )
        return self

    @model_validator(mode="after")
    def _arms_are_usable(self) -> ExperimentSpec:
        names = list(self.resolved_arms())
        if not names:
            raise ValueError("arms: give at least one arm (or a matrix:)")
        bad = [n for n in names if not re.fullmatch(ARM_NAME, n)]
        if bad:
            raise ValueError(
                f"arms: names {bad} must be lower-case letters, digits or '_', "
                "start with a letter, at most 24 characters"
            )
        if len(names) > 8:
            raise ValueError(f"arms: {len(names)} arms; at most 8 fit one lab (one JVM each)")
        for index, fault in enumerate(self.all_faults()):
            for start, length in fault.occurrences():
                if start + length > self.duration:
                    raise ValueError(
                        f"faults[{index}]: ends at {format_duration(start + length)}, after the "
                        f"run ({format_duration(self.duration)}): shorten it or lengthen the run"
                    )
            process = fault.process or ""
            if process.startswith("worker:") and process.split(":", 1)[1] not in names:
                raise ValueError(
                    f"faults[{index}].process: no arm {process.split(':', 1)[1]!r}"
                    f"; arms are {names}"
                )
        return self

    @model_validator(mode="after")
    def _debezium_versions_on_the_lab(self) -> ExperimentSpec:
        named = {n: a.debezium for n, a in self.resolved_arms().items() if a.debezium}
        if named and self.target != "local":
            raise ValueError(
                f"arms.{next(iter(named))}.debezium: an arm's own Debezium version runs on the "
                f"local lab; the {self.target} target runs the image's (docker.image)"
            )
        for name, release in named.items():
            if problem := lab_debezium_problem(release):
                raise ValueError(f"arms.{name}.debezium: {problem}")
        return self

    @model_validator(mode="after")
    def _second_broker_on_the_lab(self) -> ExperimentSpec:
        """The lab starts its second broker for a local run that names it; other targets
        run with the lab's (or your) Kafka as it is."""
        if self.target != "local" and (index := self.second_broker_fault()) is not None:
            raise ValueError(
                f"faults[{index}].process: {SECOND_BROKER} is the local lab's second broker, "
                f"started for a local run; the {self.target} target does not start it"
            )
        return self

    def second_broker_fault(self) -> int | None:
        """The index of the first fault on the lab's second broker (the run needs it), or
        None."""
        processes = [fault.process for fault in self.all_faults()]
        return processes.index(SECOND_BROKER) if SECOND_BROKER in processes else None

    @model_validator(mode="after")
    def _idle_means_idle(self) -> ExperimentSpec:
        if self.load is not None and self.quiet_windows():
            raise ValueError(
                "load: a nat-idle fault needs the database idle while it waits out the "
                "timeout; remove load (or the nat-idle fault)"
            )
        return self

    def quiet_windows(self) -> list[tuple[float, float]]:
        """(start, end) offsets in which the clock writes no canary, in order and disjoint
        (overlapping faults' windows merged, so no quiet second is counted twice)."""
        merged: list[tuple[float, float]] = []
        for start, end in sorted(w for fault in self.all_faults() for w in fault.quiet_windows()):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def all_faults(self) -> list[FaultSpec]:
        """faults: plus the campaign: shorthand, expanded."""
        return [*self.faults, *(self.campaign.expand() if self.campaign else [])]

    def resolved_arms(self) -> dict[str, ArmSpec]:
        """The arms map plus the matrix's cartesian product (names joined with '_')."""
        arms = dict(self.arms)
        if self.matrix:
            dimensions = [list(values.items()) for values in self.matrix.values()]
            for combo in itertools.product(*dimensions):
                name = "_".join(value_name for value_name, _ in combo)
                arms[name] = ArmSpec(
                    jvm_opts=" ".join(a.jvm_opts for _, a in combo if a.jvm_opts),
                    connector={k: v for _, a in combo for k, v in a.connector.items()},
                    security_properties={
                        k: v for _, a in combo for k, v in a.security_properties.items()
                    },
                    description=", ".join(
                        f"{dim}={value}" for dim, (value, _) in zip(self.matrix, combo, strict=True)
                    ),
                    debezium=next((a.debezium for _, a in combo if a.debezium), None),
                )
        return {
            name: ArmSpec(
                jvm_opts=arm.jvm_opts,
                connector={**self.connector, **arm.connector},
                security_properties=arm.security_properties,
                description=arm.description,
                debezium=arm.debezium,
            )
            for name, arm in arms.items()
        }

    @property
    def expected_canaries(self) -> int:
        quiet = sum(end - start for start, end in self.quiet_windows())
        return int((self.duration - quiet) // self.canary.interval)


def available_specs(directory: Path = EXPERIMENTS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def parse_assignment(assignment: str) -> tuple[list[str], Any]:
    """'canary.interval=1s' -> (['canary', 'interval'], '1s'); values are read as YAML."""
    if "=" not in assignment:
        raise InvalidInputError(
            f"--set {assignment!r}: write key=value, e.g. --set canary.interval=1s"
        )
    key, raw = assignment.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise InvalidInputError(f"--set {assignment!r}: the key before '=' is empty")
    # Connector settings, sysctls and security properties have dots in their own names:
    # everything after such a section is one key.
    for index, part in enumerate(path):
        if part in DOTTED_SECTIONS and index + 1 < len(path):
            path = [*path[: index + 1], ".".join(path[index + 1 :])]
            break
    try:
        value = yaml12.load(raw) if raw.strip() else ""
    except yaml12.YAMLError:
        value = raw
    return path, value


def apply_assignments(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    for assignment in assignments:
        path, value = parse_assignment(assignment)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InvalidInputError(f"--set {assignment!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return data


def _yaml_mapping(path: Path, label: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (a spec, a --values file), or an error
    that names it by label."""
    try:
        data = yaml12.load(path.read_text()) or {}
    except yaml12.YAMLError as exc:
        raise InvalidInputError(f"{label} {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{label} {path}: the top level must be a mapping")
    return data


def _values_file(path: Path) -> dict[str, Any]:
    """A --values file: a mapping of spec sections, e.g. your `external:` settings."""
    if not path.is_file():
        raise InvalidInputError(f"--values {path}: no such file")
    return _yaml_mapping(path, "--values")


def merge_values(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """values over data: mappings merge key by key, anything else replaces."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            merge_values(data[key], value)
        else:
            data[key] = value
    return data


def load_spec(
    name_or_path: str,
    *,
    assignments: list[str] | None = None,
    duration: float | None = None,
    target: str | None = None,
    directory: Path = EXPERIMENTS_DIR,
    values: list[Path] | None = None,
) -> ExperimentSpec:
    """Read, override (--values files, then --set, --hours/--minutes, --target) and
    validate one spec."""
    path = Path(name_or_path)
    if not path.suffix:
        specs = available_specs(directory)
        if name_or_path not in specs:
            known = ", ".join(specs) or "(none)"
            raise InvalidInputError(
                f"experiment {name_or_path!r} does not exist. Known: {known} "
                "(`invoke experiment list`), or pass --spec PATH."
            )
        path = specs[name_or_path]
    if not path.exists():
        raise InvalidInputError(f"spec file {path} does not exist")
    data = _yaml_mapping(path, "spec file")
    for file in values or []:
        merge_values(data, _values_file(file))
    apply_assignments(data, assignments or [])
    if duration is not None:
        data["duration"] = duration
    if target is not None:
        data["target"] = target
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, f"experiment spec {path.name}") from exc
