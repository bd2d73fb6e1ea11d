"""What the local lab needs from this machine, checked before anything is created."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from cdclab.errors import PrerequisiteError


@dataclass(frozen=True)
class Program:
    name: str  # what to look for on PATH (or an absolute path)
    purpose: str
    fix: str


APT = "apt-get install -y"
LAB_PROGRAMS: tuple[Program, ...] = (
    Program("ip", "network namespaces and veth pairs", f"{APT} iproute2"),
    Program("iptables", "fault injection inside the namespaces", f"{APT} iptables"),
    Program("java", "Kafka and Kafka Connect (JDK 17)", f"{APT} openjdk-17-jdk-headless"),
    Program("jcmd", "thread dumps of the Connect workers", f"{APT} openjdk-17-jdk-headless"),
    Program("mvn", "fetching Kafka and Debezium jars from Maven Central", f"{APT} maven"),
    Program("mariadbd", "the source database", f"{APT} mariadb-server"),
    Program("mariadb-install-db", "initialising the database", f"{APT} mariadb-server"),
    Program("/usr/sbin/sshd", "one SSH server per lab host", f"{APT} openssh-server"),
    Program("ssh", "Ansible's connection to the lab hosts", f"{APT} openssh-client"),
    Program("openssl", "the lab's CA and server certificate", f"{APT} openssl"),
    Program("start-stop-daemon", "supervising lab processes", f"{APT} dpkg"),
)

# The docker target: an engine in the lab's connect host, compose v2 as the docker CLI plugin.
DOCKER_PROGRAMS: tuple[Program, ...] = (
    Program("dockerd", "the docker target's engine", f"{APT} docker.io"),
    Program("/usr/bin/docker", "the docker CLI of that engine", f"{APT} docker.io"),
    Program("nsenter", "starting the engine in the connect host's namespace", f"{APT} util-linux"),
    Program(
        "/usr/local/lib/docker/cli-plugins/docker-compose",
        "docker compose (v2 plugin)",
        "bash .ci/run --setup-only (builds github.com/docker/compose/v2 with go install)",
    ),
)

# Debian keeps some of these in sbin dirs that a non-login shell may not have on PATH.
EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def _which(name: str) -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_PATH])
    return shutil.which(name, path=search)


def missing_programs(
    programs: tuple[Program, ...] = LAB_PROGRAMS,
    which: Callable[[str], str | None] = _which,
) -> list[Program]:
    return [p for p in programs if which(p.name) is None]


def check_lab_prerequisites(
    *,
    euid: int | None = None,
    which: Callable[[str], str | None] = _which,
    programs: tuple[Program, ...] = LAB_PROGRAMS,
) -> None:
    """Raise one PrerequisiteError naming everything missing and how to get it."""
    problems: list[str] = []
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        problems.append(
            "root: the lab creates network namespaces, veth pairs and iptables rules, "
            "which needs root. Run as root (e.g. `sudo -E invoke lab.up`)."
        )
    for program in missing_programs(programs, which=which):
        problems.append(f"{program.name}: needed for {program.purpose}. Install: {program.fix}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PrerequisiteError(
            f"the local lab cannot run on this machine yet:\n{lines}\n"
            "Or run `bash .ci/run --setup-only` as root, which installs all of them."
        )


def check_root(*, euid: int | None = None) -> None:
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        raise PrerequisiteError(
            "root: the lab's namespaces, veths and iptables rules need root. "
            "Run as root (e.g. `sudo -E invoke lab.down`)."
        )
