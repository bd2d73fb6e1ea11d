"""The docker target's image: which one a run uses, and the entrypoint's own checks.

The entrypoint is the real script from the connect_image role, run by bash; the image itself
runs in tests/integration/test_docker.py on a real Docker engine."""

from __future__ import annotations

import subprocess

import pytest

from cdclab.errors import InvalidInputError
from cdclab.images import connect
from cdclab.paths import ROLES_DIR
from cdclab.versions import load_versions

ENTRYPOINT = ROLES_DIR / "connect_image" / "files" / "docker-entrypoint.sh"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CDCLAB_CACHE_DIR", str(tmp_path))
    return tmp_path


def _build(cache) -> None:
    tarball = cache / "image" / load_versions().debezium / "image.tar"
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"tar")


def test_unset_image_is_the_one_built_here_else_the_pinned_upstream_one(cache):
    assert connect.choose_image(None) == (load_versions().debezium_image, None)
    _build(cache)
    image, tarball = connect.choose_image(None)
    assert image == f"cdclab/debezium-connect:{load_versions().debezium}"
    assert tarball is not None and tarball.name == "image.tar"


def test_the_built_image_named_but_not_built_says_how_to_build_it(cache):
    with pytest.raises(InvalidInputError, match=r"invoke docker\.image"):
        connect.choose_image(connect.built_image())


def test_any_other_image_is_pulled_as_named(cache):
    assert connect.choose_image("quay.io/debezium/connect:2.7") == (
        "quay.io/debezium/connect:2.7",
        None,
    )


@pytest.mark.parametrize(
    "missing", ["BOOTSTRAP_SERVERS", "CONFIG_STORAGE_TOPIC", "STATUS_STORAGE_TOPIC"]
)
def test_the_entrypoint_names_a_missing_variable_and_exits_64(tmp_path, missing):
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_HOME": str(tmp_path),
        "BOOTSTRAP_SERVERS": "kafka:9092",
        "CONFIG_STORAGE_TOPIC": "c",
        "OFFSET_STORAGE_TOPIC": "o",
        "STATUS_STORAGE_TOPIC": "s",
        "CONNECT_SASL_JAAS_CONFIG": "a-secret-value",
    }
    del env[missing]
    done = subprocess.run(["bash", str(ENTRYPOINT)], env=env, capture_output=True, text=True)
    assert done.returncode == 64
    assert missing in done.stderr
    assert "a-secret-value" not in done.stderr + done.stdout
