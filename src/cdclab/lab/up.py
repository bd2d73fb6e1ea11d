"""Bring the lab up through ansible-runner; clean up if that fails midway."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdclab.ansible import EventHandler, PlaybookFailed, PlaybookResult, run_playbook
from cdclab.errors import CdclabError
from cdclab.lab import config as lab_config
from cdclab.lab.config import SECOND_BROKER_PORT, LabConfig
from cdclab.lab.extravars import lab_extravars
from cdclab.lab.proof import Proof, forget, prove, record
from cdclab.lab.teardown import claim_lab, lab_namespaces, lab_owner, stop_workers, teardown
from cdclab.paths import LOCAL_INVENTORY, state_dir
from cdclab.prereqs import check_lab_prerequisites
from cdclab.progress import console
from cdclab.secrets import DB_CDC_PASSWORD, DB_WRITER_PASSWORD, KAFKA_SCRAM_PASSWORD, ensure_secret

# A resumed task is RUNNING again within seconds (it only restarts its binlog reader).
RESUME_TIMEOUT_S = 30.0


@dataclass
class UpResult:
    """The playbooks' result, or None when the running lab was proven healthy (proof)."""

    playbook: PlaybookResult | None
    config: LabConfig
    proof: Proof | None = None

    @property
    def changed(self) -> int:
        return self.playbook.total_changed if self.playbook else 0


def check_matches_running_lab(requested: LabConfig) -> None:
    """The lab that is up (if any) is this state directory's, on the requested subnet."""
    owner = lab_owner()
    if lab_namespaces() and owner is not None and owner != state_dir():
        raise CdclabError(
            f"a lab is already up on this machine, driven from state directory {owner} "
            f"(this command uses {state_dir()}). Take it down first: "
            f"`CDCLAB_STATE_DIR={owner} invoke lab.down`, or use that state directory."
        )
    running = lab_config.load_saved()
    if running is not None and running.subnet != requested.subnet:
        raise CdclabError(
            f"subnet: the lab is up on {running.subnet}, not {requested.subnet}. "
            "Run `invoke lab.down` first, or drop --subnet to use the running lab."
        )


def arms_to_retire(running: LabConfig | None, requested: LabConfig) -> list[str]:
    """Running workers the requested shape does not keep as they are: arms that are gone,
    and arms whose REST port moved (another arm may take their ports, and the playbook
    starts arms in order, before it would restart them)."""
    if running is None:
        return []
    kept = {arm.name: arm.rest_port for arm in requested.arms}
    return [arm.name for arm in running.arms if kept.get(arm.name) != arm.rest_port]


def describe_plan(config: LabConfig) -> str:
    """What lab.up would build, for --dry-run on a machine with no lab yet."""
    lines = [
        f"subnet {config.subnet}: bridge cdclab-br0 at {config.bridge_address}",
        *(f"host {h.name}: namespace {h.namespace}, {h.address}, sshd :22" for h in config.hosts),
        f"db: MariaDB at {config.db.address}:{config.db_port}, TLSv1.2+TLSv1.3, binlog ROW",
        f"kafka: KRaft single node at {config.kafka_bootstrap}"
        + (f", a second broker on :{SECOND_BROKER_PORT}" if config.brokers > 1 else ""),
        *(
            f"arm {a.name}: Connect worker {config.rest_url(a)}, connector {a.connector_name}, "
            f"topic {config.topic(a)}, JVM options {a.jvm_opts or '(JVM defaults)'}"
            for a in config.arms
        ),
    ]
    return "\n".join(lines)


def _build_or_take_down(playbook, keep_on_failure: bool) -> PlaybookResult:
    """Run the playbooks; if they fail, take the half-built lab down unless asked not to."""
    try:
        return playbook()
    except (PlaybookFailed, KeyboardInterrupt) as exc:
        if keep_on_failure:
            raise CdclabError(
                f"{exc}\nThe half-built lab was kept (--keep-on-failure): "
                "namespaces cdclab-*, bridge cdclab-br0 and their processes. "
                "Remove them with `invoke lab.down`."
            ) from exc
        report = teardown()
        leftovers = "; ".join(report.errors) or "nothing"
        raise CdclabError(
            f"{exc}\nlab.up failed, so the half-built lab was taken down again "
            f"(left behind: {leftovers}). Data and downloaded jars were kept for the next try."
        ) from exc


def _resumed(proof: Proof, config: LabConfig, extravars: dict) -> Proof:
    """Resume the lab's connectors a killed run left paused, then prove the lab again: the
    canary shows they read again, in seconds instead of a run of every playbook."""
    from cdclab.connect_rest import ConnectRest

    entries = {e["name"]: e for e in extravars["cdclab_connectors"]}
    try:
        for name in proof.paused:
            ConnectRest(entries[name]["rest_url"]).request("PUT", f"/connectors/{name}/resume")
    except ConnectionError:
        return proof  # the playbooks mend it then
    names = ", ".join(proof.paused)
    console.print(f"  resumed {names}: paused, as a run that was killed leaves them")
    deadline = time.monotonic() + RESUME_TIMEOUT_S
    while time.monotonic() < deadline:
        again = prove(config, extravars)
        if again.healthy or not again.paused:
            return again
        time.sleep(1)
    return again


def _reshape(config: LabConfig) -> None:
    """Before the playbooks: forget the last proof, stop the workers the new shape drops."""
    forget()
    retired = stop_workers(arms_to_retire(lab_config.load_saved(), config))
    if retired:
        console.print(f"  stopped the worker(s) of {', '.join(retired)}: not in this lab shape")
    lab_config.save(config)
    claim_lab(state_dir())


def _change_arms(
    config: LabConfig, extravars: dict, playbook: Callable[[str], PlaybookResult]
) -> PlaybookResult | None:
    """Only the arms changed: lab_arms.yml alone, about half of every playbook's time. None
    if it failed: every playbook runs then, and mends what it left."""
    console.print("  changing the workers only: the rest of the lab is as lab.up left it")
    _reshape(config)
    try:
        result = playbook("lab_arms.yml")
    except PlaybookFailed as exc:
        console.print(f"  changing the workers failed ({str(exc).splitlines()[0]})")
        return None
    record(extravars)
    return result


def lab_up(
    config: LabConfig | None = None,
    *,
    keep_on_failure: bool = False,
    dry_run: bool = False,
    event_handler: EventHandler | None = None,
    artifact_dir: Path | None = None,
    full: bool = False,
    hide_env: tuple[str, ...] = (),
) -> UpResult | str:
    """Build or reconcile the lab. A running lab proven healthy (cdclab.lab.proof) is left
    as it is unless full; with dry_run: Ansible check mode on a running lab, or the plan (a
    string) when there is no lab yet; nothing is changed either way."""
    check_lab_prerequisites()
    config = config or lab_config.load_saved() or LabConfig()
    check_matches_running_lab(config)
    extravars = lab_extravars(config)

    def playbook(name: str = "lab_up.yml") -> PlaybookResult:
        return run_playbook(
            name,
            inventory=LOCAL_INVENTORY,
            extravars=extravars,
            event_handler=event_handler,
            artifact_dir=artifact_dir,
            check=dry_run,
            hide_env=hide_env,  # a run's env: secret references (the docker target's)
        )

    if dry_run:
        if lab_config.load_saved() is None or not lab_namespaces():
            return describe_plan(config)
        return UpResult(playbook=playbook(), config=config)
    ensure_secret(DB_CDC_PASSWORD)
    ensure_secret(DB_WRITER_PASSWORD)
    ensure_secret(KAFKA_SCRAM_PASSWORD)
    # CDCLAB_LAB_PROOF=off: the behaviour before the proof existed (bench's baseline).
    full = full or os.environ.get("CDCLAB_LAB_PROOF") == "off"
    proof = None if full else prove(config, extravars)
    if proof and proof.paused:
        proof = _resumed(proof, config, extravars)
    if proof and proof.healthy:
        claim_lab(state_dir())
        return UpResult(playbook=None, config=config, proof=proof)
    # CDCLAB_LAB_ARMS_ONLY=off: every playbook for a change of arms too (bench's baseline).
    arms_only = proof and proof.arms_only and os.environ.get("CDCLAB_LAB_ARMS_ONLY") != "off"
    if arms_only and (changed := _change_arms(config, extravars, playbook)):
        return UpResult(playbook=changed, config=config, proof=proof)
    if proof:
        console.print(f"  running the playbooks: {proof.reason}")
    _reshape(config)
    result = _build_or_take_down(playbook, keep_on_failure)
    record(extravars)
    return UpResult(playbook=result, config=config, proof=proof)
