"""Which TLS version and cipher each arm negotiated, read from the server, per connection.

Evidence, not assumption: MariaDB's performance_schema gives Ssl_version/Ssl_cipher of every
client thread with its host:port; `ss` on the connect host maps that port to a JVM pid, and
the worker pid files map the pid to an arm.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from cdclab.lab.access import mariadb_client_argv, ssh_to
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import CDC_USER
from cdclab.paths import worker_pidfile
from cdclab.ssh import SSHHost

SESSIONS_SQL = """
SELECT p.ID, p.HOST, p.COMMAND,
  MAX(IF(s.VARIABLE_NAME='Ssl_version', s.VARIABLE_VALUE, NULL)),
  MAX(IF(s.VARIABLE_NAME='Ssl_cipher', s.VARIABLE_VALUE, NULL))
FROM information_schema.PROCESSLIST p
JOIN performance_schema.threads t ON t.PROCESSLIST_ID = p.ID
JOIN performance_schema.status_by_thread s ON s.THREAD_ID = t.THREAD_ID
WHERE p.USER = '{user}' AND s.VARIABLE_NAME IN ('Ssl_version', 'Ssl_cipher')
GROUP BY p.ID, p.HOST, p.COMMAND
"""

SS_LINE = re.compile(r"\]?:(?P<port>\d+)\s+\S*:\d+\s+users:\(\(\"[^\"]*\",pid=(?P<pid>\d+)")


class TlsSession(BaseModel):
    connection_id: int
    client_port: int
    purpose: str  # "binlog" (the Binlog Dump connection) or "jdbc"
    version: str | None
    cipher: str | None


class ArmTls(BaseModel):
    version: str | None  # of the binlog connection: the one that carries change events
    cipher: str | None
    sessions: list[TlsSession]


def parse_sessions(text: str) -> list[tuple[int, int, str, str | None, str | None]]:
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5:
            continue
        conn_id, host, command, version, cipher = parts
        port = int(host.rsplit(":", 1)[1]) if ":" in host else 0
        purpose = "binlog" if command == "Binlog Dump" else "jdbc"
        rows.append((int(conn_id), port, purpose, _null(version), _null(cipher)))
    return rows


def _null(value: str) -> str | None:
    return None if value in ("NULL", "") else value


def parse_ss_ports(text: str) -> dict[int, int]:
    """local port -> pid, from `ss -tnpH` lines."""
    ports = {}
    for line in text.splitlines():
        match = SS_LINE.search(line)
        if match:
            ports[int(match["port"])] = int(match["pid"])
    return ports


def collect_tls_evidence(
    config: LabConfig, worker_pids: dict[int, str] | None = None
) -> dict[str, ArmTls]:
    """Per arm; the arms' JVMs are the lab's workers (their pid files) unless `worker_pids`
    (pid as this machine sees it -> arm) names others, e.g. containers' JVMs."""
    with ssh_to(config.db) as db:
        sql = SESSIONS_SQL.format(user=CDC_USER)
        result = db.run([*mariadb_client_argv(), sql])
        sessions = parse_sessions(result.stdout) if result.ok else []
    with ssh_to(config.connect) as connect:
        ss = connect.run(["ss", "-tnpH", "dst", f"{config.db.address}:{config.db_port}"])
        port_to_pid = parse_ss_ports(ss.stdout)
        pid_to_arm = worker_pids if worker_pids is not None else _lab_worker_pids(config, connect)
    evidence: dict[str, ArmTls] = {}
    names = (
        dict.fromkeys(pid_to_arm.values())
        if worker_pids is not None
        else [a.name for a in config.arms]
    )
    for name in names:
        mine = [
            TlsSession(connection_id=c, client_port=p, purpose=k, version=v, cipher=ci)
            for (c, p, k, v, ci) in sessions
            if pid_to_arm.get(port_to_pid.get(p, -1)) == name
        ]
        binlog = next((s for s in mine if s.purpose == "binlog"), None)
        chosen = binlog or (mine[0] if mine else None)
        evidence[name] = ArmTls(
            version=chosen.version if chosen else None,
            cipher=chosen.cipher if chosen else None,
            sessions=mine,
        )
    return evidence


def _lab_worker_pids(config: LabConfig, connect: SSHHost) -> dict[int, str]:
    pids = {}
    for arm in config.arms:
        pid = connect.run(["cat", worker_pidfile(arm.name)]).stdout.strip()
        if pid.isdigit():
            pids[int(pid)] = arm.name
    return pids
