"""under-replicated: the lab's second broker, started for a run that names it, and the fault
that takes it out of the ISR. The broker itself is exercised on the lab
(tests/integration/test_faults.py); here, how a spec shapes the lab and the fault."""

from __future__ import annotations

import subprocess

import pytest

from cdclab.core.spec import load_spec
from cdclab.errors import InvalidInputError
from cdclab.faults.plan import all_pidfiles, plan_faults
from cdclab.lab import teardown
from cdclab.lab.config import LabConfig
from cdclab.lab.extravars import lab_extravars
from cdclab.targets.local import lab_config_for
from tests.unit.test_pidfiles import _write


def test_a_run_that_pauses_the_second_broker_gets_one_and_others_do_not(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    assert lab_config_for(load_spec("under-replicated")).brokers == 2
    assert lab_config_for(load_spec("tls-compare")).brokers == 1
    assert LabConfig().brokers == 1  # a plain lab.up: one broker
    assert lab_extravars(LabConfig(brokers=2))["cdclab_lab"]["brokers"] == 2


def test_the_fault_stops_the_second_brokers_process_on_the_connect_host(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    spec = load_spec("under-replicated")
    (action,) = plan_faults(spec, LabConfig().addresses, "0000ur00")
    assert action.host.name == "connect" and action.peer is None
    assert action.pidfiles == [str(tmp_path / "kafka2" / "run" / "kafka.pid")]
    assert 'kill -STOP "$pid"' in action.apply_script()
    assert 'kill -CONT "$pid"' in action.heal_script()
    # A sweep after a crash resumes it too.
    assert action.pidfiles[0] in all_pidfiles(list(spec.resolved_arms()))


def test_the_experiment_compares_the_default_with_a_bounded_delivery_timeout():
    spec = load_spec("under-replicated")
    arms = spec.resolved_arms()
    for arm in arms.values():  # topics with two replicas, both required in sync
        assert arm.connector["topic.creation.default.replication.factor"] == 2
        assert arm.connector["topic.creation.default.min.insync.replicas"] == 2
    assert arms["bounded"].connector["producer.override.delivery.timeout.ms"] == 30000
    assert "producer.override.delivery.timeout.ms" not in arms["default"].connector


def test_other_targets_do_not_start_the_second_broker_and_refuse_it():
    with pytest.raises(InvalidInputError, match=r"faults\[0\]\.process: broker2 .*local lab"):
        load_spec("under-replicated", assignments=["target=docker"])


def test_lab_down_stops_the_second_broker_with_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_STATE_DIR", str(tmp_path))
    brokers = [subprocess.Popen(["sleep", "300"]) for _ in range(2)]
    paths = [
        _write(tmp_path / name / "run" / "kafka.pid", broker.pid)
        for name, broker in zip(("kafka", "kafka2"), brokers, strict=True)
    ]
    report = teardown.TeardownReport()
    teardown._stop_services_in_order(report, grace_seconds=5)
    assert all(b.wait(timeout=10) is not None for b in brokers)
    assert not any(p.exists() for p in paths)
    assert report.removed == ["2 service(s): kafka2, kafka"]


def test_the_watcher_makes_each_canary_topic_as_the_connector_would():
    arms = load_spec("under-replicated").resolved_arms()
    assert arms["default"].topic_creation() == (2, {"min.insync.replicas": "2"})
    plain = load_spec("tls-compare").resolved_arms()["tls13"]
    assert plain.topic_creation() == (-1, {})
