"""A run handed over to the instance: started there as a service, followed, stopped and pulled.

On the instance, a run lives in `/opt/cdclab/runs/<run id>/`: the resolved spec (`spec.json`,
its secrets as `file:` references to 0600 files in `secrets/`, its CA bundles copied beside
it), the service's console log, the run's pid (`pid`, written by the run itself), its exit
code once it ended (`exit`) and its results directory under `results/`. The service is a
transient systemd unit where systemd is PID 1 (EC2), a detached session elsewhere (a host
standing in for one); either outlives the SSH session and the laptop.
"""

from __future__ import annotations

import json
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdclab.aws.containers import COMPOSE_PROJECT, REMOTE_DIR
from cdclab.core.spec import ExperimentSpec
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.ssh import SSHHost

SECRET_FIELDS = ("db_password_from", "writer_password_from", "kafka_password_from")
CA_FIELDS = {"db_ca_file": "db-ca.pem", "kafka_ca_file": "kafka-ca.pem"}


def run_dir(run_id: str, home: str = REMOTE_DIR) -> str:
    return f"{home}/runs/{run_id}"


def instance_spec(spec: ExperimentSpec, run_id: str, home: str = REMOTE_DIR) -> dict[str, Any]:
    """The spec as the instance reads it: every secret reference pointing at its file there,
    every CA bundle at its copy there."""
    data = spec.model_dump(mode="json", by_alias=True)
    external = data["external"]
    for field in SECRET_FIELDS:
        if external.get(field):
            external[field] = f"file:{run_dir(run_id, home)}/secrets/{field}"
    for field, name in CA_FIELDS.items():
        if external.get(field):
            external[field] = f"{run_dir(run_id, home)}/{name}"
    return data


def put_private(ssh: SSHHost, path: str, text: str) -> None:
    """A file only root reads on the host, its content through stdin (never argv)."""
    q = shlex.quote(path)
    done = ssh.run(f"umask 077 && mkdir -p $(dirname {q}) && cat > {q}", stdin=text)
    if not done.ok:
        raise CdclabError(f"{ssh.address}: cannot write {path}: {done.stderr.strip()}")


@dataclass
class RemoteRun:
    """One handed-over run, through an SSH session to its instance (commands as root)."""

    ssh: SSHHost
    run_id: str
    home: str = REMOTE_DIR  # cdclab's directory on the instance: venv, compose, runs
    compose_project: str = COMPOSE_PROJECT

    @property
    def dir(self) -> str:
        return run_dir(self.run_id, self.home)

    def _put(self, path: str, text: str) -> None:
        put_private(self.ssh, path, text)

    def start(self, spec: ExperimentSpec, secrets: dict[str, str]) -> None:
        """Copy the run's spec, secrets and CA bundles; start it as a service."""
        external = spec.external
        for field, value in secrets.items():
            self._put(f"{self.dir}/secrets/{field}", value)
        for field, name in CA_FIELDS.items():
            local = getattr(external, field)
            if local:
                self._put(f"{self.dir}/{name}", Path(local).expanduser().read_text())
        self._put(f"{self.dir}/spec.json", json.dumps(instance_spec(spec, self.run_id, self.home)))
        done = self.ssh.run(self.launch_command(), timeout=60)
        if not done.ok:
            raise CdclabError(f"instance: the run did not start: {done.stderr.strip()[-500:]}")

    def launch_command(self) -> str:
        d = shlex.quote(self.dir)
        home = shlex.quote(self.home)
        run = (
            f"{home}/venv/bin/python -m cdclab.experiment.on_instance {d}/spec.json "
            f"--run-id {shlex.quote(self.run_id)} --results {d}/results --pid-file {d}/pid "
            f"--home {home} --compose-project {shlex.quote(self.compose_project)}"
        )
        # The exit code is written by the wrapper once the run's process is gone.
        service = shlex.quote(f"cd {d} && {run} > {d}/console.log 2>&1; echo $? > {d}/exit")
        unit = shlex.quote(f"cdclab-run-{self.run_id}")
        return (
            f"rm -f {d}/exit {d}/pid; if [ -d /run/systemd/system ]; then "
            f"systemd-run --quiet --collect --unit {unit} sh -c {service}; "
            f"else setsid nohup sh -c {service} > /dev/null 2>&1 < /dev/null & fi"
        )

    # -- while it runs ------------------------------------------------------------------
    def exit_code(self) -> int | None:
        """The run's exit code once it ended (0 completed, 1 failed, 130 stopped)."""
        done = self.ssh.run(f"cat {shlex.quote(self.dir)}/exit 2>/dev/null")
        text = done.stdout.strip()
        return int(text) if done.ok and text.lstrip("-").isdigit() else None

    def results_name(self) -> str | None:
        done = self.ssh.run(f"ls {shlex.quote(self.dir)}/results 2>/dev/null")
        names = [n for n in done.stdout.split() if n.endswith(f"-{self.run_id}")]
        return names[0] if names else None

    def read_from(self, name: str, offset: int) -> tuple[str, int]:
        """New complete lines of a journal of the run, from a byte offset."""
        path = f"{self.dir}/results/{self.results_name()}/{name}"
        done = self.ssh.run(f"tail -c +{offset + 1} {shlex.quote(path)} 2>/dev/null")
        text = done.stdout if done.ok else ""
        complete = text[: text.rfind("\n") + 1]
        return complete, offset + len(complete.encode())

    def follow(
        self,
        on_line: Callable[[str, str], None],
        *,
        poll_s: float = 2.0,
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> int:
        """Every new journal line (events.jsonl, checks.jsonl, faults.jsonl) to `on_line`
        until the run ends; its exit code."""
        offsets = {"events.jsonl": 0, "checks.jsonl": 0, "faults.jsonl": 0}
        while True:
            code = self.exit_code()
            if self.results_name():
                for name, offset in offsets.items():
                    text, offsets[name] = self.read_from(name, offset)
                    for line in text.splitlines():
                        on_line(name, line)
            if code is not None:
                return code
            if stop_requested():
                self.stop()
            time.sleep(poll_s)

    def stop(self) -> None:
        """SIGINT to the run: it stops its clock, heals its faults and writes its report."""
        q = shlex.quote(f"{self.dir}/pid")
        self.ssh.run(f"[ -s {q} ] && kill -INT $(cat {q})")

    def console_tail(self, lines: int = 20) -> str:
        done = self.ssh.run(f"tail -n {lines} {shlex.quote(self.dir)}/console.log")
        return done.stdout

    # -- after it ended -----------------------------------------------------------------
    def pull(self, results_root: Path) -> Path:
        """The run's results directory, complete, into results_root (a tar stream)."""
        name = self.results_name()
        if name is None:
            raise CdclabError(f"instance: run {self.run_id} has no results directory (yet)")
        results_root.mkdir(parents=True, exist_ok=True)
        tar = f"tar -C {shlex.quote(self.dir)}/results -cf - {shlex.quote(name)}"
        with self.ssh.stream(tar) as stdout, tarfile.open(fileobj=stdout, mode="r|") as archive:
            archive.extractall(results_root, filter="data")
        return results_root / name


# -- the laptop's record of handed-over runs ---------------------------------------------
HANDOVER_FILE = "handover.json"


def record_handover(state: Path, remote: RemoteRun) -> None:
    """Which run the instance of this AWS run holds: `experiment.attach/stop` and
    `results.pull` find it by its run id."""
    state.mkdir(parents=True, exist_ok=True)
    (state / HANDOVER_FILE).write_text(
        json.dumps(
            {"run_id": remote.run_id, "home": remote.home, "project": remote.compose_project}
        )
        + "\n"
    )


def find_handover(run_id: str, root: Path) -> tuple[Path, dict[str, str]]:
    """The AWS run state (under root) whose instance runs `run_id`, and its record."""
    for path in sorted(root.glob(f"*/{HANDOVER_FILE}")):
        record = json.loads(path.read_text())
        if record.get("run_id") == run_id:
            return path.parent, record
    raise InvalidInputError(
        f"RUN: no instance runs {run_id!r}; `invoke aws.ls` lists the instances, and a "
        "run's id is the last part of its results directory's name"
    )


def remote_for(run_id: str) -> RemoteRun:
    """The handed-over run `run_id`, through a session to its instance."""
    from cdclab.aws.inventory import ssh_from_inventory
    from cdclab.paths import aws_state_dir

    state, record = find_handover(run_id, aws_state_dir())
    ssh = ssh_from_inventory(state / "inventory.yml")
    return RemoteRun(ssh, run_id, record["home"], record["project"])
