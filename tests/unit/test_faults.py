"""Fault specs, campaigns and the shell each fault runs: tagged, idempotent, dead-man timed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdclab.core.faults import CampaignSpec, FaultSpec
from cdclab.core.spec import load_spec
from cdclab.faults.actions import (
    Endpoint,
    FaultAction,
    cancel_deadman_command,
    heal_iptables_by_tag,
    sweep_script,
)
from cdclab.faults.plan import WorkerContainers, plan_faults
from cdclab.lab.config import LabConfig

CONNECT = Endpoint("connect", "198.18.213.20")
DB = Endpoint("db", "198.18.213.10")


def _action(**spec) -> FaultAction:
    fault = FaultSpec.model_validate({"at": "10s", "for": "45s", **spec})
    peer = None if fault.process else DB
    return FaultAction(
        "f01",
        "abcd1234",
        fault,
        CONNECT,
        peer,
        10.0,
        45.0,
        pidfiles=["/s/connect/tls13/run/connect.pid"] if fault.process else [],
    )


def test_drop_is_both_directions_by_default_and_tagged():
    script = _action(kind="drop").apply_script()
    assert (
        "iptables -w -I OUTPUT -d 198.18.213.10 -m comment --comment cdclab:abcd1234:f01 "
        "-j DROP" in script
    )
    assert (
        "iptables -w -I INPUT -s 198.18.213.10 -m comment --comment cdclab:abcd1234:f01 "
        "-j DROP" in script
    )


def test_egress_only_and_reject_with_tcp_reset():
    script = _action(kind="reject", direction="egress").apply_script()
    assert "OUTPUT" in script and "INPUT" not in script
    assert "-p tcp" in script and "REJECT --reject-with tcp-reset" in script


def test_heal_removes_by_tag_not_by_position():
    heal = _action(kind="drop").heal_script()
    assert heal == heal_iptables_by_tag("cdclab:abcd1234:f01")
    for table in ("filter", "mangle"):  # mangle: where a run's own clock is spared
        assert f"iptables -w -t {table} -S | grep -F -- cdclab:abcd1234:f01" in heal
    assert heal.endswith("true")  # idempotent: nothing to remove is success


def test_a_clock_on_the_faulted_host_is_spared_and_the_connectors_are_not():
    from dataclasses import replace

    plain = _action(kind="drop")
    spared = replace(plain, spare_uid=0).apply_script().splitlines()
    assert spared[: len(plain.apply_script().splitlines())] == plain.apply_script().splitlines()
    mark, accept_out, accept_in = spared[-3:]
    assert "-t mangle -I OUTPUT -d 198.18.213.10 -m owner --uid-owner 0" in mark
    assert mark.endswith("-j CONNMARK --set-mark 0xcdc1")
    # Inserted after the DROPs, so above them: the clock's marked connections pass.
    assert "-I OUTPUT -d 198.18.213.10 -m connmark --mark 0xcdc1" in accept_out
    assert "-I INPUT -s 198.18.213.10 -m connmark --mark 0xcdc1" in accept_in
    assert all("cdclab:abcd1234:f01" in rule for rule in (mark, accept_out, accept_in))


def test_netem_only_toward_the_peer():
    script = _action(kind="delay", delay="200ms").apply_script()
    assert "netem delay 200ms" in script
    assert "match ip dst 198.18.213.10/32 flowid 1:3" in script
    assert "priomap 0 0 0 0" in script  # everything else stays in band 1
    assert "loss 30%" in _action(kind="loss", loss=30).apply_script()


def test_kill_restarts_with_the_start_script_and_pause_resumes():
    kill = _action(kind="kill", process="worker:tls13")
    assert 'kill -KILL "$pid"' in kill.apply_script()
    assert "sh /s/connect/tls13/run/connect.pid.start" in kill.heal_script()
    pause = _action(kind="pause", process="worker:tls13")
    assert 'kill -STOP "$pid"' in pause.apply_script()
    assert 'kill -CONT "$pid"' in pause.heal_script()


def test_deadman_fires_at_for_plus_grace_detached():
    command = _action(kind="drop").deadman_command("/s/f01.heal.sh", grace=15)
    assert "sleep 60 && sh /s/f01.heal.sh dead-man" in command
    assert "nohup setsid sh -c" in command and "cdclab-deadman-f01" in command
    # the timer writes its own pid, and the arming shell prints it
    assert "echo $$ > /s/f01.deadman.pid" in command
    assert command.endswith("cat /s/f01.deadman.pid 2>/dev/null || echo $!")


def test_sweep_removes_every_cdclab_rule_netem_and_timers():
    script = sweep_script("/s")
    assert "grep -F -- cdclab:" in script
    assert "tc qdisc del dev eth0 root" in script
    # Timers are found by their pid files, never by matching command lines (the sweeping
    # shell's own command line holds the same words): see test_sweep_shell.py.
    assert "pkill" not in script and "/s/*.deadman.pid" in script


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "drop", "for": "0s"}, "for"),
        ({"kind": "drop", "peer": "connect"}, "peer"),
        ({"kind": "kill"}, "process"),
        ({"kind": "delay"}, "delay"),
        ({"kind": "loss"}, "loss"),
        ({"kind": "drop", "repeat": 3}, "every"),
        ({"kind": "drop", "repeat": 3, "every": "30s"}, "every"),  # shorter than the fault
        ({"kind": "flood"}, "kind"),
    ],
)
def test_bad_faults_name_the_field(spec, field):
    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate({"at": "10s", "for": "45s", **spec})
    assert field in str(caught.value)


def test_campaign_expands_with_recovery_gaps():
    campaign = CampaignSpec(durations=["30s", "60s", "5m"], start="1m", gap="2m")
    assert [(f.at, f.for_) for f in campaign.expand()] == [(60, 30), (210, 60), (390, 300)]


def test_repeats_and_plan_ids():
    spec = load_spec(
        "tls-compare",
        duration=600,
        assignments=[
            "faults=[{kind: drop, at: 1m, for: 20s, every: 2m, repeat: 3}, "
            "{kind: pause, at: 8m, for: 10s, process: 'worker:tls12'}]"
        ],
    )
    actions = plan_faults(spec, LabConfig().addresses, "r1")
    assert [(a.fault_id, a.scheduled_at, a.duration) for a in actions] == [
        ("f01", 60, 20),
        ("f02", 180, 20),
        ("f03", 300, 20),
        ("f04", 480, 10),
    ]
    assert actions[3].host.name == "connect" and actions[3].peer is None
    assert actions[3].pidfiles[0].endswith("connect/tls12/run/connect.pid")


def test_faults_must_end_within_the_run_and_name_real_arms():
    with pytest.raises(Exception, match=r"faults\[0\]"):
        load_spec(
            "tls-compare", duration=60, assignments=["faults=[{kind: drop, at: 50s, for: 30s}]"]
        )
    with pytest.raises(Exception, match="no arm 'nope'"):
        load_spec(
            "tls-compare",
            assignments=["faults=[{kind: kill, at: 1m, for: 5s, process: 'worker:nope'}]"],
        )


def test_shipped_fault_experiments_validate():
    campaign = load_spec("fault-campaign")
    assert [(f.for_) for f in campaign.all_faults()] == [30, 60, 300]
    assert all(f.direction == "both" for f in campaign.all_faults())
    nongraceful = load_spec("nongraceful").resolved_arms()
    assert nongraceful["nongraceful"].connector["use.nongraceful.disconnect"] is True


def test_on_a_whole_host_the_deadman_is_a_transient_systemd_timer_where_systemd_runs():
    action = _action(kind="drop")
    action.deadman = "systemd"
    command = action.deadman_command("/opt/cdclab/faults/f01.heal.sh", grace=15)
    assert command.startswith("if [ -d /run/systemd/system ]; then systemd-run ")
    assert "--unit=cdclab-deadman-abcd1234-f01 --on-active=60s" in command
    assert "/bin/sh /opt/cdclab/faults/f01.heal.sh dead-man && echo unit:" in command
    # without systemd (a lab namespace standing in for the instance) the detached timer
    assert "else rm -f /opt/cdclab/faults/f01.deadman.pid; nohup setsid sh -c" in command
    assert "sleep 60 && sh /opt/cdclab/faults/f01.heal.sh dead-man" in command


def test_a_deadman_is_disarmed_by_what_arming_it_printed():
    assert cancel_deadman_command("unit:cdclab-deadman-r-f01") == (
        "systemctl stop cdclab-deadman-r-f01.timer 2>/dev/null; true"
    )
    assert cancel_deadman_command("4242") == "kill 4242 2>/dev/null; true"
    assert "systemctl stop 'cdclab-deadman-*.timer'" in sweep_script("/s")


def test_kill_and_pause_of_container_workers_use_the_engine_and_its_heals():
    spec = load_spec(
        "tls-compare",
        assignments=[
            "faults=[{kind: kill, at: 10s, for: 5s, process: 'worker:tls12'},"
            " {kind: pause, at: 30s, for: 5s, process: workers}]"
        ],
    )
    workers = WorkerContainers("/lab/docker/docker", {"tls13": "c-tls13", "tls12": "c-tls12"})
    kill, pause = plan_faults(spec, LabConfig().addresses, "r1", workers=workers)
    assert (kill.pidfiles, kill.containers, kill.host.name) == ([], ["c-tls12"], "connect")
    assert kill.apply_script() == "/lab/docker/docker kill --signal KILL c-tls12"
    assert kill.heal_script() == "/lab/docker/docker start c-tls12 >/dev/null"
    assert pause.containers == ["c-tls13", "c-tls12"]
    assert "/lab/docker/docker pause c-tls13" in pause.apply_script()
    assert "/lab/docker/docker unpause c-tls12 2>/dev/null || true" in pause.heal_script()
    # The broker is still the lab's process, by its pid file.
    broker = load_spec(
        "tls-compare",
        assignments=["faults=[{kind: pause, at: 10s, for: 5s, process: broker}]"],
    )
    (action,) = plan_faults(broker, LabConfig().addresses, "r1", workers=workers)
    assert action.containers == [] and action.pidfiles[0].endswith("kafka.pid")


def test_the_sweep_resumes_and_starts_the_workers_containers():
    script = sweep_script("/heal", [], ["c-tls12"], "/lab/docker/docker")
    assert "paused) echo 'paused container: c-tls12'" in script
    assert "/lab/docker/docker unpause c-tls12" in script
    assert "exited|created) echo 'stopped container: c-tls12'" in script
    assert script.rstrip().endswith("exit 0")
