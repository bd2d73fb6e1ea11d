"""Names that hold secrets, and values kept out of messages, results and logs."""

from __future__ import annotations

# Matched case-insensitively inside a key, field or variable name (db_password_from,
# AWS_SECRET_ACCESS_KEY, sasl.jaas.config …).
SECRET_HINTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "key_id",
    "access_key",
    "private.key",
    "sasl.jaas.config",
)
MASK = "********"


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS)
