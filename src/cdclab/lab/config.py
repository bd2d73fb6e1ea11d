"""The lab's shape: address range, hosts, arms. Typed, validated, and saved at lab.up."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cdclab.core.spec_types import NAME_PATTERN
from cdclab.paths import state_dir

# RFC 2544's benchmarking range: reserved for lab networks, so no real network uses it.
DEFAULT_SUBNET = "198.18.213.0/24"
METRICS_PORT_OFFSET = 700
KAFKA_CONTROLLER_PORT = 9093  # the kafka_kraft role's default
KAFKA_SASL_SSL_PORT = 9094  # the kafka_kraft role's default: SCRAM-SHA-512 over TLS
SECOND_BROKER_PORT = 9095  # the kafka_kraft role's default for its second broker


class Arm(BaseModel):
    """A worker of the lab (or of an EC2 host): ports, server id, JVM options; it outlives
    runs. Built from an ArmSpec by targets.base.spec_arms."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    rest_port: int = Field(ge=1024, le=65535 - METRICS_PORT_OFFSET)
    server_id: int = Field(ge=1, le=2**32 - 1)
    jvm_opts: str = ""
    # java.security properties, written to a file the JVM reads (-Djava.security.properties).
    security_properties: dict[str, str] = Field(default_factory=dict)
    connector: dict[str, str | int | bool] = Field(default_factory=dict)
    debezium: str | None = None  # its own Debezium release; None: versions.yml's

    @property
    def topic_prefix(self) -> str:
        return f"lab_{self.name}"

    @property
    def connector_name(self) -> str:
        return f"cdclab-{self.name}"

    @property
    def metrics_port(self) -> int:
        """The worker's Jolokia agent (JMX over HTTP): 8783 beside REST 8083, and so on."""
        return self.rest_port + METRICS_PORT_OFFSET


def default_arms() -> list[Arm]:
    """The original investigation's two Connect containers: JVM default TLS vs forced TLS 1.2."""
    return [
        Arm(name="tls13", rest_port=8083, server_id=5401),
        Arm(
            name="tls12",
            rest_port=8084,
            server_id=5402,
            jvm_opts="-Djdk.tls.client.protocols=TLSv1.2",
        ),
    ]


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # "db", "connect"
    address: str

    @property
    def namespace(self) -> str:
        return f"cdclab-{self.name}"


class LabConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subnet: str = DEFAULT_SUBNET
    arms: list[Arm] = Field(default_factory=default_arms)
    kafka_port: int = 9092
    # A second broker (node 2) runs only while an experiment needs a replica that can fall
    # out of the ISR (a fault on process broker2); the lab is one broker otherwise.
    brokers: int = Field(default=1, ge=1, le=2)
    db_port: int = 3306
    database: str = "cdclab"
    canary_table: str = "canary"
    load_table: str = "write_load"

    @field_validator("subnet")
    @classmethod
    def _subnet_is_usable(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"subnet {value!r} is not an IPv4 network like {DEFAULT_SUBNET} ({exc})"
            ) from exc
        if net.prefixlen > 28:
            raise ValueError(f"subnet {value!r} is too small: use a /28 or larger")
        if net.is_loopback or net.is_multicast or net.is_link_local:
            raise ValueError(f"subnet {value!r} is loopback/multicast/link-local: pick another")
        return value

    @model_validator(mode="after")
    def _arms_are_distinct(self) -> LabConfig:
        for attr in ("name", "rest_port", "server_id"):
            values = [getattr(arm, attr) for arm in self.arms]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"arms: {attr} must differ between arms, repeated: {dupes}")
        if not self.arms:
            raise ValueError("arms: at least one arm is needed")
        # Every listener on the connect host: broker, controller, each REST and metrics port.
        ports = [self.kafka_port, KAFKA_CONTROLLER_PORT, KAFKA_SASL_SSL_PORT, SECOND_BROKER_PORT]
        ports += [p for arm in self.arms for p in (arm.rest_port, arm.metrics_port)]
        taken = sorted({p for p in ports if ports.count(p) > 1})
        if taken:
            raise ValueError(
                f"arms: rest_port {taken} collides with another listener on the connect host "
                f"(Kafka {self.kafka_port}/{KAFKA_CONTROLLER_PORT}/{KAFKA_SASL_SSL_PORT}/"
                f"{SECOND_BROKER_PORT}, or a "
                "metrics port = "
                f"rest_port + {METRICS_PORT_OFFSET}): pick rest ports apart from those"
            )
        return self

    def _address(self, offset: int) -> str:
        return str(ipaddress.IPv4Network(self.subnet)[offset])

    @property
    def prefixlen(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen

    @property
    def bridge_address(self) -> str:
        """The orchestrator's own address on the lab bridge (the root namespace)."""
        return self._address(1)

    @property
    def db(self) -> Host:
        return Host(name="db", address=self._address(10))

    @property
    def connect(self) -> Host:
        """Kafka and every Connect worker live here, as on the investigated EC2 host."""
        return Host(name="connect", address=self._address(20))

    @property
    def hosts(self) -> list[Host]:
        return [self.db, self.connect]

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.connect.address}:{self.kafka_port}"

    @property
    def kafka_sasl_ssl_bootstrap(self) -> str:
        """The broker's SCRAM-over-TLS listener, as a managed cluster offers one."""
        return f"{self.connect.address}:{KAFKA_SASL_SSL_PORT}"

    @property
    def addresses(self) -> dict[str, str]:
        return {host.name: host.address for host in self.hosts}

    def rest_url(self, arm: Arm) -> str:
        return f"http://{self.connect.address}:{arm.rest_port}"

    def metrics_url(self, arm: Arm) -> str:
        return f"http://{self.connect.address}:{arm.metrics_port}/jolokia/"

    def topic(self, arm: Arm, prefix: str | None = None) -> str:
        return f"{prefix or arm.topic_prefix}.{self.database}.{self.canary_table}"

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        known = ", ".join(a.name for a in self.arms)
        raise KeyError(f"no arm named {name!r}; the lab has: {known}")


def saved_config_path(root: Path | None = None) -> Path:
    return (root or state_dir()) / "lab.json"


def save(config: LabConfig, root: Path | None = None) -> Path:
    path = saved_config_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config.model_dump_json(indent=2) + "\n")
    return path


def load_saved(root: Path | None = None) -> LabConfig | None:
    path = saved_config_path(root)
    if not path.exists():
        return None
    return LabConfig.model_validate(json.loads(path.read_text()))
