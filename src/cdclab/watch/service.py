"""The watchdog as a service on a host next to the connectors (`invoke watch.install`), so
runbook automation does not depend on a laptop.

On the host, a watch lives in `<home>/watches/<name>/`: `request.json` (what to watch and
how: the options of `invoke watch`), `db` (the canary writer's DSN, 0600, its CA copied
beside it as `db-ca.pem`), the watch directory `results/` (checks, events, report; a
restart continues it). It runs as the systemd unit `cdclab-watch-<name>` (enabled: it
comes back after a reboot, and restarts after a crash) where systemd is PID 1, else as a
detached supervisor loop (restarts after a crash, not after a reboot). cdclab itself is
the host's `<home>/venv`: an AWS run's instance has it from its deploy; any other host gets
it from the wheelhouse (playbooks/watch_install.yml).
"""

from __future__ import annotations

import json
import re
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from cdclab.aws.containers import REMOTE_DIR
from cdclab.aws.handover import put_private
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.ssh import SSHHost

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
RESTART_S = 5


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInputError(
            f"--name {name!r}: lower-case letters, digits and dashes (it names a unit), "
            "e.g. --name orders"
        )
    return name


def dsn_for_host(dsn: str, ca_on_host: str) -> tuple[str, Path]:
    """The DSN as the host reads it (ssl_ca pointing at the copy there) and the local CA."""
    url = urlparse(dsn)
    query = dict(parse_qsl(url.query))
    local_ca = Path(query["ssl_ca"]).expanduser()
    if not local_ca.is_file():
        raise InvalidInputError(f"CDCLAB_WATCH_DB: ssl_ca {local_ca} is not a file here")
    query["ssl_ca"] = ca_on_host
    return urlunparse(url._replace(query=urlencode(query, safe="/"))), local_ca


@dataclass
class WatchService:
    """One installed watch, through an SSH session to its host (commands as root)."""

    ssh: SSHHost
    name: str
    home: str = REMOTE_DIR

    @property
    def dir(self) -> str:
        return f"{self.home}/watches/{self.name}"

    @property
    def unit(self) -> str:
        return f"cdclab-watch-{self.name}"

    def command(self) -> str:
        d = shlex.quote(self.dir)
        return (
            f"{shlex.quote(self.home)}/venv/bin/python -m cdclab.watch.on_host {d}/request.json "
            f"--db-file {d}/db --directory {d}/results"
        )

    def install(self, request: dict[str, Any], dsn: str) -> None:
        """Copy what the watch needs (the DSN through stdin, never argv) and start it."""
        host_dsn, local_ca = dsn_for_host(dsn, f"{self.dir}/db-ca.pem")
        put_private(self.ssh, f"{self.dir}/db-ca.pem", local_ca.read_text())
        put_private(self.ssh, f"{self.dir}/db", host_dsn + "\n")
        put_private(self.ssh, f"{self.dir}/request.json", json.dumps(request, indent=2))
        done = self.ssh.run(self.start_script(), timeout=120)
        if not done.ok:
            raise CdclabError(f"{self.unit} did not start: {done.stderr.strip()[-500:]}")

    def start_script(self) -> str:
        d = shlex.quote(self.dir)
        unit_file = f"/etc/systemd/system/{self.unit}.service"
        unit = (
            f"[Unit]\nDescription=cdclab watch {self.name} (invoke watch.install)\n"
            "After=network-online.target\nWants=network-online.target\n"
            f"[Service]\nExecStart={self.command()}\nRestart=always\nRestartSec={RESTART_S}\n"
            "[Install]\nWantedBy=multi-user.target\n"
        )
        # The supervisor: its own process group (stopped as one), the watch restarted after
        # a crash; its pid where uninstall finds it.
        loop = shlex.quote(
            f"echo $$ > {d}/supervisor.pid; while :; do {self.command()} "
            f">> {d}/console.log 2>&1; sleep {RESTART_S}; done"
        )
        return (
            "if [ -d /run/systemd/system ]; then "
            f"printf %s {shlex.quote(unit)} > {unit_file} && systemctl daemon-reload && "
            f"systemctl enable --now {self.unit}; "
            f"else setsid nohup sh -c {loop} > /dev/null 2>&1 < /dev/null & fi"
        )

    def state(self) -> str:
        """active / inactive, as systemd or the supervisor's pid says."""
        pid = f"{shlex.quote(self.dir)}/supervisor.pid"
        done = self.ssh.run(
            f"if [ -d /run/systemd/system ]; then systemctl is-active {self.unit}; "
            f"elif [ -s {pid} ] && kill -0 $(cat {pid}) 2>/dev/null; then echo active; "
            "else echo inactive; fi"
        )
        return done.stdout.strip() or "inactive"

    def uninstall(self, results_root: Path) -> Path | None:
        """Stop it, bring its watch directory back into results_root (as watch-<name>),
        remove it from the host. The pulled directory, or None if it had none."""
        pid = f"{shlex.quote(self.dir)}/supervisor.pid"
        self.ssh.run(
            f"if [ -d /run/systemd/system ]; then systemctl disable --now {self.unit}; "
            f"rm -f /etc/systemd/system/{self.unit}.service; systemctl daemon-reload; "
            # The watch writes its report on SIGTERM: wait for the group to end (30 s).
            # (`kill -SIG -PGID`: dash's kill takes no `--`.)
            f"elif [ -s {pid} ]; then g=$(cat {pid}); kill -TERM -$g; "
            "for i in $(seq 60); do kill -0 -$g 2>/dev/null || break; sleep 0.5; done; fi",
            timeout=120,
        )
        pulled = self._pull(results_root)
        self.ssh.run(f"rm -rf {shlex.quote(self.dir)}")
        return pulled

    def _pull(self, results_root: Path) -> Path | None:
        if not self.ssh.run(f"test -d {shlex.quote(self.dir)}/results").ok:
            return None
        target = results_root / f"watch-{self.name}"
        target.mkdir(parents=True, exist_ok=True)
        tar = f"tar -C {shlex.quote(self.dir)}/results -cf - ."
        with self.ssh.stream(tar) as stdout, tarfile.open(fileobj=stdout, mode="r|") as archive:
            archive.extractall(target, filter="data")
        return target

    def last_check(self) -> str | None:
        done = self.ssh.run(f"tail -n 1 {shlex.quote(self.dir)}/results/checks.jsonl 2>/dev/null")
        return done.stdout.strip() or None
