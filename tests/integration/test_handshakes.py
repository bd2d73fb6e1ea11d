"""The ssl-debug experiment on the real lab: each arm's JVM logs its own handshakes, and the
manifest and report carry the field report's handshake table from them."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import run_invoke
from tests.integration.test_experiment import _results_dir, lab_env

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, iptables)"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return lab_env(tmp_path_factory.mktemp("ssl-results"))


def _db_sysctl(key: str) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", "cdclab-db", "sysctl", "-n", key], capture_output=True, text=True
    )
    return " ".join(out.stdout.split())


def test_ssl_debug_records_each_arms_handshake_and_restores_host_sysctls(env):
    ran = run_invoke(
        "experiment",
        "ssl-debug",
        "--minutes",
        "1",
        # A host sysctl for the run (keyupdate's knob): set on the db host, then restored.
        "--set",
        "hosts.db.sysctls.net.ipv4.tcp_rmem=4096 131072 1048576",
        env=env,
        timeout=900,
    )
    assert ran.rc == 0, ran.stdout + ran.stderr
    run = _results_dir(ran.stdout)
    manifest = json.loads((run / "manifest.json").read_text())
    (tuned,) = manifest["sysctls"]
    assert (tuned["host"], tuned["key"]) == ("db", "net.ipv4.tcp_rmem")
    assert tuned["value"] == "4096 131072 1048576" != tuned["previous"]
    assert _db_sysctl("net.ipv4.tcp_rmem") == tuned["previous"]  # restored after the run
    table = manifest["tls_handshakes"]
    binlog = {
        arm: [
            (h["protocol"], h["cipher"])
            for h in table[arm]["handshakes"]
            if h["purpose"] == "binlog"
        ]
        for arm in ("tls13", "tls12")
    }
    # This run's binlog connection, from the client's side; the server agrees.
    assert ("TLSv1.3", "TLS_AES_256_GCM_SHA384") in binlog["tls13"]
    assert ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384") in binlog["tls12"]
    assert all(protocol == "TLSv1.2" for protocol, _ in binlog["tls12"])
    assert manifest["tls"]["tls13"]["version"] == "TLSv1.3"
    assert manifest["tls"]["tls12"]["version"] == "TLSv1.2"
    report = (run / "report.md").read_text()
    assert "TLS handshakes (javax.net.debug)" in report
    assert "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" in report
