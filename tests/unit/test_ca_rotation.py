"""The ca-rotation fault's scripts, run for real on a copy of a certificate pair: the served
pair is replaced by one from a new CA for the same address, and put back exactly by the
heal, by a second heal (idempotent) or by a sweep after a crash. The database's client is
replaced by one that records what it is told (the lab test talks to MariaDB itself)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from cdclab.core.faults import FaultSpec
from cdclab.faults.actions import (
    RESTORE_CERTIFICATES,
    DbCertificate,
    Endpoint,
    FaultAction,
    sweep_script,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes under /run like the lab")


def _pair(tls: Path) -> dict[str, bytes]:
    tls.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tls / "server-key.pem"), "-out", str(tls / "server-cert.pem"),
         "-subj", "/CN=original"],
        check=True, capture_output=True,
    )  # fmt: skip
    (tls / "server-key.pem").chmod(0o600)
    return {name: (tls / name).read_bytes() for name in ("server-cert.pem", "server-key.pem")}


def _action(tmp_path: Path, fault_id: str) -> tuple[FaultAction, Path]:
    said = tmp_path / "said.log"
    client = tmp_path / "client"
    client.write_text(f'#!/bin/sh\nshift 4; echo "$1" >> {said}\n')  # mariadb ... -e SQL
    client.chmod(0o755)
    db = DbCertificate(
        tls_dir=str(tmp_path / "tls"),
        client=[str(client), "--defaults-file=/x", "-N", "-B", "-e"],
        address="198.18.213.10",
        cdc_user="cdclab_cdc",
    )
    spec = FaultSpec(kind="ca-rotation", host="db", at=1, for_=5)
    action = FaultAction(
        fault_id=fault_id,
        run_id="0000ca00",
        spec=spec,
        host=Endpoint("db", "198.18.213.10"),
        peer=None,
        scheduled_at=1,
        duration=5,
        db=db,
    )
    return action, said


def _sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


def test_the_served_pair_rotates_and_the_heal_puts_it_back(tmp_path):
    original = _pair(tmp_path / "tls")
    action, said = _action(tmp_path, "f01")
    applied = _sh(action.apply_script())
    assert applied.returncode == 0, applied.stderr
    served = tmp_path / "tls" / "server-cert.pem"
    text = subprocess.run(
        ["openssl", "x509", "-in", str(served), "-noout", "-issuer", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "rotated CA" in text and "198.18.213.10" in text
    assert oct((tmp_path / "tls" / "server-key.pem").stat().st_mode & 0o777) == "0o600"
    assert said.read_text().splitlines() == [
        "FLUSH LOCAL SSL",
        "SELECT id FROM information_schema.processlist WHERE user='cdclab_cdc'",
    ]
    for _ in range(2):  # the heal, then the dead-man switch's: the same end
        healed = _sh(action.heal_script())
        assert healed.returncode == 0, healed.stderr
        assert {n: (tmp_path / "tls" / n).read_bytes() for n in original} == original
    assert said.read_text().splitlines()[-1] == "FLUSH LOCAL SSL"
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == sorted(original)
    assert not list(Path("/run/cdclab-faults").glob("ca-rotation-0000ca00-*"))


def test_a_sweep_after_a_crash_restores_the_certificate(tmp_path):
    original = _pair(tmp_path / "tls")
    action, _said = _action(tmp_path, "f02")
    assert _sh(action.apply_script()).returncode == 0
    # The sweep's own step for it (the whole sweep would touch this machine's iptables).
    assert RESTORE_CERTIFICATES in sweep_script(str(tmp_path / "heal"))
    swept = _sh(RESTORE_CERTIFICATES)
    assert "rotated database certificate: ca-rotation-0000ca00-f02" in swept.stdout
    assert {n: (tmp_path / "tls" / n).read_bytes() for n in original} == original
    assert not list(Path("/run/cdclab-faults").glob("ca-rotation-0000ca00-*"))


def test_a_rotation_is_of_the_databases_own_certificate():
    with pytest.raises(ValidationError, match="host: db"):
        FaultSpec(kind="ca-rotation", host="connect", at=1, for_=5)
