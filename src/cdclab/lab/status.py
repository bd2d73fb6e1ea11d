"""invoke lab.status: is every host answering, every arm RUNNING, and over which TLS?"""

from __future__ import annotations

import time

from pydantic import BaseModel
from rich.table import Table

from cdclab.connect_rest import ConnectRest
from cdclab.errors import CdclabError
from cdclab.lab.access import running_config, ssh_to
from cdclab.lab.tls_evidence import ArmTls, collect_tls_evidence
from cdclab.metrics import JolokiaMetrics
from cdclab.progress import out


class HostStatus(BaseModel):
    name: str
    address: str
    namespace: str
    answers: bool
    ssh_ms: float | None = None
    error: str | None = None


class ArmStatus(BaseModel):
    """What `lab.status` reports of an arm: states and evidence, not configuration."""

    name: str
    connector: str
    rest_url: str
    topic: str
    jvm_opts: str
    connector_state: str
    task_state: str
    tls: ArmTls | None = None
    # Debezium's streaming metrics (Jolokia): connected, ms_since_last_event, disconnects,
    # events_seen, or error when the worker's agent cannot say.
    metrics: dict[str, bool | int | str] = {}
    trace: str | None = None
    error: str | None = None


class LabStatus(BaseModel):
    subnet: str
    hosts: list[HostStatus]
    arms: list[ArmStatus]

    @property
    def healthy(self) -> bool:
        return all(h.answers for h in self.hosts) and all(
            a.connector_state == "RUNNING" and a.task_state == "RUNNING" for a in self.arms
        )


def _host_status(config, host) -> HostStatus:
    started = time.monotonic()
    try:
        with ssh_to(host) as ssh:
            ok = ssh.run(["true"]).ok
        return HostStatus(
            name=host.name,
            address=host.address,
            namespace=host.namespace,
            answers=ok,
            ssh_ms=round((time.monotonic() - started) * 1000, 1),
        )
    except CdclabError as exc:
        return HostStatus(
            name=host.name,
            address=host.address,
            namespace=host.namespace,
            answers=False,
            error=str(exc),
        )


def lab_status() -> LabStatus:
    config = running_config()
    hosts = [_host_status(config, h) for h in config.hosts]
    evidence: dict[str, ArmTls] = {}
    if all(h.answers for h in hosts):
        evidence = collect_tls_evidence(config)
    arms = []
    for arm in config.arms:
        state = ConnectRest(config.rest_url(arm)).connector_state(arm.connector_name)
        arms.append(
            ArmStatus(
                name=arm.name,
                connector=arm.connector_name,
                rest_url=config.rest_url(arm),
                topic=config.topic(arm),
                jvm_opts=arm.jvm_opts,
                connector_state=state.connector,
                task_state=state.task,
                tls=evidence.get(arm.name),
                metrics=JolokiaMetrics(config.metrics_url(arm))
                .streaming(arm.topic_prefix)
                .as_record(),
                trace=state.trace,
                error=state.error,
            )
        )
    return LabStatus(subnet=config.subnet, hosts=hosts, arms=arms)


def _since_last_event(metrics: dict) -> str:
    since = metrics.get("ms_since_last_event")
    if since is None:
        return f"[yellow]{metrics.get('error', '?')}[/yellow]"
    connected = "" if metrics.get("connected") else " [red](not connected)[/red]"
    return f"{since / 1000:.1f} s{connected}" if since >= 0 else f"no event yet{connected}"


def render_status(report: LabStatus) -> None:
    hosts = Table(title=f"lab hosts ({report.subnet})")
    for column in ("host", "address", "namespace", "ssh"):
        hosts.add_column(column)
    for h in report.hosts:
        answer = f"[green]answers[/green] ({h.ssh_ms} ms)" if h.answers else f"[red]{h.error}[/red]"
        hosts.add_row(h.name, h.address, h.namespace, answer)
    arms = Table(title="arms")
    columns = ("arm", "connector", "task", "TLS (binlog)", "cipher", "since last event", "topic")
    for column in (*columns, "REST"):
        arms.add_column(column)
    for a in report.arms:
        colour = "green" if a.connector_state == a.task_state == "RUNNING" else "red"
        arms.add_row(
            a.name,
            f"[{colour}]{a.connector_state}[/{colour}]",
            f"[{colour}]{a.task_state}[/{colour}]",
            (a.tls.version if a.tls else None) or "?",
            (a.tls.cipher if a.tls else None) or "?",
            _since_last_event(a.metrics),
            a.topic,
            a.rest_url,
        )
    out.print(hosts)
    out.print(arms)
