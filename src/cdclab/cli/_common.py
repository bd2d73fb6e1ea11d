"""What every task shares: turning library errors into one message and an exit code."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from cdclab.errors import CdclabError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Report CdclabError as `error: …` with its exit code, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CdclabError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from exc

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))
