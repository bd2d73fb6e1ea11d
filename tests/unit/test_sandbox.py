"""The AWS sandbox's rules, without a lab: how it is found, that its stand-in is one
instance at a time, what `eval "$(invoke aws.sandbox)"` sets, and `--values` files (the
sandbox's values.yaml is one). The sandbox itself, on the lab, is test_aws_standin's."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdclab.aws.provision import caller_cidr
from cdclab.aws.sandbox import SANDBOX_ENV, Sandbox, active_sandbox, check_free, export_lines
from cdclab.core.aws_settings import AwsSettings
from cdclab.core.spec import load_spec, merge_values
from cdclab.errors import InvalidInputError


def _sandbox(tmp_path: Path, **changes) -> Sandbox:
    made = Sandbox(
        path=str(tmp_path / "sandbox.json"),
        endpoint="http://127.0.0.1:5999",
        region="us-east-1",
        address="10.213.0.20",
        namespace="cdclab-connect",
        caller_cidr="10.213.0.1/32",
        container_cli="/var/lib/cdclab/lab/docker/docker",
        **changes,
    )
    made.save()
    return made


def test_no_sandbox_named_means_aws(monkeypatch):
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    assert active_sandbox() is None


def test_a_removed_sandbox_is_an_error_that_says_how_to_get_back(tmp_path, monkeypatch):
    monkeypatch.setenv(SANDBOX_ENV, str(tmp_path / "gone.json"))
    with pytest.raises(InvalidInputError, match=SANDBOX_ENV) as raised:
        active_sandbox()
    assert "invoke aws.sandbox" in str(raised.value) and "unset" in str(raised.value)


def test_the_stand_in_is_one_runs_at_a_time(tmp_path, monkeypatch):
    made = _sandbox(tmp_path, handed_to="aaaa1111")
    monkeypatch.setenv(SANDBOX_ENV, made.path)
    found = active_sandbox()
    check_free(found, "aaaa1111")  # its own run may come back (aws.run_id)
    with pytest.raises(InvalidInputError, match=r"aws\.down aaaa1111"):
        check_free(found, "bbbb2222")


def test_in_the_sandbox_the_callers_address_is_the_lab_bridges(tmp_path, monkeypatch):
    """No lookup leaves the machine: the stand-in sees this machine on the lab's bridge."""
    monkeypatch.setenv(SANDBOX_ENV, _sandbox(tmp_path).path)
    monkeypatch.setenv("CDCLAB_CHECKIP_URL", "http://127.0.0.1:9/")  # would fail if asked
    assert caller_cidr() == "10.213.0.1/32"


def test_the_exports_survive_eval_and_name_the_stand_ins_docker(tmp_path, monkeypatch):
    made = _sandbox(tmp_path)
    script = "\n".join(export_lines(made))
    shown = subprocess.run(
        [
            "bash",
            "-c",
            f'eval "$1"; echo "$AWS_ENDPOINT_URL|${SANDBOX_ENV}|$AWS_REGION"',
            "-",
            script,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_PROFILE": "prod", "PATH": "/usr/bin:/bin"},
    )
    assert shown.stdout.strip() == f"{made.endpoint}|{made.path}|us-east-1"
    monkeypatch.setenv("CDCLAB_AWS_CONTAINER_CLI", made.container_cli)
    assert AwsSettings().container_cli == made.container_cli
    monkeypatch.delenv("CDCLAB_AWS_CONTAINER_CLI")
    assert AwsSettings().container_cli == "docker"


def test_values_files_merge_under_set(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(
        "external:\n  db_host: db.example\n  db_password_from: env:X\n"
        "  db_ca_file: /etc/ssl/certs/ca-certificates.crt\n  kafka_bootstrap: b-1.example:9092\n"
        "canary:\n  interval: 3s\n"
    )
    spec = load_spec(
        "tls-compare",
        values=[values],
        assignments=["canary.interval=2s"],
        target="aws",
    )
    assert spec.external.db_host == "db.example"
    assert spec.canary.interval == 2  # --set applies after
    assert spec.canary.learn == load_spec("tls-compare").canary.learn  # the rest kept


@pytest.mark.parametrize(
    ("text", "says"),
    [(None, "no such file"), ("- a list\n", "must be a mapping"), ("a: [\n", "not valid YAML")],
)
def test_a_bad_values_file_is_named(tmp_path, text, says):
    values = tmp_path / "values.yaml"
    if text is not None:
        values.write_text(text)
    with pytest.raises(InvalidInputError, match=rf"{re.escape(f'--values {values}')}.*{says}"):
        load_spec("tls-compare", values=[values])


_leaf = st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))
_key = st.text(max_size=3)
_tree = st.recursive(
    _leaf, lambda kids: st.dictionaries(_key, kids, min_size=1, max_size=3), max_leaves=8
)
_mapping = st.dictionaries(_key, _tree, max_size=4)


def _paths(tree, prefix=()):
    """(path, leaf) for every value that is not a mapping."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    else:
        yield prefix, tree


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@given(_mapping, _mapping)
def test_merged_values_win_and_leave_the_rest(base, values):
    """Every leaf of the values is in the result; every leaf of the spec on no values
    leaf's path (neither above, at, nor below one) is kept."""
    merged = merge_values(copy.deepcopy(base), copy.deepcopy(values))
    for path, leaf in _paths(values):
        assert _get(merged, path) == leaf
    value_paths = [p for p, _ in _paths(values)]
    for path, leaf in _paths(base):
        if not any(v[: len(path)] == path or path[: len(v)] == v for v in value_paths):
            assert _get(merged, path) == leaf


def test_the_readmes_aws_walk_through_is_a_valid_aws_spec(tmp_path):
    """The values file README's "On AWS, step by step" shows, with its --set options, is
    what the aws target accepts (a user copies it)."""
    from cdclab.paths import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## On AWS, step by step") :]
    block = section[section.index("```yaml") + len("```yaml") : section.index("   ```\n", 10)]
    values = tmp_path / "aws.yaml"
    values.write_text("\n".join(line.removeprefix("   ") for line in block.splitlines()))
    spec = load_spec(
        "tls-compare",
        values=[values],
        assignments=["aws.authorize_source=true"],
        target="aws",
        duration=7200,
    )
    assert spec.external.aurora_cluster == "my-aurora"
    assert spec.external.kafka_sasl_mechanism == "SCRAM-SHA-512"
