"""Runbook helpers without a lab: masking a connector's config, cutting a log by time."""

from __future__ import annotations

from datetime import UTC, datetime

from cdclab.runbook.ops import mask_config
from cdclab.targets.places import since_filter


def test_literal_secrets_are_masked_and_provider_references_kept():
    masked = mask_config(
        {
            "database.password": "hunter2",
            "database.user": "cdc",
            "schema.history.internal.producer.sasl.jaas.config": "… password=x;",
            "database.ssl.truststore.password": "${file:/cdclab/secrets.properties:ts}",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        }
    )
    assert masked["database.password"] == "********"
    assert masked["schema.history.internal.producer.sasl.jaas.config"] == "********"
    assert masked["database.ssl.truststore.password"].startswith("${file:")
    assert masked["database.user"] == "cdc"
    assert masked["key.converter"].endswith("JsonConverter")


def test_a_log_is_cut_at_since_with_its_stack_traces():
    lines = [
        "[2026-11-26 00:59:59,999] INFO old (x)",
        "\tat old.Frame",
        "[2026-11-26 01:00:00,000] ERROR new (x)",
        "\tat new.Frame",
        "[2026-11-26 01:00:01,500] INFO newer (x)",
    ]
    since = datetime(2026, 11, 26, 1, 0, 0, tzinfo=UTC).timestamp()
    assert since_filter(lines, since) == lines[2:]
    assert since_filter(lines, since + 1.0) == lines[4:]
