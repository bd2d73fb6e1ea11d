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
