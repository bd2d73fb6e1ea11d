"""Specs are YAML 1.2, read with ruamel.yaml (a maintained YAML 1.2 loader).

PyYAML follows YAML 1.1: `on`/`no` are booleans, `010` is octal 8 and `1:00` is 60 (base
60). In a spec, `--set detector.misses=010` must be 10 and `canary.deadline=1:00` a string
the duration parser refuses by name, so every spec and `--set` value goes through here.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["YAMLError", "load"]


def load(text: str) -> Any:
    """Plain dicts, lists and scalars (the safe loader: no arbitrary objects)."""
    return YAML(typ="safe", pure=True).load(text)
