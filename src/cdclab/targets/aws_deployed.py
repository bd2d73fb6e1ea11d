"""What the last deploy on a kept instance was given, so that a run reusing the instance
(`aws.run_id`) skips a deploy that would change nothing: tens of seconds per run.

The digest covers every extra var the deploy playbook gets, the playbooks and roles
themselves, and the content of every file it copies (the image, the wheelhouse, CA
bundles). Passwords enter only as scrypt hashes under a salt of the record's own, never as
text. A deploy is skipped only when the digest is the recorded one and every arm's
container runs on the instance; the record is dropped before any deploy starts, so a failed
one is never taken for done.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from cdclab.lab.proof import inputs_digest

RECORD = "deployed.json"
# Extra vars naming a file whose content is a password (a new random name every deploy).
SECRET_FILE_VARS = ("cdclab_db_password_file", "cdclab_kafka_password_file")
WHEELHOUSE_VAR = "cdclab_wheelhouse"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _wheelhouse_digest(path: Path) -> str:
    """The wheels' contents, not their bytes: cdclab's own wheel is rebuilt for every deploy
    and its zip stamps each build's time, so each member's name, size and CRC stand for it."""
    digest = hashlib.sha256()
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            handle = archive.extractfile(member)
            if handle is None:
                continue
            with zipfile.ZipFile(io.BytesIO(handle.read())) as wheel:
                for info in sorted(wheel.infolist(), key=lambda i: i.filename):
                    digest.update(
                        f"{member.name}:{info.filename}:{info.file_size}:{info.CRC}\n".encode()
                    )
    return digest.hexdigest()


def _secret_digest(path: Path, salt: bytes) -> str:
    # scrypt, not a plain hash: the record must not make a weak password cheap to guess.
    return hashlib.scrypt(path.read_bytes(), salt=salt, n=2**14, r=8, p=1).hex()


def deploy_digest(extravars: dict[str, Any], salt: bytes) -> str:
    """One digest of what the deploy would do: a file's path stands for its content."""
    seen: dict[str, Any] = {}
    for name, value in extravars.items():
        path = Path(value) if isinstance(value, str) and value.startswith("/") else None
        if path is None or not path.is_file():
            seen[name] = value
        elif name in SECRET_FILE_VARS:
            seen[name] = _secret_digest(path, salt)
        elif name == WHEELHOUSE_VAR:
            seen[name] = _wheelhouse_digest(path)
        else:
            seen[name] = _file_digest(path)
    return inputs_digest(seen)


def load(state: Path) -> tuple[str | None, bytes]:
    """The recorded digest (None without a record) and the salt to digest with: the
    record's own while it is kept, a new one for a new instance."""
    try:
        saved = json.loads((state / RECORD).read_text())
        return saved["digest"], bytes.fromhex(saved["salt"])
    except (OSError, ValueError, KeyError):
        return None, os.urandom(16)


def record(state: Path, digest: str, salt_used: bytes) -> None:
    path = state / RECORD
    path.write_text(json.dumps({"digest": digest, "salt": salt_used.hex()}) + "\n")
    path.chmod(0o600)


def forget(state: Path) -> None:
    (state / RECORD).unlink(missing_ok=True)
