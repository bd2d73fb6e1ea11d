"""The lab's proof of health: what it digests, what it compares (no lab needed here; the
real lab's cases are in tests/integration/test_lab.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.lab import proof
from cdclab.lab.config import LabConfig

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
extravars = st.dictionaries(st.text(min_size=1, max_size=8), values, min_size=1, max_size=5)


@given(extravars)
def test_the_digest_ignores_key_order_and_sees_every_value(given_vars):
    reordered = dict(reversed(list(given_vars.items())))
    assert proof.inputs_digest(given_vars) == proof.inputs_digest(reordered)
    key = next(iter(given_vars))
    changed = {**given_vars, key: [given_vars[key], "changed"]}
    assert proof.inputs_digest(changed) != proof.inputs_digest(given_vars)


def test_the_digest_covers_the_playbooks_and_roles(tmp_path, monkeypatch):
    role = tmp_path / "roles" / "r" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("- name: one\n")
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    monkeypatch.setattr(proof, "PROJECT_ROOT", tmp_path)
    before = proof.inputs_digest({"a": 1})
    (role / "main.yml").write_text("- name: two\n")
    assert proof.inputs_digest({"a": 1}) != before
    (role / "main.yml").write_text("- name: one\n")
    assert proof.inputs_digest({"a": 1}) == before
    (tmp_path / "ansible.cfg").write_text("[defaults]\nforks = 1\n")
    assert proof.inputs_digest({"a": 1}) != before


def test_recorded_files_and_pidfiles_are_what_lab_up_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    for name, text in {
        "kafka/server.properties": "x",
        "kafka/run/kafka.pid": "1",
        "kafka/run/kafka.pid.start": "#!/bin/sh",
        "kafka/log/server.log": "grows by itself",
        "connect/a/worker.properties": "y",
        "connect/a/run/connect.pid.start": "#!/bin/sh",
        "run/sshd-db.pid": "2",
        "run/sshd-db.conf": "Port 22",
        "run/faults/heal-x.sh": "a fault's, not lab.up's",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert set(proof.written_files()) == {
        "kafka/server.properties",
        "kafka/run/kafka.pid.start",
        "connect/a/worker.properties",
        "connect/a/run/connect.pid.start",
        "run/sshd-db.conf",
    }
    assert proof.lab_pidfiles() == [
        "connect/a/run/connect.pid",
        "kafka/run/kafka.pid",
        "run/sshd-db.pid",
    ]
    proof.record({"a": 1})
    recorded = json.loads(proof.record_path().read_text())
    assert recorded["files"] == proof.written_files()
    proof.forget()
    assert not proof.record_path().exists()


def test_without_a_record_nothing_is_proven(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    result = proof.prove(LabConfig(), {"cdclab_connectors": []})
    assert (result.healthy, result.reason) == (False, "no record of a successful lab.up")


# A connector's state and whether its registered config is lab.up's.
connector_states = st.lists(
    st.tuples(st.sampled_from(["RUNNING", "PAUSED", "FAILED", "UNASSIGNED"]), st.booleans()),
    min_size=1,
    max_size=4,
)


@given(connector_states)
def test_only_connectors_that_are_merely_paused_are_left_to_a_resume(states):
    """The rule lab.up's repair rests on: `paused` names the PAUSED connectors only when no
    connector has anything else wrong (another state, or a config that is not lab.up's).
    REST is faked here: the real repair, after a killed run, is in test_faults."""
    from cdclab import connect_rest

    entries = [
        {"name": f"c{i}", "rest_url": f"http://w/{i}", "config": {"a": "1"}}
        for i, _ in enumerate(states)
    ]

    class Rest:
        def __init__(self, url):
            self.state, self.ours = states[int(url.rsplit("/", 1)[1])]

        def connector_state(self, name):
            return connect_rest.ConnectorState(self.state, self.state)

        def request(self, method, path):
            return 200, {"a": "1" if self.ours else "2"}

    paused: list[str] = []
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(connect_rest, "ConnectRest", Rest)
        problem = proof._connector_problem(entries, paused)
    healthy = all(s == "RUNNING" and ours for s, ours in states)
    repairable = all(s in ("RUNNING", "PAUSED") and ours for s, ours in states) and not healthy
    assert (problem is None) == healthy
    named = [e["name"] for e, (s, _) in zip(entries, states, strict=True) if s == "PAUSED"]
    assert paused == (named if repairable else [])


def test_a_retired_worker_leaves_no_start_script_for_the_proof_to_expect(tmp_path, monkeypatch):
    """After a lab shape without an arm, the proof must not look for that arm's worker:
    it did, so every later lab.up ran all the playbooks ("process not running")."""
    from cdclab.lab.proof import lab_pidfiles
    from cdclab.lab.teardown import stop_workers

    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    for arm in ("gone", "kept"):
        run = tmp_path / "connect" / arm / "run"
        run.mkdir(parents=True)
        (run / "connect.pid.start").write_text("#!/bin/sh\n")
    (tmp_path / "connect" / "gone" / "run" / "connect.pid").write_text("999999999\n")
    assert stop_workers(["gone"], grace_seconds=0.1) == []  # no such process: nothing to stop
    assert lab_pidfiles() == ["connect/kept/run/connect.pid"]
    assert not list((tmp_path / "connect" / "gone" / "run").iterdir())


def _arms(*names: str, debezium: str | None = None) -> list:
    from cdclab.lab.config import Arm

    return [
        Arm(name=n, rest_port=8083 + i, server_id=5401 + i, debezium=debezium)
        for i, n in enumerate(names)
    ]


@pytest.mark.parametrize(
    ("update", "arms_only"),
    [
        ({"arms": _arms("keepalive", "no_keepalive")}, True),
        ({"arms": _arms("a", "b", "c", debezium="3.5.0.Final")}, True),
        ({"brokers": 2}, True),  # the second broker is the workers' plays' too
        ({"canary_table": "other"}, False),
        ({"db_port": 3307}, False),
        ({"subnet": "10.99.0.0/24"}, False),
    ],
)
def test_the_base_digest_leaves_out_only_what_the_workers_plays_read(
    tmp_path, monkeypatch, update, arms_only
):
    from cdclab.lab.extravars import lab_extravars

    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    before, after = lab_extravars(LabConfig()), lab_extravars(LabConfig(**update))
    assert proof.inputs_digest(before) != proof.inputs_digest(after)
    same_base = proof.inputs_digest(proof.base_extravars(before)) == proof.inputs_digest(
        proof.base_extravars(after)
    )
    assert same_base == arms_only


def test_only_the_arms_changed_while_the_rest_of_the_lab_is_as_it_was(tmp_path, monkeypatch):
    """The database's and the broker's files and processes are as the last lab.up left them;
    the workers' may differ (a retired arm's worker is stopped, a new arm's not yet run)."""
    import subprocess

    from cdclab.lab.extravars import lab_extravars

    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    broker = subprocess.Popen(["sleep", "60"])
    try:
        for name, text in {
            "kafka/server.properties": "x",
            "kafka/run/kafka.pid.start": "#!/bin/sh",
            "kafka/run/kafka.pid": str(broker.pid),
            "connect/a/worker.properties": "y",
            "connect/a/run/connect.pid.start": "#!/bin/sh",
            "connect/a/run/connect.pid": "999999999",  # a worker that is gone
        }.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        proof.record(lab_extravars(LabConfig()))
        recorded = proof._load()
        reshaped = lab_extravars(LabConfig(arms=_arms("keepalive", "no_keepalive")))
        assert proof._arms_only(recorded, reshaped)
        (tmp_path / "connect/a/worker.properties").write_text("another arm's")
        assert proof._arms_only(recorded, reshaped)
        (tmp_path / "kafka/server.properties").write_text("edited")
        assert not proof._arms_only(recorded, reshaped)
        (tmp_path / "kafka/server.properties").write_text("x")
        assert proof._arms_only(recorded, reshaped)
        other = lab_extravars(LabConfig(arms=_arms("k"), canary_table="other"))
        assert not proof._arms_only(recorded, other)
    finally:
        broker.kill()
        broker.wait()
    assert not proof._arms_only(recorded, reshaped)  # the broker is gone
