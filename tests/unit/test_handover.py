"""A run handed over to the instance, with this machine as the instance (LocalHost speaks
SSHHost's interface): its files, its launch, following its journals, stopping it, pulling it.
The run itself is a small script writing journals the way a run does; the real run on a
real instance is tests/integration/test_aws_standin.py's."""

from __future__ import annotations

import json
import stat
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.aws.handover import RemoteRun, find_handover, instance_spec, record_handover
from cdclab.aws.secrets import resolve_secret
from cdclab.aws.wheelhouse import installed, platform_args
from cdclab.core.spec import ExperimentSpec, load_spec
from cdclab.errors import InvalidInputError
from cdclab.experiment.follow import FollowedRun
from cdclab.experiment.runner import run_experiment
from cdclab.localhost import LocalHost
from cdclab.targets.base import BaseTarget

EXTERNAL = [
    "external.db_host=db.example",
    "external.db_password_from=env:CDCLAB_T_DB",
    "external.writer_password_from=secretsmanager:cdclab/writer#password",
    "external.db_ca_file=/etc/ssl/certs/ca-certificates.crt",
    "external.kafka_bootstrap=b-1.example:9096",
    "external.kafka_security=SASL_SSL",
    "external.kafka_sasl_mechanism=SCRAM-SHA-512",
    "external.kafka_user=cdclab",
    "external.kafka_password_from=ssm:/cdclab/kafka",
]
RUN_ID = "7c7c7c7c"


def _spec(*more: str) -> ExperimentSpec:
    return load_spec("tls-compare", assignments=[*EXTERNAL, *more], target="aws")


def test_the_instance_reads_every_secret_and_ca_from_the_runs_own_files():
    data = instance_spec(_spec(), RUN_ID, "/opt/cdclab")
    external = data["external"]
    secrets = "/opt/cdclab/runs/7c7c7c7c/secrets"
    assert external["db_password_from"] == f"file:{secrets}/db_password_from"
    assert external["writer_password_from"] == f"file:{secrets}/writer_password_from"
    assert external["kafka_password_from"] == f"file:{secrets}/kafka_password_from"
    assert external["db_ca_file"] == "/opt/cdclab/runs/7c7c7c7c/db-ca.pem"
    assert external["kafka_ca_file"] is None
    again = ExperimentSpec.model_validate(data)  # the instance validates it as given
    assert again.external.kafka_user == "cdclab" and again.duration == _spec().duration


def test_a_file_reference_is_read_whole_and_named_not_echoed_when_wrong(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    assert resolve_secret(f"file:{secret}") == "s3cret-value"
    with pytest.raises(InvalidInputError, match="cannot read it") as missing:
        resolve_secret(f"file:{tmp_path / 'nope'}")
    assert "s3cret" not in str(missing.value)
    with pytest.raises(InvalidInputError, match="file:/absolute/path"):
        load_spec(
            "tls-compare",
            assignments=[*EXTERNAL, "external.db_password_from=file:pw"],
            target="aws",
        )


# -- the run's life on the instance ---------------------------------------------------------
FAKE_RUN = """
import json, os, signal, sys, time
args = sys.argv[1:]
results = args[args.index("--results") + 1]
os.makedirs(f"{results}/tls-compare-20260101T000000Z-7c7c7c7c", exist_ok=True)
open(args[args.index("--pid-file") + 1], "w").write(f"{os.getpid()}\\n")
run = f"{results}/tls-compare-20260101T000000Z-7c7c7c7c"
stopped = []
signal.signal(signal.SIGINT, lambda *a: stopped.append(1))
with open(f"{run}/checks.jsonl", "a") as checks, open(f"{run}/events.jsonl", "a") as events:
    for seq in range(int(os.environ.get("FAKE_CANARIES", "3"))):
        if stopped:
            break
        checks.write(json.dumps({"arm": "tls13", "canary_id": f"c{seq}",
                                 "outcome": "delivered"}) + "\\n")
        checks.flush()
        time.sleep(0.2)
    events.write(json.dumps({"event": "run_end",
                             "status": "interrupted" if stopped else "completed"}) + "\\n")
open(f"{run}/report.md", "w").write("# report\\n")
status = "interrupted" if stopped else "completed"
open(f"{run}/manifest.json", "w").write(json.dumps({"status": status}))
open(f"{run}/summary.json", "w").write(json.dumps({"verdict": [f"fake run {status}"]}))
sys.exit(130 if stopped else 0)
"""


def _remote(tmp_path: Path) -> RemoteRun:
    home = tmp_path / "home"
    venv = home / "venv" / "bin"
    venv.mkdir(parents=True)
    (home / "fake_run.py").write_text(FAKE_RUN)
    # The venv's python, as the instance's: runs the fake run for `-m cdclab…`.
    python = venv / "python"
    python.write_text(f'#!/bin/sh\nshift 2\nexec {sys.executable} {home}/fake_run.py "$@"\n')
    python.chmod(0o755)
    return RemoteRun(LocalHost(), RUN_ID, str(home), "cdclab")


def test_a_handed_over_run_is_started_followed_and_pulled_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_T_DB", "db-pw")
    remote = _remote(tmp_path)
    secrets = {"db_password_from": "db-pw", "kafka_password_from": "kafka-pw"}
    remote.start(_spec(), secrets)
    run_dir = Path(remote.dir)
    for name, value in secrets.items():
        path = run_dir / "secrets" / name
        assert path.read_text() == value and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "db-pw" not in remote.launch_command()
    written = json.loads((run_dir / "spec.json").read_text())
    assert "db-pw" not in json.dumps(written)
    lines: list[tuple[str, str]] = []
    code = remote.follow(lambda journal, line: lines.append((journal, line)), poll_s=0.2)
    assert code == 0
    canaries = [
        json.loads(line)["canary_id"] for journal, line in lines if journal == "checks.jsonl"
    ]
    assert canaries == ["c0", "c1", "c2"]  # each line once, in order
    pulled = remote.pull(tmp_path / "results")
    assert pulled.name.endswith(RUN_ID)
    assert (pulled / "report.md").read_text() == "# report\n"
    assert len((pulled / "checks.jsonl").read_text().splitlines()) == 3


def test_a_stopped_run_ends_as_interrupted_with_its_journals(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CANARIES", "500")
    remote = _remote(tmp_path)
    remote.start(_spec(), {})
    deadline = time.monotonic() + 20
    while not (Path(remote.dir) / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    remote.stop()
    assert remote.follow(lambda *_: None, poll_s=0.2) == 130
    pulled = remote.pull(tmp_path / "pulled")
    assert json.loads((pulled / "events.jsonl").read_text())["status"] == "interrupted"
    assert 0 < len((pulled / "checks.jsonl").read_text().splitlines()) < 500


class _HandingOver(BaseTarget):
    """A target that hands its runs over to `remote` (this machine, as the instance)."""

    kind = "aws"
    hands_over = True

    def setup(self) -> None:
        self.prepared = self.closed = 0

    def preflight(self) -> None:
        pass

    preparing = "preparing"

    def prepare(self) -> list[str]:
        self.prepared += 1
        return []

    def start_remote(self) -> RemoteRun:
        self.remote.start(self.spec, {})
        return self.remote

    def close(self) -> list[str]:
        self.closed += 1
        return []


def test_the_runner_prepares_starts_follows_pulls_and_closes_a_run_handed_over(tmp_path):
    target = _HandingOver(_spec(), RUN_ID, artifact_dir=None)
    target.remote = _remote(tmp_path)
    outcome = run_experiment(_spec(), tmp_path / "results", target=target)
    assert (outcome.status, outcome.verdict) == ("completed", ["fake run completed"])
    assert outcome.directory.parent == tmp_path / "results"
    assert (outcome.directory / "checks.jsonl").is_file()
    assert (target.prepared, target.closed) == (1, 1)


def test_a_detached_run_is_left_running_with_its_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CANARIES", "50")
    target = _HandingOver(_spec(), RUN_ID, artifact_dir=None)
    target.remote = _remote(tmp_path)
    outcome = run_experiment(_spec(), tmp_path / "results", target=target, detach=True)
    assert outcome.status == "detached" and target.closed == 0  # the instance stays
    assert f"invoke experiment.attach {RUN_ID}" in outcome.verdict[1]
    assert target.remote.exit_code() is None  # still running there
    assert target.remote.follow(lambda *_: None, poll_s=0.2) == 0


def test_attach_stop_and_pull_find_the_instance_of_a_run(tmp_path):
    state = tmp_path / "aws" / "run-abc"
    state.mkdir(parents=True)
    record_handover(state, RemoteRun(LocalHost(), RUN_ID, "/opt/cdclab", "cdclab"))
    found, record = find_handover(RUN_ID, tmp_path / "aws")
    assert found == state and record == {
        "run_id": RUN_ID,
        "home": "/opt/cdclab",
        "project": "cdclab",
    }
    with pytest.raises(InvalidInputError, match="no instance runs 'deadbeef'"):
        find_handover("deadbeef", tmp_path / "aws")


# -- following a run's journals -------------------------------------------------------------
OUTCOMES = st.sampled_from(["delivered", "late", "missing"])


@given(st.lists(st.tuples(st.sampled_from(["tls13", "tls12"]), st.integers(0, 9), OUTCOMES)))
def test_the_follower_counts_each_canary_by_its_last_outcome(records):
    followed = FollowedRun(every_s=1e9)
    for arm, seq, outcome in records:
        line = json.dumps({"arm": arm, "canary_id": f"c{seq}", "outcome": outcome})
        followed.line("checks.jsonl", line)
    followed.line("checks.jsonl", '{"arm": "tls13", "canary_')  # a line cut short: ignored
    last = {(arm, seq): outcome for arm, seq, outcome in records}
    for arm in ("tls13", "tls12"):
        mine = Counter(o for (a, _), o in last.items() if a == arm)
        if mine:
            assert (
                f"{arm}: {sum(mine.values())} canaries, {mine['delivered']} delivered, "
                f"{mine['late']} late, {mine['missing']} missing"
            ) in followed.summary()


def test_the_follower_names_open_silent_failures_until_they_close():
    followed = FollowedRun(every_s=1e9)
    followed.line("events.jsonl", json.dumps({"event": "silent_failure_open", "arm": "tls13"}))
    assert followed.summary().endswith("silent: tls13")
    followed.line("events.jsonl", json.dumps({"event": "silent_failure_close", "arm": "tls13"}))
    assert "silent" not in followed.summary()


# -- the wheelhouse and the host ------------------------------------------------------------
def test_the_instances_wheels_are_chosen_for_its_platform_not_this_machines():
    args = platform_args("x86_64")
    assert "--only-binary=:all:" in args and args[args.index("--python-version") + 1] == "3.11"
    assert {args[i + 1] for i, a in enumerate(args) if a == "--platform"} >= {
        "manylinux2014_x86_64",
        "manylinux_2_34_x86_64",
    }
    pins = dict(installed())
    assert "cdclab" not in pins and pins["pydantic"]  # this machine's versions, cdclab aside


def test_the_local_host_speaks_an_ssh_sessions_language(tmp_path):
    host = LocalHost()
    done = host.run(f"cat > {tmp_path}/f && cat {tmp_path}/f", stdin="through stdin")
    assert done.ok and done.stdout == "through stdin"
    assert host.run(["false"]).rc == 1
    assert host.run(["/nonexistent/program"]).rc == 127
    assert host.run("sleep 5", timeout=0.2).rc == 124
    with host.stream("printf 'abc'") as out:
        assert out.read() == b"abc"
