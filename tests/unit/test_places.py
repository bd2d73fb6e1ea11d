"""The place a task acts on is chosen once, from its options; a cluster cdclab did not
create is reached through REST only, and says so for everything else."""

from __future__ import annotations

import contextlib

import pytest

from cdclab.errors import InvalidInputError
from cdclab.targets.places import AwsRunPlace, ClusterPlace, LabPlace, place_for


def test_the_options_choose_the_place(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_AWS_STATE_DIR", str(tmp_path))
    assert isinstance(place_for(), LabPlace)
    assert isinstance(place_for(run_id="abcd1234"), AwsRunPlace)
    assert isinstance(place_for(connect_url="http://127.0.0.1:9"), ClusterPlace)
    assert isinstance(place_for("local", run_id="abcd1234"), LabPlace)  # --target wins
    with pytest.raises(InvalidInputError, match="--run-id"):
        place_for("aws")
    with pytest.raises(InvalidInputError, match="--target 'gcp'"):
        place_for("gcp")


@pytest.mark.parametrize(
    "step",
    [
        lambda p: p.worker_log("tls13", 60),
        lambda p: p.thread_dump("tls13"),
        lambda p: p.sweep_faults(),
    ],
)
def test_a_cluster_given_by_url_is_reached_through_rest_only(step):
    with pytest.raises(InvalidInputError, match="through REST only"):
        step(place_for(connect_url="http://127.0.0.1:9"))


def test_watching_a_cluster_names_every_missing_option():
    place = place_for(connect_url="http://127.0.0.1:9")
    options = {"connect_url": "http://127.0.0.1:9", "connector": "orders"}
    with (
        pytest.raises(InvalidInputError, match="--topic, --kafka-bootstrap"),
        contextlib.ExitStack() as stack,
    ):
        place.watched(options, stack)


def test_an_aws_run_without_deployed_arms_says_how_to_find_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_AWS_STATE_DIR", str(tmp_path))
    with (
        pytest.raises(InvalidInputError, match=r"aws\.ls"),
        place_for(run_id="abcd1234").endpoint("tls13", None),
    ):
        pass


def test_an_aws_runs_kafka_is_recorded_by_reference_and_resolved_when_watched(
    tmp_path, monkeypatch
):
    from cdclab.aws.provision import run_state_dir
    from cdclab.targets.places import _kafka_client, write_place_file

    monkeypatch.setenv("CDCLAB_AWS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RUN_KAFKA_PW", "kafka-s3cret")
    state = run_state_dir("abcd1234")
    state.mkdir(parents=True, exist_ok=True)
    recorded = {
        "bootstrap": "b-1.msk.example:9096",
        "protocol": "SASL_SSL",
        "mechanism": "SCRAM-SHA-512",
        "user": "cdclab",
        "ca_file": None,
        "region": None,
        "password_from": "env:RUN_KAFKA_PW",
    }
    path = write_place_file(state, "docker", "/run/heal", kafka=recorded)
    assert "kafka-s3cret" not in path.read_text()
    kafka = dict(AwsRunPlace("abcd1234")._recorded["kafka"])
    assert kafka.pop("bootstrap") == "b-1.msk.example:9096"
    client = _kafka_client(kafka)
    assert (client["security.protocol"], client["sasl.password"]) == ("SASL_SSL", "kafka-s3cret")
    assert _kafka_client({}) is None  # a run deployed before Kafka's security was recorded
