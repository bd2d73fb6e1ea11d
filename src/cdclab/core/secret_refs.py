"""Where a secret comes from, never the secret: `env:VAR`, `secretsmanager:<id>[#key]` or
`ssm:<parameter>`. Checked with the spec; read (cdclab.aws.secrets) only when needed."""

from __future__ import annotations

SCHEMES = ("env", "secretsmanager", "ssm")


def check_reference(reference: str) -> str:
    """`env:VAR`, `secretsmanager:<secret id or ARN>[#json-key]` or `ssm:<parameter name>`."""
    scheme, _, name = reference.partition(":")
    if scheme not in SCHEMES or not name:
        # The value is not repeated: it may be the password itself, typed by mistake.
        raise ValueError(
            "not a secret reference (a password never goes here): write env:VAR, "
            "secretsmanager:<secret id>[#key] or ssm:/path/to/parameter"
        )
    return reference
