"""This host, with the interface of an SSH session (`SSHHost.run`): where the clock runs on
the host of the arms (an EC2 instance), its faults, sweeps and dumps are local commands."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from typing import IO

from cdclab.errors import CdclabError
from cdclab.ssh import CommandResult


class LocalHost:
    """Commands run here, as this process's user (root for a run's service on the instance)."""

    address = "localhost"

    def run(
        self, argv: list[str] | str, *, stdin: str | None = None, timeout: float = 30.0
    ) -> CommandResult:
        """Run a command (a string through sh, a list as is); secrets go through stdin."""
        try:
            done = subprocess.run(
                argv,
                shell=isinstance(argv, str),
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return CommandResult(124, str(exc.stdout or ""), f"timed out after {timeout:g} s")
        except OSError as exc:  # the program is not here
            return CommandResult(127, "", str(exc))
        return CommandResult(done.returncode, done.stdout, done.stderr)

    @contextlib.contextmanager
    def stream(self, argv: list[str] | str, timeout: float = 600.0) -> Iterator[IO[bytes]]:
        """A command's standard output as a byte stream (SSHHost.stream's twin)."""
        process = subprocess.Popen(
            argv, shell=isinstance(argv, str), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        try:
            yield process.stdout
        finally:
            process.stdout.close()
            error = process.stderr.read().decode(errors="replace")
            if process.wait(timeout=timeout) != 0:
                raise CdclabError(f"localhost: {error[-500:]}")

    def close(self) -> None:
        """Nothing to close: the same interface as an SSH session."""

    def __enter__(self) -> LocalHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
