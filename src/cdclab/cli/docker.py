"""invoke docker.*: the Kafka Connect image of the docker target, built with no registry."""

from __future__ import annotations

import time

from invoke import Collection, task

from cdclab.cli._common import user_errors
from cdclab.progress import ansible_printer, console


@task
@user_errors
def image(c):
    """Build the Connect + Debezium image with no registry (Debian packages, Maven Central)."""
    from cdclab.images.connect import build_image, built_image
    from cdclab.prereqs import check_root

    check_root()  # debootstrap makes device nodes and root-owned files
    started = time.monotonic()
    tarball = build_image(event_handler=ansible_printer())
    size_mb = tarball.stat().st_size / 1e6
    console.print(
        f"[green]image {built_image()}[/green] ready: {tarball} ({size_mb:.0f} MB, "
        f"{time.monotonic() - started:.0f} s); the docker target imports it into its engine.\n"
        "Next: invoke experiment tls-compare --target docker --minutes 3"
    )


ns = Collection("docker", image)
