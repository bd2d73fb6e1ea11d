"""The pinned versions of everything the lab runs (versions.yml, the one place they live)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from cdclab.paths import VERSIONS_FILE


class Versions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka: str
    scala: str
    slf4j: str
    debezium: str
    debezium_compare: str
    debezium_latest: str
    connect4: str
    log4j2: str
    debezium_connector_artifact: str
    debezium_connector_class: str
    maven_dependency_plugin: str
    jolokia: str
    aws_msk_iam_auth: str
    debezium_image: str
    docker_compose: str


@cache
def load_versions(path: Path = VERSIONS_FILE) -> Versions:
    return Versions.model_validate(yaml.safe_load(path.read_text()))


def jolokia_agent_jar(dist: Path) -> Path:
    """The Jolokia agent jar in a kafka_dist directory (its agents bundle): the lab's
    dist, or the cache the AWS deploy fetches it into."""
    version = load_versions().jolokia
    return (
        dist
        / "agents"
        / f"jolokia-{version}"
        / "lib"
        / f"jolokia-agent-jvm-{version}-javaagent.jar"
    )
