"""The lab's shape: addresses derive from one configurable subnet; bad values are named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdclab.errors import from_validation
from cdclab.lab.config import Arm, LabConfig, load_saved, save


def test_default_lab_matches_the_field_report_arms():
    config = LabConfig()
    assert [a.name for a in config.arms] == ["tls13", "tls12"]
    assert config.arm("tls12").jvm_opts == "-Djdk.tls.client.protocols=TLSv1.2"
    assert config.arm("tls13").jvm_opts == ""


def test_addresses_follow_the_subnet():
    config = LabConfig(subnet="10.99.0.0/24")
    assert config.bridge_address == "10.99.0.1"
    assert config.db.address == "10.99.0.10"
    assert config.connect.address == "10.99.0.20"
    assert config.kafka_bootstrap == "10.99.0.20:9092"
    assert config.rest_url(config.arm("tls12")) == "http://10.99.0.20:8084"
    assert config.topic(config.arm("tls13")) == "lab_tls13.cdclab.canary"


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        ("300.0.0.0/24", "not an IPv4 network"),
        ("198.18.0.0/30", "too small"),
        ("127.0.0.0/24", "loopback"),
        ("10.0.0.1/24", "not an IPv4 network"),
    ],
)
def test_bad_subnets_are_named(subnet, expected):
    with pytest.raises(ValidationError) as caught:
        LabConfig(subnet=subnet)
    message = str(from_validation(caught.value, "lab settings"))
    assert "subnet" in message
    assert expected in message
    assert subnet in message


def test_arms_must_not_share_ports_or_server_ids():
    arms = [Arm(name="a", rest_port=8083, server_id=1), Arm(name="b", rest_port=8083, server_id=2)]
    with pytest.raises(ValidationError, match="rest_port"):
        LabConfig(arms=arms)


def test_arm_names_are_checked():
    with pytest.raises(ValidationError, match="name"):
        Arm(name="TLS 1.3", rest_port=8083, server_id=1)


def test_unknown_arm_lists_the_known_ones():
    with pytest.raises(KeyError, match="tls13, tls12"):
        LabConfig().arm("nope")


def test_saved_config_round_trips(tmp_path):
    config = LabConfig(subnet="10.98.0.0/24")
    save(config, tmp_path)
    assert load_saved(tmp_path) == config
    assert load_saved(tmp_path / "absent") is None


def test_workers_of_arms_gone_or_moved_are_retired_before_a_new_shape_starts():
    from cdclab.core.spec import load_spec
    from cdclab.lab.up import arms_to_retire
    from cdclab.targets.local import lab_config_for

    running = LabConfig()  # tls13 on 8083, tls12 on 8084
    # tls13 stays on 8083; tls13_ka10 takes 8084 from tls12, which moves to 8085.
    keyupdate = lab_config_for(load_spec("keyupdate"))
    assert arms_to_retire(running, keyupdate) == ["tls12"]
    gone = lab_config_for(load_spec("nongraceful"))  # graceful, nongraceful
    assert arms_to_retire(running, gone) == ["tls13", "tls12"]
    assert arms_to_retire(running, LabConfig()) == []
    assert arms_to_retire(None, keyupdate) == []
