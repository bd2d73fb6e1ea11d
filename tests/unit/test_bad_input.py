"""Bad input, as a user types it: exit 2, the field named with its fix, nothing created,
no secret echoed. Runs everywhere in seconds: every error here is found before a lab."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout

import pytest
from invoke import Program

from tests.conftest import run_invoke


@pytest.fixture
def env(tmp_path):
    return {
        "CDCLAB_RESULTS_DIR": str(tmp_path / "results"),
        "CDCLAB_STATE_DIR": str(tmp_path / "state"),
    }


def _nothing_created(env):
    for key in ("CDCLAB_RESULTS_DIR", "CDCLAB_STATE_DIR"):
        path = env[key]
        assert not os.path.exists(path), f"{path} was created"


def test_external_sources_on_the_local_lab_are_refused_not_ignored(env):
    ran = run_invoke(
        "experiment", "tls-compare", "--set", "external.db_host=mydb.example", "--dry-run", env=env
    )
    assert ran.rc == 2
    said = " ".join(ran.stderr.split())
    assert "external: the local target runs the lab's own MariaDB and Kafka" in said
    assert "--target docker" in said and "--target aws" in said
    _nothing_created(env)


WHOLE_SOURCE = [
    "external.db_host=mydb.example",
    "external.db_password_from=env:CDCLAB_DB_PW",
    "external.db_ca_file=ca.pem",
    "external.kafka_bootstrap=b-1.example:9092",
]


@pytest.mark.parametrize(
    ("assignments", "said"),
    [
        (
            WHOLE_SOURCE[:1],
            "target docker runs against your database and Kafka: set "
            "external.db_password_from, external.db_ca_file, external.kafka_bootstrap",
        ),
        ([*WHOLE_SOURCE, "external.aurora_cluster=prod"], "external.aurora_cluster is looked up"),
        ([*WHOLE_SOURCE, "hosts={db: {sysctls: {net.ipv4.tcp_keepalive_time: 60}}}"], "hosts.db"),
        (
            [*WHOLE_SOURCE, "faults=[{kind: drop, host: db, peer: connect, at: 1s, for: 5s}]"],
            "faults[0]: a drop fault on db",
        ),
        (
            [*WHOLE_SOURCE, "faults=[{kind: kill, at: 1s, for: 5s, process: broker}]"],
            "faults[0]: a kill fault on broker",
        ),
    ],
)
def test_the_docker_target_with_your_source_names_what_is_missing_or_not_yours(
    env, assignments, said
):
    args = [a for assignment in assignments for a in ("--set", assignment)]
    ran = run_invoke("experiment", "tls-compare", "--target", "docker", *args, "--dry-run", env=env)
    assert ran.rc == 2, ran.stdout
    assert said in " ".join(ran.stderr.split())
    _nothing_created(env)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--set", "faults=[{kind: kill, at: 10s, for: 5s, process: brokr}]"], "faults.0.process"),
        (["--set", "faults=[{kind: pause, at: 10s, for: 5s, process: 'worker:nope'}]"], "nope"),
        (["--set", "faults=[{kind: drop, at: 10s, for: 5s, process: db}]"], "process"),
        (["--set", "canary.deadline=1:00"], "canary.deadline"),
        (["--set", "canary.interval=fast"], "canary.interval"),
        (["--minutes", "5 parsecs"], "--minutes"),
        (["--minutes", "3", "--hours", "1"], "--hours or --minutes"),
        (["--target", "docker", "--set", "docker.image=Not An Image"], "docker.image"),
        (["--target", "podman"], "target"),
    ],
)
def test_spec_and_flag_errors_name_the_field_and_create_nothing(env, args, field):
    ran = run_invoke("experiment", "tls-compare", *args, env=env)
    assert ran.rc == 2, ran.stdout + ran.stderr
    assert field in ran.stderr
    assert "Traceback" not in ran.stderr
    _nothing_created(env)


def test_a_flag_without_its_value_is_refused(env):
    ran = run_invoke("experiment", "tls-compare", "--minutes", env=env)
    assert ran.rc != 0 and "minutes" in ran.stderr
    _nothing_created(env)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--minutes", "5m"], "300 canaries per arm"),
        (["--minutes", "90s"], "90 canaries per arm"),
        (["--hours", "0.5"], "1800 canaries per arm"),
        (["--minutes", "2", "--set", "detector.misses=010"], "misses: 10"),
        (["--minutes", "2", "--set", "canary={interval: 1s, deadline: 2500ms}"], "deadline: 2.5s"),
    ],
)
def test_durations_on_the_command_line_read_like_durations_in_specs(env, args, shown):
    ran = run_invoke("experiment", "tls-compare", *args, "--dry-run", env=env)
    assert ran.rc == 0, ran.stderr
    assert shown in ran.stdout
    _nothing_created(env)


def test_a_password_typed_where_a_reference_belongs_is_never_echoed(env):
    ran = run_invoke(
        "experiment", "tls-compare", "--set", "external.db_password_from=hunter2", env=env
    )
    assert ran.rc == 2
    assert "external.db_password_from" in ran.stderr
    assert "hunter2" not in ran.stdout + ran.stderr
    _nothing_created(env)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--minutes", "x"], "--minutes"),
        (["--restart-after", "-3"], "--restart-after"),
        (["--misses", "two"], "--misses"),
    ],
)
def test_watch_values_are_checked(env, args, field):
    ran = run_invoke("watch", "--connect-url", "http://127.0.0.1:9", *args, env=env)
    assert ran.rc == 2, ran.stdout + ran.stderr
    assert field in ran.stderr and "Traceback" not in ran.stderr


def test_report_on_an_empty_or_damaged_journal_is_an_error(tmp_path):
    (tmp_path / "checks.jsonl").write_text("")
    ran = run_invoke("report", str(tmp_path))
    assert ran.rc == 2 and "holds no canary check" in ran.stderr
    good = (
        '{"canary_id": "c0", "arm": "a", "written_at": "2026-11-26T10:00:00.000Z", '
        '"seen_at": null, "outcome": "missing"}\n'
    )
    (tmp_path / "checks.jsonl").write_text(good + "{{garbage\n" + good)
    ran = run_invoke("report", str(tmp_path))
    assert ran.rc == 2 and "line 2" in ran.stderr


def _task_names():
    from tasks import ns

    return ns.task_names


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_works_on_every_task(flag):
    from tasks import ns

    for name in _task_names():
        buffer = io.StringIO()
        with redirect_stdout(buffer), pytest.raises(SystemExit) as exited:
            Program(namespace=ns, binary="invoke").run(["invoke", name, flag])
        assert exited.value.code in (0, None), name
        assert f"invoke [--core-opts] {name}" in buffer.getvalue(), name


def test_help_after_the_positional_argument_too():
    ran = run_invoke("experiment", "tls-compare", "-h")
    assert ran.rc == 0 and "--minutes" in ran.stdout and "Traceback" not in ran.stderr
