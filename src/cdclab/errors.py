"""Errors a user sees. Each one says what is wrong and how to fix it."""

from cdclab.redact import MASK, looks_secret


class CdclabError(Exception):
    """A failure to report to the user as one clear message, with exit code != 0."""

    exit_code = 2


class PrerequisiteError(CdclabError):
    """Something the lab needs (root, a program) is missing on this machine."""

    exit_code = 3


class LabNotUpError(CdclabError):
    """A task needs a running lab and there is none."""

    exit_code = 4


class InvalidInputError(CdclabError):
    """A spec, option or setting is wrong. Raised before anything is created."""

    exit_code = 2


def from_validation(exc: object, source: str) -> InvalidInputError:
    """One line per bad field, from a pydantic ValidationError: field, value, what is allowed.

    The value of a field whose name looks secret is never shown: a password typed where a
    reference belongs must not reach a terminal, a CI log or a shell history twice."""
    lines = []
    for error in exc.errors():  # type: ignore[attr-defined]
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if looks_secret(field):
            value = MASK
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        lines.append(f"  - {field}: {message}{shown}")
    return InvalidInputError(f"invalid {source}:\n" + "\n".join(lines))
