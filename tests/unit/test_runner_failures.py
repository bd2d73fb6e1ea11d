"""A run that meets an unexpected exception still ends as a run: status `failed`, the error
in events.jsonl, teardown done, a report written. And host tuning applied before a failing
sysctl is restored.

The runner test drives the real runner, journals and report with a target whose prepare()
raises ConnectionError: no real target can be made to raise an arbitrary exception type on
demand, and the runner's handling of it is what is under test. The sysctl test runs real
sysctl commands in a network namespace of its own (root only)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess

import pytest

from cdclab.core.spec import load_spec
from cdclab.errors import CdclabError
from cdclab.experiment import runner
from cdclab.ssh import CommandResult
from cdclab.targets.local import LocalTarget


class _RaisingTarget(LocalTarget):
    """The lab target, but preparing raises what a flaky network raises."""

    cleaned = False

    def check_prerequisites(self) -> None:  # no lab is touched: prepare() fails first
        pass

    def exclusive(self):
        return contextlib.nullcontext()

    def preflight(self) -> None:
        pass

    def prepare(self) -> list[str]:
        raise ConnectionError("connection reset by peer")

    def cleanup(self) -> list[str]:
        type(self).cleaned = True
        return []

    def collect_logs(self, results) -> None:
        pass


def test_an_unexpected_exception_gets_a_status_a_report_and_teardown(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(
        runner,
        "target_for",
        lambda spec, run_id, **kw: _RaisingTarget(spec, run_id, artifact_dir=None),
    )
    outcome = runner.run_experiment(load_spec("tls-compare", duration=60))
    assert outcome.status == "failed"
    assert any("ConnectionError: connection reset by peer" in e for e in outcome.errors)
    events = [json.loads(x) for x in (outcome.directory / "events.jsonl").read_text().splitlines()]
    assert {"error", "run_end"} <= {e["event"] for e in events}
    assert json.loads((outcome.directory / "manifest.json").read_text())["status"] == "failed"
    assert (outcome.directory / "report.md").is_file()
    assert _RaisingTarget.cleaned


NETNS = "cdtest-sysctl"
KEY = "net.ipv4.tcp_keepalive_time"


@pytest.fixture
def netns():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a network namespace of its own needs root")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        yield NETNS
    finally:
        subprocess.run(["ip", "netns", "delete", NETNS], check=False)


class _NetnsHost:
    """Runs a command inside the namespace, as an SSH session to a lab host would."""

    def __init__(self, namespace: str):
        self.namespace = namespace

    def run(self, argv, **_):
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace, *argv], capture_output=True, text=True
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_sysctls_set_before_a_failing_one_are_restored(netns, tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path / "state"))
    before = _NetnsHost(netns).run(["sysctl", "-n", KEY]).stdout.strip()
    spec = load_spec(
        "tls-compare",
        assignments=[f"hosts.connect.sysctls.{KEY}=77", "hosts.connect.sysctls.net.ipv4.nope=1"],
    )
    target = LocalTarget(spec, "abcd1234", artifact_dir=None)
    monkeypatch.setattr(target, "ssh_for", lambda host: _NetnsHost(netns))
    with pytest.raises(CdclabError, match=r"net\.ipv4\.nope"):
        target.apply_sysctls()
    assert _NetnsHost(netns).run(["sysctl", "-n", KEY]).stdout.strip() == before
    assert target.restore_sysctls() == []  # nothing left to restore


def test_logs_of_a_lab_that_is_down_are_named_where_they_stay(tmp_path, monkeypatch):
    """A failed lab.up takes the half-built lab down: collecting over SSH cannot work, so the
    run's error says where the workers' and the broker's logs are instead."""
    from cdclab.lab import teardown

    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(teardown, "OWNER_FILE", tmp_path / "no-owner")
    target = LocalTarget(load_spec("tls-compare"), "abcd1234", artifact_dir=None)
    with pytest.raises(CdclabError, match=r"lab is down.*state/connect/<arm>/log.*state/kafka/log"):
        target.collect_logs(tmp_path / "results")
    assert not (tmp_path / "results").exists()
