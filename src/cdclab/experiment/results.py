"""The results directory of one run: created once, never overwritten, with a `latest` link."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from cdclab.core.deadline import LearnedDeadline
from cdclab.core.journal import utc_iso
from cdclab.core.spec import ExperimentSpec
from cdclab.paths import results_dir
from cdclab.redact import MASK, looks_secret


def new_run_id() -> str:
    return secrets.token_hex(4)


def mask_secrets(data: Any) -> Any:
    """Mask values whose key looks secret (specs should hold none; this is the safety net)."""
    if isinstance(data, dict):
        return {k: MASK if looks_secret(str(k)) and v else mask_secrets(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data


class RunDirectory:
    def __init__(self, path: Path, run_id: str):
        self.path = path
        self.run_id = run_id

    @classmethod
    def create(cls, spec: ExperimentSpec, run_id: str, root: Path | None = None) -> RunDirectory:
        base = root or results_dir()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = base / f"{spec.name}-{stamp}-{run_id}"
        path.mkdir(parents=True, exist_ok=False)  # never overwrite a run
        for sub in ("dumps", "logs", "ansible"):
            (path / sub).mkdir()
        run = cls(path, run_id)
        (path / "spec.yaml").write_text(
            yaml.safe_dump(mask_secrets(spec.model_dump(mode="json")), sort_keys=False)
        )
        latest = base / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(path.name)
        except OSError:
            pass  # a convenience only
        return run

    def record_deadline(self, learned: LearnedDeadline) -> None:
        """The learned deadline into spec.yaml: the report, and a rerun of this spec, use it."""
        path = self.path / "spec.yaml"
        data = yaml.safe_load(path.read_text()) or {}
        data.setdefault("canary", {})["deadline"] = learned.deadline_s
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            f"# canary.deadline {learned.rule}\n" + yaml.safe_dump(data, sort_keys=False)
        )
        os.replace(tmp, path)  # atomic: a kill never leaves half a spec

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        manifest = {**self.read_manifest(), **fields}
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(mask_secrets(manifest), indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.manifest_path)  # atomic: a kill never leaves half a manifest
        return manifest

    def checksums(self) -> dict[str, str]:
        sums = {}
        for file in sorted(self.path.rglob("*")):
            if file.is_file() and file.name != "manifest.json":
                digest = hashlib.sha256(file.read_bytes()).hexdigest()
                sums[str(file.relative_to(self.path))] = digest
        return sums

    def finish(self, status: str, ended_at: float) -> None:
        # Checksums come last, once the report exists (runner), not here and again there.
        self.update_manifest(status=status, ended_at=utc_iso(ended_at))
