"""The Kafka Connect + Debezium image, built here with no registry (`invoke docker.image`).

A Debian root filesystem from Debian's packages (debootstrap, the JDK), the Kafka, Connect and
Debezium jars from Maven Central, an entrypoint honouring the documented environment of
`quay.io/debezium/connect`, user kafka (uid 1001); kept as a tarball that `docker import`
turns into an image on whichever engine needs it (the lab's, an air-gapped host's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cdclab.ansible import EventHandler, run_playbook
from cdclab.errors import CdclabError, InvalidInputError
from cdclab.paths import LOCAL_INVENTORY, cache_dir, state_dir
from cdclab.versions import load_versions

IMAGE_NAME = "cdclab/debezium-connect"


def built_image() -> str:
    """name:tag of the image `invoke docker.image` builds (tagged with the Debezium version)."""
    return f"{IMAGE_NAME}:{load_versions().debezium}"


def image_dir() -> Path:
    return cache_dir() / "image" / load_versions().debezium


def built_tarball() -> Path | None:
    tarball = image_dir() / "image.tar"
    return tarball if tarball.is_file() else None


def build_image(event_handler: EventHandler | None = None) -> Path:
    """Build (or bring up to date) the image tarball; return its path."""
    if shutil.which("debootstrap") is None:
        raise CdclabError(
            "debootstrap is missing: install Debian's debootstrap package (the setup, "
            "bash .ci/run --setup-only, does)"
        )
    run_playbook(
        "docker_image.yml",
        inventory=LOCAL_INVENTORY,
        extravars={
            "cdclab_state_dir": str(state_dir()),  # the inventory's key path names it
            "cdclab_versions": load_versions().model_dump(),
            "cdclab_cache_dir": str(cache_dir()),
            "cdclab_image_dir": str(image_dir()),
        },
        event_handler=event_handler,
    )
    tarball = built_tarball()
    if tarball is None:
        raise CdclabError(f"the image build ended without {image_dir() / 'image.tar'}")
    return tarball


def choose_image(setting: str | None) -> tuple[str, Path | None]:
    """(name:tag, tarball to import or None to pull) for a spec's `docker.image`.

    Unset: the image `invoke docker.image` built, if it was built; otherwise the original
    investigation's upstream image, pinned in versions.yml (the engine pulls it)."""
    built = built_tarball()
    if setting is None:
        return (built_image(), built) if built else (load_versions().debezium_image, None)
    if setting == built_image():
        if built is None:
            raise InvalidInputError(
                f"docker.image: {setting} is built by `invoke docker.image`; run it first"
            )
        return setting, built
    return setting, None
