"""Field types shared by spec models (kept apart so fault models can import them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from cdclab.core.durations import format_duration, parse_duration

# An arm's name: it names a worker, a connector, topics and files (lab, compose, runs).
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,23}$"

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
