"""Parse HotSpot thread dumps (jcmd Thread.print -l, kill -3; JDK 11-21) and classify the
binlog client's threads.

Classes, from the DBZ-7570 / JDK-8241239 / binlog-client #133 signatures:
- close-blocked: parked on a lock under SSLSocketImpl.closeNotify / duplexCloseOutput /
  shutdownOutput (the keep-alive thread's disconnect waiting on the output record lock);
- write-blocked: in socketWrite0 / SSLSocketOutputRecord (e.g. a TLS 1.3 KeyUpdate);
- reconnecting: in Socket.connect / timedFinishConnect, or awaiting a connect latch;
- waiting-for-data: reading the socket. A healthy idle reader looks exactly like this:
  the stack alone cannot say "stuck"; the time since the last event can;
- other.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

HEADER = re.compile(r'^"(?P<name>(?:[^"\\]|\\.)*)"(?P<rest>.*)$')
CPU = re.compile(r"\bcpu=(?P<v>[\d.]+)ms")
ELAPSED = re.compile(r"\belapsed=(?P<v>[\d.]+)s")
STATE = re.compile(r"^\s+java\.lang\.Thread\.State: (?P<state>\S+)")
FRAME = re.compile(r"^\s+at (?P<frame>.+?)\s*$")
WAITING_ON = re.compile(
    r"^\s+- (?:parking to wait for|waiting to lock|waiting on)\s+"
    r"<(?P<addr>0x[0-9a-f]+)> \(a (?P<cls>[^)]+)\)"
)
LOCKED = re.compile(r"^\s+- (?:locked )?<(?P<addr>0x[0-9a-f]+)> \(a (?P<cls>[^)]+)\)")
OWNABLE = "Locked ownable synchronizers:"

CLOSE_FRAMES = (
    "SSLSocketImpl.closeNotify",
    "SSLSocketImpl.duplexCloseOutput",
    "SSLSocketImpl.shutdownOutput",
    "SSLSocketImpl.closeSocket",
)
WRITE_FRAMES = (
    "socketWrite0",
    "SSLSocketOutputRecord.",
    "SocketDispatcher.write",
    "NioSocketImpl.implWrite",
)
CONNECT_FRAMES = (
    "Socket.connect",
    "timedFinishConnect",
    "NioSocketImpl.connect",
    "BinaryLogClient.openChannel",
)
READ_FRAMES = (
    "SSLSocketInputRecord.read",
    "socketRead0",
    "NioSocketImpl.implRead",
    "NioSocketImpl.tryRead",
    "NioSocketImpl.park",
    "SocketDispatcher.read",
)
IDLE_NOTE = (
    "waiting-for-data is also what a healthy idle binlog reader looks like; "
    "use the time since the last delivered canary (or MilliSecondsSinceLastEvent), "
    "not the stack, to call it stuck"
)


class BinlogThread(BaseModel):
    name: str
    state: str | None
    cpu_ms: float | None
    elapsed_s: float | None
    klass: str
    top_frames: list[str]
    waiting_on: str | None = None
    lock_owner: str | None = None


class DumpAnalysis(BaseModel):
    path: str
    jvm: str | None
    threads: list[BinlogThread]
    note: str | None = None

    @property
    def classes(self) -> list[str]:
        return [t.klass for t in self.threads]


class _Thread:
    def __init__(self, name: str, rest: str):
        self.name = name
        cpu, elapsed = CPU.search(rest), ELAPSED.search(rest)
        self.cpu_ms = float(cpu["v"]) if cpu else None
        self.elapsed_s = float(elapsed["v"]) if elapsed else None
        self.state: str | None = None
        self.frames: list[str] = []
        self.waiting_on: tuple[str, str] | None = None
        self.owns: set[str] = set()
        self._in_ownable = False

    def feed(self, line: str) -> None:
        if (m := STATE.match(line)) is not None:
            self.state = m["state"]
        elif (m := FRAME.match(line)) is not None:
            self.frames.append(m["frame"])
        elif OWNABLE in line:
            self._in_ownable = True
        elif (m := WAITING_ON.match(line)) is not None:
            if self.waiting_on is None:
                self.waiting_on = (m["addr"], m["cls"])
        elif (m := LOCKED.match(line)) is not None:
            self.owns.add(m["addr"])


def parse_threads(text: str) -> list[_Thread]:
    threads: list[_Thread] = []
    for line in text.splitlines():
        header = HEADER.match(line)
        if header is not None:
            threads.append(_Thread(header["name"], header["rest"]))
        elif threads:
            threads[-1].feed(line)
    return threads


def _has(frames: list[str], needles: tuple[str, ...]) -> bool:
    return any(needle in frame for frame in frames for needle in needles)


def classify(thread: _Thread) -> str:
    frames, state = thread.frames, thread.state or ""
    blocked = state in ("WAITING", "TIMED_WAITING", "BLOCKED") or thread.waiting_on is not None
    if _has(frames, CLOSE_FRAMES) and blocked:
        return "close-blocked"
    if _has(frames, WRITE_FRAMES):
        return "write-blocked"
    latch = _has(frames, ("CountDownLatch.await",)) and _has(frames, ("BinaryLogClient",))
    if _has(frames, CONNECT_FRAMES) or latch:
        return "reconnecting"
    if _has(frames, READ_FRAMES):
        return "waiting-for-data"
    return "other"


def is_binlog_thread(thread: _Thread) -> bool:
    return thread.name.startswith("blc-") or _has(thread.frames, ("BinaryLogClient",))


def analyze_text(text: str, path: str = "-") -> DumpAnalysis:
    threads = parse_threads(text)
    owners = {addr: t.name for t in threads for addr in t.owns}
    jvm = next(
        (
            line.split("(", 1)[-1].rstrip("):")
            for line in text.splitlines()
            if line.startswith("Full thread dump")
        ),
        None,
    )
    result = []
    for thread in threads:
        if not is_binlog_thread(thread):
            continue
        waiting = thread.waiting_on
        result.append(
            BinlogThread(
                name=thread.name,
                state=thread.state,
                cpu_ms=thread.cpu_ms,
                elapsed_s=thread.elapsed_s,
                klass=classify(thread),
                top_frames=thread.frames[:8],
                waiting_on=f"{waiting[0]} ({waiting[1]})" if waiting else None,
                lock_owner=owners.get(waiting[0]) if waiting else None,
            )
        )
    note = IDLE_NOTE if any(t.klass == "waiting-for-data" for t in result) else None
    return DumpAnalysis(path=path, jvm=jvm, threads=result, note=note)


def analyze_file(path: Path) -> DumpAnalysis:
    return analyze_text(path.read_text(errors="replace"), str(path))
