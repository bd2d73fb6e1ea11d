"""Experiment specs: every shipped one validates; bad values are named with the fix."""

from __future__ import annotations

import pytest

from cdclab.core.durations import format_duration, parse_duration
from cdclab.core.spec import available_specs, load_spec, parse_assignment
from cdclab.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5),
        ("90m", 5400),
        ("2h", 7200),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("30", 30),
        (12, 12),
        ("1d", 86400),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["fast", "5 parsecs", "1h30", "-5s", "", "s"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips():
    for seconds in (5, 90, 3600, 5400, 0.25):
        assert parse_duration(format_duration(seconds)) == seconds


def test_every_shipped_spec_validates():
    specs = available_specs()
    assert {"tls-compare", "soak"} <= set(specs)
    for name in specs:
        load_spec(name)


def test_tls_compare_is_the_field_report():
    spec = load_spec("tls-compare")
    arms = spec.resolved_arms()
    assert list(arms) == ["tls13", "tls12"]
    assert arms["tls12"].jvm_opts == "-Djdk.tls.client.protocols=TLSv1.2"
    assert arms["tls13"].jvm_opts == ""


def test_overrides_and_flags_win_over_the_file():
    spec = load_spec(
        "tls-compare", assignments=["canary.interval=1s", "detector.misses=3"], duration=120
    )
    assert spec.canary.interval == 1.0
    assert spec.detector.misses == 3
    assert spec.duration == 120
    assert spec.expected_canaries == 120


def test_connector_keys_keep_their_dots():
    assert parse_assignment("connector.use.nongraceful.disconnect=true") == (
        ["connector", "use.nongraceful.disconnect"],
        True,
    )
    assert parse_assignment("arms.tls12.connector.heartbeat.interval.ms=0") == (
        ["arms", "tls12", "connector", "heartbeat.interval.ms"],
        0,
    )
    spec = load_spec("tls-compare", assignments=["connector.use.nongraceful.disconnect=true"])
    assert all(
        a.connector["use.nongraceful.disconnect"] is True for a in spec.resolved_arms().values()
    )


@pytest.mark.parametrize(
    ("assignment", "named"),
    [
        ("canary.interval=fast", "canary.interval"),
        ("canary.interval=1ms", "canary.interval"),
        ("canary.deadline=500ms", "deadline"),
        ("detector.misses=0", "detector.misses"),
        ("target=gcp", "target"),
        ("canary.intervall=5s", "canary.intervall"),  # typo: unknown fields are refused
        ("dumps.triggers=[crash]", "dumps.triggers"),
        ("duration=5s", "duration"),
    ],
)
def test_bad_values_name_the_field(assignment, named):
    with pytest.raises(InvalidInputError) as caught:
        load_spec("tls-compare", assignments=[assignment])
    assert named in str(caught.value)


def test_bad_set_syntax_and_unknown_experiment():
    with pytest.raises(InvalidInputError, match="key=value"):
        load_spec("tls-compare", assignments=["canary.interval"])
    with pytest.raises(InvalidInputError, match="tls-compare"):
        load_spec("no-such-experiment")


def test_matrix_expands_to_the_cartesian_product(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("""
name: matrix-test
duration: 1m
connector: {heartbeat.interval.ms: 5000}
matrix:
  tls:
    tls13: {}
    tls12: {jvm_opts: -Djdk.tls.client.protocols=TLSv1.2}
  ng:
    off: {connector: {use.nongraceful.disconnect: false}}
    on: {connector: {use.nongraceful.disconnect: true}}
""")
    arms = load_spec(str(path)).resolved_arms()
    assert list(arms) == ["tls13_off", "tls13_on", "tls12_off", "tls12_on"]
    assert arms["tls12_on"].jvm_opts == "-Djdk.tls.client.protocols=TLSv1.2"
    assert arms["tls12_on"].connector == {
        "heartbeat.interval.ms": 5000,
        "use.nongraceful.disconnect": True,
    }
    assert arms["tls13_off"].description == "tls=tls13, ng=off"
    # Every expanded arm is a valid lab arm with its own worker ports.
    from cdclab.targets.local import lab_config_for

    lab = lab_config_for(load_spec(str(path)))
    assert [a.name for a in lab.arms] == list(arms)
    assert len({a.metrics_port for a in lab.arms} | {a.rest_port for a in lab.arms}) == 8


def test_security_properties_go_to_a_file_not_to_minus_d():
    with pytest.raises(InvalidInputError, match=r"security property.*security_properties"):
        load_spec(
            "tls-compare",
            assignments=["arms.tls13.jvm_opts=-Djdk.tls.keyLimits=AES/GCM/NoPadding KeyUpdate 2^8"],
        )
    spec = load_spec(
        "tls-compare",
        assignments=[
            "arms.tls13.security_properties={jdk.tls.keyLimits: AES/GCM/NoPadding KeyUpdate 2^8}"
        ],
    )
    assert spec.resolved_arms()["tls13"].security_properties == {
        "jdk.tls.keyLimits": "AES/GCM/NoPadding KeyUpdate 2^8"
    }


def test_write_load_is_bounded_to_what_one_machine_can_take():
    spec = load_spec("keyupdate")
    assert spec.load.bytes_per_second == 20 * 4096
    with pytest.raises(InvalidInputError, match=r"load.*MB/s"):
        load_spec("keyupdate", assignments=["load.row_bytes=1000000", "load.rows_per_second=100"])


def test_a_spec_without_arms_is_refused(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("name: empty\nduration: 1m\n")
    with pytest.raises(InvalidInputError, match="arms"):
        load_spec(str(path))


def test_yaml_on_off_yes_no_stay_strings():
    from cdclab import yaml12

    assert yaml12.load("{on: 1, off: no, yes: true, x: False}") == {
        "on": 1,
        "off": "no",
        "yes": True,
        "x": False,
    }


def test_only_namespaced_sysctls_may_be_tuned_for_a_run():
    spec = load_spec("keyupdate")
    assert spec.hosts["db"].sysctls == {"net.ipv4.tcp_rmem": "4096 131072 196608"}
    spec = load_spec(
        "keyupdate",
        assignments=[
            "hosts.db.sysctls.net.ipv4.tcp_rmem=4096 131072 131072",
            "arms.tls13.security_properties.jdk.tls.keyLimits=AES/GCM/NoPadding KeyUpdate 2^10",
        ],
    )
    assert spec.hosts["db"].sysctls == {"net.ipv4.tcp_rmem": "4096 131072 131072"}
    assert spec.arms["tls13"].security_properties["jdk.tls.keyLimits"].endswith("2^10")
    with pytest.raises(InvalidInputError, match=r"hosts\.db\.sysctls.*only net\.\*"):
        load_spec("tls-compare", assignments=["hosts={db: {sysctls: {vm.swappiness: '1'}}}"])
    with pytest.raises(InvalidInputError, match="plain sysctl value"):
        load_spec(
            "tls-compare", assignments=["hosts={db: {sysctls: {net.core.somaxconn: '1; reboot'}}}"]
        )
    with pytest.raises(InvalidInputError, match="hosts"):
        load_spec("tls-compare", assignments=["hosts={kafka: {sysctls: {}}}"])
