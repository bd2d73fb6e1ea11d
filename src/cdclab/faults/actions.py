"""What a fault does on its host, as shell commands: apply, heal (idempotent), dead-man.

Every iptables rule carries the comment `cdclab:<run id>:<fault id>`, so heals, sweeps and
`invoke fault.clear` find rules by tag, never by position. Heals are idempotent: running
one twice, or after the dead-man switch already ran it, is harmless.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cdclab.core.faults import FaultSpec

TAG_PREFIX = "cdclab:"
NETEM_DEVICE = "eth0"
# A root prio qdisc whose priomap sends everything to band 1 unless a filter says band 3.
NETEM_ROOT = "1:"
SWEEP_MARK = "cdclab-deadman"
DEADMAN_PID_SUFFIX = ".deadman.pid"
SPARED_MARK = "0xcdc1"  # connmark of a run's own clock's connections on a faulted host
DEADMAN_GRACE_S = 15.0  # the dead-man switch fires at for + grace
KILLED_SUFFIX = ".killed"  # beside a pid file: the pid a kill fault sent SIGKILL
CONNTRACK = "/proc/sys/net/netfilter"
# A nat-idle fault's note of the conntrack settings it changed, one per network namespace
# (lab hosts share /run; the heal and the sweep restore their own namespace's).
CONNTRACK_NOTE = "/run/cdclab-faults/conntrack-$(readlink /proc/self/ns/net | tr -dc 0-9)"
RESTORE_CONNTRACK = (
    f'note={CONNTRACK_NOTE}; if [ -f "$note" ]; then read -r loose established < "$note" '
    f"&& echo $loose > {CONNTRACK}/nf_conntrack_tcp_loose "
    f"&& echo $established > {CONNTRACK}/nf_conntrack_tcp_timeout_established "
    '&& rm -f "$note" && echo "conntrack settings restored"; fi'
)
# A ca-rotation fault leaves a restore script beside its work directory until it heals.
RESTORE_CERTIFICATES = (
    'for r in /run/cdclab-faults/ca-rotation-*.restore.sh; do [ -e "$r" ] || continue; '
    'echo "rotated database certificate: $(basename "$r" .restore.sh)"; sh "$r" >/dev/null; '
    "done"
)
FLUSH_SSL = "FLUSH LOCAL SSL"  # reload the certificate files; LOCAL keeps it out of the binlog
KILL_WAIT_TENTHS = 150  # how long a heal waits for a killed process to be gone (15 s)
# Alive is not "has a /proc entry": a zombie nobody has reaped yet is dead.
ALIVE_FUNCTION = (
    'alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null '
    '&& ! grep -qs "^State:[[:space:]]*Z" "/proc/$1/status"; }'
)


def kill_noting_victim(pidfile: str) -> str:
    """SIGKILL the pid file's process and note its pid beside the file, so that the heal can
    wait for that very process to be gone (restart_when_gone)."""
    note = shlex.quote(pidfile + KILLED_SUFFIX)
    return f'pid=$(cat {shlex.quote(pidfile)}) && echo "$pid" > {note} && kill -KILL "$pid"'


def wait_until_gone(variable: str) -> str:
    """Wait up to KILL_WAIT_TENTHS tenths of a second for the process in $variable to be
    gone (ALIVE_FUNCTION must be defined)."""
    return (
        f'n=0; while alive "${variable}" && [ $n -lt {KILL_WAIT_TENTHS} ]; '
        "do sleep 0.1; n=$((n+1)); done"
    )


def restart_when_gone(pidfile: str) -> str:
    """Start the process of pidfile again once the one a kill fault hit has exited.

    SIGKILL is not instant death: a JVM with a large heap takes a moment to exit, and while
    it does, start-stop-daemon finds the pid file's process and refuses to start another
    (a 1 s kill fault left the worker dead for good). Idempotent: a second heal finds no
    note of a victim and a live process, and does nothing.
    """
    pid, note = shlex.quote(pidfile), shlex.quote(pidfile + KILLED_SUFFIX)
    start = shlex.quote(pidfile + ".start")
    return "\n".join(
        [
            f"victim=$(cat {note} 2>/dev/null)",
            wait_until_gone("victim"),
            f'alive "$(cat {pid} 2>/dev/null)" || {{ rm -f {pid}; sh {start}; }}',
            f"rm -f {note}",
        ]
    )


@dataclass(frozen=True)
class Endpoint:
    name: str  # "connect" / "db"
    address: str


@dataclass(frozen=True)
class DbCertificate:
    """Where a ca-rotation fault swaps the database's certificate and how it tells the
    server: its TLS directory, the root client (argv up to -e), the certificate's address,
    and the user whose sessions it ends (the connectors')."""

    tls_dir: str
    client: list[str]
    address: str
    cdc_user: str

    def sql(self, statement: str) -> str:
        return f"{shlex.join(self.client)} {shlex.quote(statement)}"


@dataclass
class FaultAction:
    fault_id: str
    run_id: str
    spec: FaultSpec
    host: Endpoint
    peer: Endpoint | None
    scheduled_at: float  # offset from the clock's start, seconds
    duration: float
    pidfiles: list[str] = field(default_factory=list)  # kill/pause targets
    # Kill/pause targets that are containers (the docker target's workers), and the docker
    # command that reaches their engine on the host.
    containers: list[str] = field(default_factory=list)
    container_cli: str = "docker"
    # How the dead-man switch waits: a detached shell (lab namespaces share the machine's
    # init, so a systemd unit would run outside the namespace), or on a whole host such as
    # an EC2 instance a transient systemd timer (listed by systemctl, outlives the session),
    # falling back to the detached shell where systemd is not running.
    deadman: Literal["detached", "systemd"] = "detached"
    db: DbCertificate | None = None  # a ca-rotation fault's database
    # The uid of a run's own clock on the faulted host (a run on an EC2 instance): its
    # canaries and checks cross the fault untouched, only the connectors are cut off.
    spare_uid: int | None = None

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.run_id}:{self.fault_id}"

    @property
    def label(self) -> str:
        if self.spec.kind == "ca-rotation":
            return f"ca-rotation {self.host.name} {self.duration:g}s"
        target = self.peer.name if self.peer else self.spec.process
        label = f"{self.spec.kind} {self.host.name}↔{target} {self.duration:g}s"
        if self.spec.kind == "nat-idle":
            label += f" (timeout {self.spec.idle_timeout:g}s)"
        return label

    # -- network ------------------------------------------------------------------------
    def _iptables_rules(self) -> list[list[str]]:
        assert self.peer is not None
        peer = self.peer.address
        tcp = ["-p", "tcp"] if self.spec.kind == "reject" else []
        target = (
            ["-j", "REJECT", "--reject-with", "tcp-reset"]
            if self.spec.kind == "reject"
            else ["-j", "DROP"]
        )
        comment = ["-m", "comment", "--comment", self.tag]
        rules = []
        if self.spec.direction in ("both", "egress"):
            rules.append(["OUTPUT", "-d", peer, *tcp, *comment, *target])
        if self.spec.direction in ("both", "ingress"):
            rules.append(["INPUT", "-s", peer, *tcp, *comment, *target])
        return rules

    def _iptables_commands(self) -> list[str]:
        # -I: first in the chain, ahead of anything that would accept the traffic.
        commands = [shlex.join(["iptables", "-w", "-I", *r]) for r in self._iptables_rules()]
        return commands + self._spare_the_clock()

    def _spare_the_clock(self) -> list[str]:
        """Where the run's own clock shares the host, its connections are marked as they
        leave (mangle) and accepted both ways ahead of the fault's rules (inserted after
        them, so above them): the clock measures the fault instead of suffering it."""
        if self.spare_uid is None or self.peer is None:
            return []
        peer, mark = self.peer.address, ["-m", "comment", "--comment", self.tag]
        connmark = ["-m", "connmark", "--mark", SPARED_MARK]
        rules = [
            [
                "-t",
                "mangle",
                "-I",
                "OUTPUT",
                "-d",
                peer,
                "-m",
                "owner",
                "--uid-owner",
                str(self.spare_uid),
                *mark,
                "-j",
                "CONNMARK",
                "--set-mark",
                SPARED_MARK,
            ],
            ["-I", "OUTPUT", "-d", peer, *connmark, *mark, "-j", "ACCEPT"],
            ["-I", "INPUT", "-s", peer, *connmark, *mark, "-j", "ACCEPT"],
        ]
        return [shlex.join(["iptables", "-w", *rule]) for rule in rules]

    def _nat_idle_script(self) -> str:
        """An emulated NAT gateway on the host's path to its peer.

        Conntrack stops picking up connections it does not know (tcp_loose 0) and forgets
        one after `timeout` idle: a connection open when the fault begins, or one idle past
        the timeout, is one the gateway has no mapping for. Its packets become INVALID: the
        peer's are dropped without a word, the host's own answered with a reset, as an AWS
        NAT gateway does. A new connection (a reconnect) is tracked and works.
        """
        assert self.peer is not None
        invalid = f"-m conntrack --ctstate INVALID -m comment --comment {self.tag}"
        rules = [
            f"OUTPUT -d {self.peer.address} -p tcp {invalid} -j REJECT --reject-with tcp-reset",
            # Not the reset the rule above sends back to this host's own socket.
            f"INPUT -s {self.peer.address} -p tcp ! --tcp-flags RST RST {invalid} -j DROP",
        ]
        timeout = round(self.spec.idle_timeout)
        return "\n".join(
            [
                "set -e",
                # The rules first: they load conntrack where it is not loaded yet.
                *(shlex.join(["iptables", "-w", "-I", *rule.split()]) for rule in rules),
                f"note={CONNTRACK_NOTE}; mkdir -p /run/cdclab-faults",
                f'[ -f "$note" ] || echo "$(cat {CONNTRACK}/nf_conntrack_tcp_loose) '
                f'$(cat {CONNTRACK}/nf_conntrack_tcp_timeout_established)" > "$note"',
                f"echo {timeout} > {CONNTRACK}/nf_conntrack_tcp_timeout_established",
                f"echo 0 > {CONNTRACK}/nf_conntrack_tcp_loose",
            ]
        )

    def _half_open_script(self) -> str:
        """Cut the path to the peer, SIGKILL the database, and destroy what its kernel kept
        of the connections (orphans still sending FIN): they end without the peer hearing."""
        assert self.peer is not None
        return "\n".join(
            ["set -e", ALIVE_FUNCTION, *self._iptables_commands()]
            + [f"{kill_noting_victim(p)}\n{wait_until_gone('pid')}" for p in self.pidfiles]
            + [f"ss -K dst {self.peer.address} >/dev/null 2>&1 || true"]
        )

    @property
    def _rotation_dir(self) -> str:
        return f"/run/cdclab-faults/ca-rotation-{self.run_id}-{self.fault_id}"

    def _ca_rotation_script(self) -> str:
        """A new CA and a certificate of it for the database's address, served from now on
        (FLUSH SSL), the original pair kept aside for the heal (and, as a restore script,
        for a sweep after a crash); then the connectors' sessions end, as in a restart."""
        db = self.db
        assert db is not None
        work = shlex.quote(self._rotation_dir)
        openssl = "openssl req -newkey rsa:2048 -nodes -sha256 -subj '/CN=cdclab-db' "
        sessions = f"SELECT id FROM information_schema.processlist WHERE user={db.cdc_user!r}"
        return "\n".join(
            [
                "set -e",
                f'tls={shlex.quote(db.tls_dir)}; work={work}; mkdir -p "$work"',
                'for f in server-cert.pem server-key.pem; do [ -f "$tls/$f.cdclab-orig" ] '
                '|| cp -p "$tls/$f" "$tls/$f.cdclab-orig"; done',
                f"cat > \"$work.restore.sh\" <<'CDCLAB_RESTORE'\n{self._ca_restore()}\n"
                "CDCLAB_RESTORE",
                "openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 "
                '-keyout "$work/ca-key.pem" -out "$work/ca.pem" -subj "/CN=rotated CA" 2>/dev/null',
                openssl + '-keyout "$work/key.pem" -out "$work/csr.pem" 2>/dev/null',
                f"echo 'subjectAltName=IP:{db.address},DNS:cdclab-db' > \"$work/ext\"",
                'openssl x509 -req -sha256 -days 2 -in "$work/csr.pem" -CA "$work/ca.pem" '
                '-CAkey "$work/ca-key.pem" -CAcreateserial -extfile "$work/ext" '
                '-out "$work/cert.pem" 2>/dev/null',
                # cat keeps each file's owner and mode (the key is the server's user's).
                'cat "$work/cert.pem" > "$tls/server-cert.pem"',
                'cat "$work/key.pem" > "$tls/server-key.pem"',
                # LOCAL: not into the binlog, where Debezium 2.7's DDL parser fails on it
                # and stops the task (a finding of its own, not this fault's).
                db.sql(FLUSH_SSL),
                f"{db.sql(sessions)} | while read -r id; do "
                f'{shlex.join(db.client)} "KILL $id" || true; done',
            ]
        )

    def _ca_restore(self) -> str:
        """Put the original pair back and tell the server; idempotent."""
        db = self.db
        assert db is not None
        work = shlex.quote(self._rotation_dir)
        return "\n".join(
            [
                f"tls={shlex.quote(db.tls_dir)}; back=0",
                'for f in server-cert.pem server-key.pem; do if [ -f "$tls/$f.cdclab-orig" ]; '
                'then cat "$tls/$f.cdclab-orig" > "$tls/$f" && rm -f "$tls/$f.cdclab-orig"; '
                "back=1; fi; done",
                f'if [ "$back" = 1 ]; then {db.sql(FLUSH_SSL)}; '
                'echo "database certificate restored"; fi',
                f"rm -rf {work} {work}.restore.sh",
            ]
        )

    def _netem(self) -> str:
        spec = self.spec
        if spec.kind == "delay":
            return f"delay {spec.delay * 1000:.0f}ms"
        if spec.kind == "jitter":
            return f"delay {spec.delay * 1000:.0f}ms {spec.jitter * 1000:.0f}ms distribution normal"
        return f"loss {spec.loss:g}%"

    # -- the three scripts --------------------------------------------------------------
    def apply_script(self) -> str:
        kind = self.spec.kind
        if kind in ("drop", "reject"):
            return "\n".join(["set -e", *self._iptables_commands()])
        if kind == "nat-idle":
            return self._nat_idle_script()
        if kind == "half-open":
            return self._half_open_script()
        if kind == "ca-rotation":
            return self._ca_rotation_script()
        if kind in ("delay", "loss", "jitter"):
            assert self.peer is not None
            dev = NETEM_DEVICE
            return "\n".join(
                [
                    "set -e",
                    f"tc qdisc add dev {dev} root handle {NETEM_ROOT} prio bands 3 "
                    "priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
                    f"tc qdisc add dev {dev} parent 1:3 handle 30: netem {self._netem()}",
                    f"tc filter add dev {dev} protocol ip parent 1:0 prio 3 u32 "
                    f"match ip dst {self.peer.address}/32 flowid 1:3",
                ]
            )
        verb = "kill --signal KILL" if kind == "kill" else "pause"
        return "\n".join(
            [
                kill_noting_victim(p)
                if kind == "kill"
                else f'pid=$(cat {shlex.quote(p)}) && kill -STOP "$pid"'
                for p in self.pidfiles
            ]
            + [f"{self._cli} {verb} {shlex.quote(c)}" for c in self.containers]
        )

    @property
    def _cli(self) -> str:
        return shlex.quote(self.container_cli)

    def heal_script(self) -> str:
        kind = self.spec.kind
        if kind in ("drop", "reject"):
            return heal_iptables_by_tag(self.tag)
        if kind == "nat-idle":
            return f"{heal_iptables_by_tag(self.tag)}\n{RESTORE_CONNTRACK} >/dev/null"
        if kind == "half-open":
            # The database first, while the path is still cut: the client must not hear of
            # the old connection's end from the new process either.
            return "\n".join(
                [ALIVE_FUNCTION]
                + [restart_when_gone(p) for p in self.pidfiles]
                + [heal_iptables_by_tag(self.tag)]
            )
        if kind == "ca-rotation":
            return self._ca_restore()
        if kind in ("delay", "loss", "jitter"):
            return f"tc qdisc del dev {NETEM_DEVICE} root 2>/dev/null || true"
        if kind == "kill":
            # Restart what is not running: the start script lab.up wrote; `docker start`
            # (a no-op on a running container).
            return "\n".join(
                ([ALIVE_FUNCTION] if self.pidfiles else [])
                + [restart_when_gone(p) for p in self.pidfiles]
                + [f"{self._cli} start {shlex.quote(c)} >/dev/null" for c in self.containers]
            )
        return "\n".join(
            [f'pid=$(cat {shlex.quote(p)}) && kill -CONT "$pid" || true' for p in self.pidfiles]
            + [f"{self._cli} unpause {shlex.quote(c)} 2>/dev/null || true" for c in self.containers]
        )

    def deadman_command(self, heal_file: str, grace: float) -> str:
        """A detached timer on the host: heals at for + grace even if the orchestrator died.

        Runs inside the host's namespace (the SSH session lands there) and outlives the
        session. Prints its pid so a normal heal can cancel it.
        """
        delay = max(1, round(self.duration + grace))
        pidfile = shlex.quote(deadman_pidfile(heal_file))
        inner = (
            f"echo $$ > {pidfile}; sleep {delay} && sh {shlex.quote(heal_file)} dead-man; "
            f"rm -f {pidfile}"
        )
        # A pid file beside the heal script is how sweeps find a pending timer (matching
        # command lines would match the sweeping shell too); $0 carries the mark that
        # proves a pid still belongs to a timer. The timer writes its own pid once it runs
        # under the mark: `echo $!` could name a process still between execs (no command
        # line yet) or a setsid that forked. setsid: the timer leads its own group.
        detached = (
            f"rm -f {pidfile}; nohup setsid sh -c {shlex.quote(inner)} "
            f"{SWEEP_MARK}-{self.fault_id} >/dev/null 2>&1 </dev/null & "
            f"i=0; while [ ! -s {pidfile} ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; "
            f"cat {pidfile} 2>/dev/null || echo $!"
        )
        if self.deadman == "detached":
            return detached
        unit = self.deadman_unit
        return (
            "if [ -d /run/systemd/system ]; then "
            f"systemd-run --quiet --unit={unit} --on-active={delay}s "
            f"--timer-property=AccuracySec=1s /bin/sh {shlex.quote(heal_file)} dead-man "
            f"&& echo unit:{unit}; else {detached}; fi"
        )

    @property
    def deadman_unit(self) -> str:
        return f"{SWEEP_MARK}-{self.run_id}-{self.fault_id}"


def cancel_deadman_command(handle: str) -> str:
    """Disarm a dead-man switch by what deadman_command printed: `unit:<name>` or a pid."""
    if handle.startswith("unit:"):
        return f"systemctl stop {shlex.quote(handle[5:] + '.timer')} 2>/dev/null; true"
    return f"kill {shlex.quote(handle)} 2>/dev/null; true"


def heal_iptables_by_tag(pattern: str) -> str:
    """Delete every iptables rule whose comment contains pattern (a tag, or 'cdclab:'), in
    the filter table and in mangle (where a run's own clock is spared)."""
    return (
        "; ".join(
            f"iptables -w -t {table} -S | grep -F -- {shlex.quote(pattern)} | sed 's/^-A /-D /' | "
            f'while read -r rule; do eval "iptables -w -t {table} $rule"; done'
            for table in ("filter", "mangle")
        )
        + "; true"
    )


def deadman_pidfile(heal_file: str) -> str:
    return heal_file.removesuffix(".heal.sh") + DEADMAN_PID_SUFFIX


def sweep_deadman_script(heal_dir: str) -> str:
    """Stop the pending detached dead-man timers whose pid files are in heal_dir.

    A pid counts only while /proc says its command line carries the mark (a stale pid file
    may name a reused pid); its whole process group goes (the shell and its sleep):
    `kill -TERM -PGID`, which dash's kill also takes (it refuses `--`).
    """
    pattern = shlex.quote(heal_dir.rstrip("/")) + f"/*{DEADMAN_PID_SUFFIX}"
    return (
        f'for f in {pattern}; do [ -e "$f" ] || continue; pid=$(cat "$f"); '
        f"if [ -n \"$pid\" ] && tr '\\000' ' ' < /proc/\"$pid\"/cmdline 2>/dev/null "
        f'| grep -qF {SWEEP_MARK}; then kill -TERM -"$pid" 2>/dev/null '
        '|| kill -TERM "$pid" 2>/dev/null; echo "dead-man timer: $(basename "$f")"; fi; '
        'rm -f "$f"; done'
    )


def sweep_containers_script(cli: str, containers: Sequence[str]) -> str:
    """Unpause the paused and start the stopped of these containers (a kill or pause fault
    left by a killed run)."""
    quoted = shlex.quote(cli)
    return "\n".join(
        f"case $({quoted} inspect --format '{{{{.State.Status}}}}' {shlex.quote(c)} "
        f"2>/dev/null) in paused) echo 'paused container: {c}'; {quoted} unpause "
        f"{shlex.quote(c)} >/dev/null ;; exited|created) echo 'stopped container: {c}'; "
        f"{quoted} start {shlex.quote(c)} >/dev/null ;; esac"
        for c in containers
    )


def sweep_script(
    heal_dir: str,
    pidfiles: Sequence[str] = (),
    containers: Sequence[str] = (),
    container_cli: str = "docker",
) -> str:
    """Remove every cdclab fault on a host: rules, netem qdiscs, pending dead-man timers,
    and resume the processes named by pidfiles and the containers named (a pause or kill
    left by a killed run).

    Prints what it removed, one line each, for the warning that names them. Exits 0 only
    when it ran to its end and no tagged rule is left: sweep_host checks that.
    """
    resume = [
        f'if [ -f {shlex.quote(p)} ]; then kill -CONT "$(cat {shlex.quote(p)})" 2>/dev/null; fi'
        for p in pidfiles
    ]
    return "\n".join(
        [
            "iptables -w -S | grep -F -- 'cdclab:' | sed 's/^/rule: /'",
            heal_iptables_by_tag(TAG_PREFIX),
            f"if tc qdisc show dev {NETEM_DEVICE} 2>/dev/null | grep -q 'qdisc prio 1: root'; "
            f"then echo 'netem: {NETEM_DEVICE}'; tc qdisc del dev {NETEM_DEVICE} root; fi",
            sweep_deadman_script(heal_dir),
            RESTORE_CONNTRACK,
            RESTORE_CERTIFICATES,
            "if [ -d /run/systemd/system ] && systemctl list-timers --all --no-legend "
            f"'{SWEEP_MARK}-*' | grep -q .; then echo 'dead-man timers (systemd)'; "
            f"systemctl stop '{SWEEP_MARK}-*.timer'; fi",
            *resume,
            sweep_containers_script(container_cli, containers),
            "if iptables -w -S | grep -qF -- 'cdclab:'; then "
            "echo 'tagged iptables rules are still there after the sweep' >&2; exit 1; fi",
            "exit 0",
        ]
    )
