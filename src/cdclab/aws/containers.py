"""The arms' Connect containers on the instance: names, thread dumps, logs (over SSH).

The containers are the original investigation's `quay.io/debezium/connect` image, one per arm, made
by the connect_compose role; the JVM is the container's PID 1 (the image's entrypoint
`exec`s Kafka's start script, which `exec`s java).
"""

from __future__ import annotations

import shlex

from cdclab.errors import CdclabError
from cdclab.ssh import SSHHost

# The arms' containers and Connect groups: apart from the lab's workers (cdclab-<arm>)
# and the docker target's (cdclab-docker), which may share the same Kafka.
COMPOSE_PROJECT = "cdclab-aws"
REMOTE_DIR = "/opt/cdclab"
HEAL_DIR = f"{REMOTE_DIR}/faults"  # heal scripts and dead-man pid files on the instance
DUMP_START = "Full thread dump"


def container_name(arm: str, project: str = COMPOSE_PROJECT) -> str:
    return f"{project}-connect-{arm}"


def thread_dump(ssh: SSHHost, cli: str, arm: str, project: str = COMPOSE_PROJECT) -> str:
    """`jcmd 1 Thread.print -l` inside the arm's container; on an image without jcmd,
    SIGQUIT (the JVM prints the dump on its stdout) and the container log since then."""
    name = container_name(arm, project)
    done = ssh.run([cli, "exec", name, "jcmd", "1", "Thread.print", "-l"], timeout=60)
    if done.ok and DUMP_START in done.stdout:
        return done.stdout
    quoted = shlex.quote(name)
    # The instance's own clock for --since: this machine's may differ from it.
    fallback = ssh.run(
        f"since=$(date +%s); {cli} kill --signal=QUIT {quoted} >/dev/null && sleep 2 && "
        f"{cli} logs --since $since {quoted} 2>&1",
        timeout=60,
    )
    dump = extract_dump(fallback.stdout)
    if not fallback.ok or dump is None:
        reason = (done.stderr or fallback.stderr or fallback.stdout).strip()[:500]
        raise CdclabError(f"arm {arm}: no thread dump from container {name}: {reason}")
    return dump


def extract_dump(log: str) -> str | None:
    """The last SIGQUIT dump in a container log: from its 'Full thread dump' line on."""
    start = log.rfind(DUMP_START)
    if start < 0:
        return None
    line_start = log.rfind("\n", 0, start) + 1
    return log[line_start:]
