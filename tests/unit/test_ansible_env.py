"""ansible-runner copies its environment into the `command` artifact: secrets stay out."""

from __future__ import annotations

import os

from cdclab.ansible import _secrets_out_of_environment


def test_named_and_secret_looking_variables_are_hidden_then_restored(monkeypatch):
    monkeypatch.setenv("DBPW", "named-by-an-env-reference")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "aws-token")
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "True")
    with _secrets_out_of_environment(["DBPW"]):
        assert "DBPW" not in os.environ
        assert "AWS_SECRET_ACCESS_KEY" not in os.environ
        assert "AWS_SESSION_TOKEN" not in os.environ
        assert os.environ["ANSIBLE_HOST_KEY_CHECKING"] == "True"  # settings stay
    assert os.environ["DBPW"] == "named-by-an-env-reference"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "aws-secret"
