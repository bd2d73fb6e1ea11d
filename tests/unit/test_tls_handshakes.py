"""The client-side handshake table, read from real javax.net.debug output."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cdclab.tls_handshakes import handshakes_in_results, parse_debug_log, summarize_handshakes

SAMPLES = Path(__file__).parent / "tls_debug"


def test_the_jvm_default_negotiates_tls13_with_aes256():
    lines = (SAMPLES / "jdk17-default-tls13.txt").read_text().splitlines()
    log = parse_debug_log(lines)
    handshakes, notes = log.handshakes, log.notes
    assert [(h.protocol, h.cipher) for h in handshakes] == [("TLSv1.3", "TLS_AES_256_GCM_SHA384")]
    assert handshakes[0].thread == "main" and handshakes[0].purpose == "jdbc"
    assert notes == []


def test_forced_tls12_negotiates_ecdhe_rsa():
    summary = summarize_handshakes(SAMPLES / "jdk17-forced-tls12.txt")
    assert [(h.protocol, h.cipher, h.count) for h in summary.handshakes] == [
        ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 1)
    ]


def test_binlog_threads_are_told_from_jdbc_and_old_lines_are_skipped():
    header = "javax.net.ssl|DEBUG|2A|{thread}|2026-11-25 21:{m}:01.305 UTC|ServerHello.java:993|"
    lines = []
    for minute, thread, cipher in (
        ("00", "blc-198.18.213.10:3306", "TLS_AES_128_GCM_SHA256"),
        ("10", "blc-198.18.213.10:3306", "TLS_AES_256_GCM_SHA384"),
        ("10", "task-thread-x-0", "TLS_AES_256_GCM_SHA384"),
    ):
        start = header.format(thread=thread, m=minute)
        lines += [
            start + "Consuming ServerHello handshake message (",
            '"ServerHello": {',
            f'  "cipher suite"        : "{cipher}(0x1302)",',
            "}",
            start + "Negotiated protocol version: TLSv1.3",
        ]
    lines.append(header.format(thread="x", m="11") + "No available cipher suite for TLSv1.3")
    since = parse_debug_log(lines[:5]).handshakes[0].at + 60  # after the first handshake
    log = parse_debug_log(lines, since=since)
    handshakes, notes = log.handshakes, log.notes
    assert [(h.purpose, h.cipher) for h in handshakes] == [
        ("binlog", "TLS_AES_256_GCM_SHA384"),
        ("jdbc", "TLS_AES_256_GCM_SHA384"),
    ]
    assert notes == ["No available cipher suite for TLSv1.3"]


def test_results_without_debug_output_have_no_handshake_table(tmp_path):
    log = tmp_path / "logs" / "cdclab-connect" / "tls13" / "connect.out"
    log.parent.mkdir(parents=True)
    log.write_text("[2026-11-25 21:00:00,000] INFO Kafka Connect started\n")
    assert handshakes_in_results(tmp_path, ["tls13"]) == {}
    log.write_text((SAMPLES / "jdk17-default-tls13.txt").read_text())
    found = handshakes_in_results(tmp_path, ["tls13", "tls12"])
    assert list(found) == ["tls13"]
    assert found["tls13"].source == "logs/cdclab-connect/tls13/connect.out"


def test_the_hour_after_midnight_is_written_24_by_the_jdk_and_read_as_0():
    # SSLLogger's pattern is "yyyy-MM-dd kk:mm:ss.SSS z": kk runs 1-24 (a CI run at 00:14 UTC
    # printed "2026-11-26 24:14:39.952" and the parser used to crash on it).
    start = "javax.net.ssl|DEBUG|2A|main|{stamp} UTC|ServerHello.java:993|"
    lines = [
        start.format(stamp="2026-11-26 24:14:39.952") + "Negotiated protocol version: TLSv1.3",
        start.format(stamp="2026-11-26 01:00:00.000") + "Negotiated protocol version: TLSv1.2",
    ]
    log = parse_debug_log(lines)
    midnight = datetime(2026, 11, 26, 0, 14, 39, 952000, tzinfo=UTC).timestamp()
    assert [h.at for h in log.handshakes] == [midnight, midnight + 45 * 60 + 20.048]
