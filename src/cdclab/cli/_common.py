"""What every task shares: turning library errors into one message and an exit code."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from cdclab.errors import CdclabError, InvalidInputError

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


def flag_duration(flag: str, value: Any, unit: str = "s") -> float:
    """A duration option: 5 (in the flag's unit), 5m, 90s, 1h30m — as specs write them."""
    from cdclab.core.durations import parse_flag_duration

    if value is True or value == "":
        raise InvalidInputError(f"{flag} needs a value, e.g. {flag} 5{unit}")
    try:
        return parse_flag_duration(value, unit)
    except ValueError as exc:
        raise InvalidInputError(f"{flag}: {exc}") from exc


def flag_int(flag: str, value: Any, minimum: int = 0) -> int:
    """A whole-number option, at least minimum."""
    try:
        number = None if isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise InvalidInputError(
            f"{flag} takes a whole number of at least {minimum}, e.g. {flag} {max(minimum, 2)}"
        )
    return number
