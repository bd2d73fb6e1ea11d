"""Canary ids are read from Debezium's JSON change events (schemas on or off)."""

import json

from cdclab.canary import canary_id_of, new_canary_id


def test_plain_envelope():
    event = {"before": None, "after": {"id": "r1-000001-abc"}, "op": "c"}
    assert canary_id_of(json.dumps(event).encode()) == "r1-000001-abc"


def test_envelope_with_schema():
    event = {"schema": {}, "payload": {"after": {"id": "x"}, "op": "c"}}
    assert canary_id_of(json.dumps(event).encode()) == "x"


def test_tombstones_deletes_and_garbage_have_no_id():
    assert canary_id_of(None) is None
    assert canary_id_of(b"") is None
    assert canary_id_of(json.dumps({"before": {"id": "x"}, "after": None}).encode()) is None
    assert canary_id_of(b"not json") is None


def test_ids_are_unique_and_ordered_by_seq():
    a, b = new_canary_id("run", 1), new_canary_id("run", 1)
    assert a != b
    assert new_canary_id("run", 2) > new_canary_id("run", 1)[:-6]


def test_leader_election_errors_are_retried_and_auth_errors_are_not():
    from confluent_kafka import KafkaError

    from cdclab.canary import _is_transient

    assert _is_transient(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
    assert _is_transient(KafkaError(KafkaError.LEADER_NOT_AVAILABLE))
    assert not _is_transient(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
