"""cdclab and every dependency as wheels for the instance's Python and CPU, built here.

The instance installs from this directory alone (`pip install --no-index`), so a private
subnet without NAT or a package index works. Wheels are chosen for the instance's platform,
not this machine's (a laptop may be a Mac on ARM): manylinux wheels of CPython 3.11, the
Python Amazon Linux 2023 offers (`dnf install python3.11`).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from cdclab import __version__
from cdclab.errors import PrerequisiteError
from cdclab.paths import PROJECT_ROOT, cache_dir

PYTHON_VERSION = "3.11"
# glibc 2.34 on Amazon Linux 2023; older manylinux tags are what most wheels carry.
MANYLINUX = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def platform_args(arch: str) -> list[str]:
    machine = ARCHES[arch]
    tags = [f"{tag}_{machine}" for tag in MANYLINUX]
    return [
        *(a for tag in tags for a in ("--platform", tag)),
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]


def installed() -> list[tuple[str, str]]:
    """(name, version) of every distribution this Python has, cdclab aside."""
    found = {(d.metadata["Name"], d.version) for d in importlib.metadata.distributions()}
    return sorted((name, version) for name, version in found if name and name != "cdclab")


def wheelhouse_dir(arch: str) -> Path:
    return cache_dir() / "wheelhouse" / f"cp{PYTHON_VERSION.replace('.', '')}-{ARCHES[arch]}"


def build_wheelhouse(arch: str = "x86_64") -> Path:
    """The wheelhouse for this cdclab, for the instance's platform (dependencies are kept
    between builds; cdclab's own wheel is rebuilt every time, it is this checkout)."""
    directory = wheelhouse_dir(arch)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("cdclab-*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # The versions this machine runs, so the instance runs the same code.
    constraints = directory.parent / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in installed()))
    steps = (
        [*pip, "wheel", "--no-deps", "-w", str(directory), str(PROJECT_ROOT)],
        [
            *pip,
            "download",
            "-d",
            str(directory),
            "-c",
            str(constraints),
            *platform_args(arch),
            str(PROJECT_ROOT),
        ],
    )
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PrerequisiteError(
                f"the instance's wheels (for CPython {PYTHON_VERSION} on {ARCHES[arch]}): "
                f"pip failed: {done.stderr.strip()[-800:]}. The instance installs cdclab "
                "from wheels built here; this machine needs pip and a package index once"
            )
    if not list(directory.glob(f"cdclab-{__version__}-*.whl")):
        raise PrerequisiteError(f"no cdclab {__version__} wheel in {directory} after the build")
    return directory


def wheelhouse_tarball(arch: str = "x86_64") -> Path:
    """The wheelhouse as one uncompressed tar (wheels are compressed already): the deploy
    copies one file instead of one per wheel."""
    import tarfile

    directory = build_wheelhouse(arch)
    tarball = directory.with_suffix(".tar")
    with tarfile.open(tarball, "w") as archive:
        for wheel in sorted(directory.glob("*.whl")):
            archive.add(wheel, arcname=wheel.name)
    return tarball
