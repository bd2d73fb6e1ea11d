"""Durations as people write them in specs and flags: 5s, 90m, 2h, 1h30m, 250ms, or seconds.

Arithmetic is decimal, so what `format_duration` writes, `parse_duration` reads back to the
very same float: a deadline of 2500ms written to spec.yaml is 2500ms when a report is rebuilt.
"""

from __future__ import annotations

import re
from decimal import Decimal

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_UNITS["d"] = Decimal(86400)
_EXAMPLES = "write e.g. 5s, 90m, 2h, 1h30m or 250ms"


def parse_duration(value: str | int | float) -> float:
    """Seconds from '1h30m', '5s', '250ms', '2.5s', or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {_EXAMPLES}")
    if isinstance(value, int | float):
        seconds = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = Decimal(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{value!r} is not a duration: {_EXAMPLES}")
            seconds = sum((Decimal(n) * _UNITS[u] for n, u in parts), Decimal(0))
    if not seconds.is_finite():
        raise ValueError(f"{value!r} is not a duration: {_EXAMPLES}")
    if seconds < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return float(seconds)


def parse_flag_duration(value: str | int | float, unit: str) -> float:
    """A command-line value: a bare number counts in the flag's unit (--minutes 5), a value
    with units is read like a spec's duration (--minutes 90s, --hours 1h30m)."""
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return parse_duration(value)
    return parse_duration(f"{Decimal(str(value).strip())}{unit}")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 7200 -> '2h', 90 -> '1m30s', 0.25 -> '250ms',
    2.5 -> '2.5s'. parse_duration(format_duration(x)) == x for every x >= 0."""
    exact = Decimal(repr(float(seconds)))
    if exact == 0:
        return "0s"
    if exact < 1 and (exact * 1000) == (exact * 1000).to_integral_value():
        return f"{exact * 1000:f}".split(".")[0] + "ms"
    parts = []
    for unit, size in (("h", 3600), ("m", 60)):
        whole = int(exact // size)
        if whole:
            parts.append(f"{whole}{unit}")
            exact -= whole * size
    if exact:
        text = f"{exact.normalize():f}"
        parts.append(f"{text}s")
    return "".join(parts)
