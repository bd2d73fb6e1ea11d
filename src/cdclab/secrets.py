"""Lab secrets: generated once, kept in 0600 files, never passed on a command line."""

from __future__ import annotations

import contextlib
import os
import secrets as _random
from collections.abc import Iterator
from pathlib import Path

from cdclab.paths import state_dir

DB_CDC_PASSWORD = "db_cdc_password"
DB_WRITER_PASSWORD = "db_writer_password"
KAFKA_SCRAM_PASSWORD = "kafka_scram_password"  # the lab broker's SASL_SSL user


def secrets_dir(root: Path | None = None) -> Path:
    return (root or state_dir()) / "secrets"


def ensure_secret(name: str, root: Path | None = None) -> Path:
    """Create the secret file if absent (random, URL-safe); return its path."""
    directory = secrets_dir(root)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    path = directory / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_random.token_urlsafe(24))
    return path


def read_secret(name: str, root: Path | None = None) -> str:
    return (secrets_dir(root) / name).read_text().strip()


@contextlib.contextmanager
def secret_files(directory: Path, values: dict[str, str]) -> Iterator[dict[str, Path]]:
    """Each secret in a 0600 file of its own, for a playbook to read (never in its extra
    vars, argv or results); every file is removed when the block ends."""
    paths: dict[str, Path] = {}
    try:
        for name, value in values.items():
            path = directory / f".{name}-password-{_random.token_hex(4)}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            paths[name] = path
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
        yield paths
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)
