"""Bring the lab up through ansible-runner; clean up if that fails midway."""

from __future__ import annotations

from dataclasses import dataclass

from cdclab.ansible import EventHandler, PlaybookFailed, PlaybookResult, run_playbook
from cdclab.errors import CdclabError
from cdclab.lab import config as lab_config
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import lab_extravars
from cdclab.lab.teardown import teardown
from cdclab.paths import INVENTORIES_DIR
from cdclab.prereqs import check_lab_prerequisites
from cdclab.secrets import DB_CDC_PASSWORD, DB_WRITER_PASSWORD, ensure_secret

LOCAL_INVENTORY = INVENTORIES_DIR / "local"


@dataclass
class UpResult:
    playbook: PlaybookResult
    config: LabConfig

    @property
    def changed(self) -> int:
        return self.playbook.total_changed


def _check_matches_running_lab(requested: LabConfig) -> None:
    running = lab_config.load_saved()
    if running is not None and running.subnet != requested.subnet:
        raise CdclabError(
            f"subnet: the lab is up on {running.subnet}, not {requested.subnet}. "
            "Run `invoke lab.down` first, or drop --subnet to use the running lab."
        )


def lab_up(
    config: LabConfig | None = None,
    *,
    keep_on_failure: bool = False,
    event_handler: EventHandler | None = None,
) -> UpResult:
    check_lab_prerequisites()
    config = config or lab_config.load_saved() or LabConfig()
    _check_matches_running_lab(config)
    ensure_secret(DB_CDC_PASSWORD)
    ensure_secret(DB_WRITER_PASSWORD)
    lab_config.save(config)
    try:
        result = run_playbook(
            "lab_up.yml",
            inventory=LOCAL_INVENTORY,
            extravars=lab_extravars(config),
            event_handler=event_handler,
        )
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
    return UpResult(playbook=result, config=config)
