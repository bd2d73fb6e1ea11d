"""What each arm's JVM negotiated, read from its `-Djavax.net.debug=ssl,handshake` output.

The original investigation's handshake table, from the client's side: the server's view is in
`lab/tls_evidence.py`. JDK 11+ writes one header line per message,

    javax.net.ssl|DEBUG|2A|blc-198.18.213.10:3306|2026-11-25 21:09:01.305 UTC|
        ServerHello.java:893|Consuming ServerHello handshake message (    (one line)

followed by the message's fields. A handshake is the ServerHello's `"cipher suite"` plus the
`Negotiated protocol version:` line that follows it on the same thread. The thread tells the
binlog connection (`blc-<host>:<port>`) from JDBC sessions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

HEADER = re.compile(
    r"^javax\.net\.ssl\|(?P<level>\w+)\|(?P<tid>[0-9A-Fa-f]+)\|(?P<thread>[^|]*)\|"
    r"(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ?(?P<zone>[A-Z]*)\|(?P<source>[^|]*)\|"
    r"(?P<message>.*)$"
)
CIPHER = re.compile(r'^\s*"cipher suite"\s*:\s*"(?P<cipher>[A-Z0-9_]+)')
NEGOTIATED = re.compile(r"Negotiated protocol version: (?P<protocol>\S+)")
# TLS 1.3 key renewal after jdk.tls.keyLimits bytes (the keyupdate experiment's signal).
KEY_UPDATE = re.compile(r"(?P<direction>Produced|Consuming) KeyUpdate post-handshake message")
# JDK wording when a forced protocol leaves a version without usable suites.
NO_SUITE = re.compile(r"No (?:available|supported) cipher suite for (?P<protocol>TLSv[\d.]+)")


@dataclass(frozen=True)
class Handshake:
    thread: str
    at: float  # epoch seconds (the debug line's own time)
    protocol: str
    cipher: str | None

    @property
    def purpose(self) -> str:
        return _purpose(self.thread)


class HandshakeCount(BaseModel):
    purpose: str  # binlog | jdbc
    protocol: str
    cipher: str | None
    count: int


class ArmHandshakes(BaseModel):
    """One arm's handshakes in a run: the distinct outcomes with counts."""

    source: str
    handshakes: list[HandshakeCount]
    notes: list[
        str
    ]  # e.g. "No available cipher suite for TLSv1.3" (the original investigation's line)
    # KeyUpdate messages per connection kind: {"binlog": {"produced": n, "consumed": m}}
    key_updates: dict[str, dict[str, int]] = {}


def _epoch(stamp: str) -> float:
    # The JDK's SSLLogger writes hours with "kk" (1-24): the hour after midnight is 24, of the
    # same calendar day, i.e. "2026-11-26 24:14:39.952" is 00:14:39.952 on the 26th.
    date, clock = stamp.split(" ", 1)
    if clock.startswith("24:"):
        clock = "00" + clock[2:]
    parsed = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S.%f")
    return parsed.replace(tzinfo=UTC).timestamp()


@dataclass
class DebugLog:
    handshakes: list[Handshake]
    notes: list[str]
    key_updates: Counter  # (purpose, "produced" | "consumed") -> count


def _purpose(thread: str) -> str:
    return "binlog" if thread.startswith("blc-") else "jdbc"


def parse_debug_log(lines, since: float | None = None) -> DebugLog:
    """Handshakes, protocol notes and KeyUpdates in javax.net.debug output, from `since` on."""
    handshakes: list[Handshake] = []
    notes: list[str] = []
    key_updates: Counter = Counter()
    cipher_of: dict[str, str] = {}  # thread -> cipher of its last ServerHello
    in_server_hello: str | None = None  # the thread whose ServerHello body is being read
    for line in lines:
        header = HEADER.match(line)
        if header is None:
            if in_server_hello is not None:
                cipher = CIPHER.match(line)
                if cipher:
                    cipher_of[in_server_hello] = cipher["cipher"]
            continue
        thread, message = header["thread"], header["message"]
        in_server_hello = thread if "Consuming ServerHello handshake message" in message else None
        # Only UTC stamps are compared with `since`; the lab's JVMs log in UTC.
        at = _epoch(header["at"]) if header["zone"] in ("", "UTC", "GMT") else None
        if since is not None and at is not None and at < since:
            continue
        key_update = KEY_UPDATE.search(message)
        if key_update:
            direction = "produced" if key_update["direction"] == "Produced" else "consumed"
            key_updates[(_purpose(thread), direction)] += 1
            continue
        negotiated = NEGOTIATED.search(message)
        if negotiated:
            handshakes.append(
                Handshake(thread, at or 0.0, negotiated["protocol"], cipher_of.pop(thread, None))
            )
            continue
        no_suite = NO_SUITE.search(message)
        if no_suite and no_suite.group(0) not in notes:
            notes.append(no_suite.group(0))
    return DebugLog(handshakes, notes, key_updates)


def summarize_handshakes(
    path: Path, since: float | None = None, source: str | None = None
) -> ArmHandshakes | None:
    """The handshakes in one worker's stdout log; None if it has no javax.net.debug output."""
    with path.open(errors="replace") as lines:
        log = parse_debug_log(lines, since)
    if not log.handshakes and not log.notes and not log.key_updates:
        return None
    counts = Counter((h.purpose, h.protocol, h.cipher) for h in log.handshakes)
    key_updates: dict[str, dict[str, int]] = {}
    for (purpose, direction), n in sorted(log.key_updates.items()):
        key_updates.setdefault(purpose, {})[direction] = n
    return ArmHandshakes(
        source=source or str(path),
        handshakes=[
            HandshakeCount(purpose=p, protocol=v, cipher=c, count=n)
            for (p, v, c), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1]))
        ],
        notes=log.notes,
        key_updates=key_updates,
    )


def handshakes_in_results(
    directory: Path, arms: list[str], since: float | None = None
) -> dict[str, ArmHandshakes]:
    """Per arm, from the worker logs a run collected (`logs/<host>/<arm>/connect.out`)."""
    found = {}
    for arm in arms:
        for path in sorted(directory.glob(f"logs/*/{arm}/connect.out")):
            summary = summarize_handshakes(path, since, source=str(path.relative_to(directory)))
            if summary is not None:
                found[arm] = summary
    return found
