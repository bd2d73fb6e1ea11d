"""Where a secret comes from, never the secret: `env:VAR`, `secretsmanager:<id>[#key]`,
`ssm:<parameter>` or `file:/absolute/path` (a file only its owner reads; how a run on the
instance is handed the secrets the laptop read). Checked with the spec; read
(cdclab.aws.secrets) only when needed."""

from __future__ import annotations

SCHEMES = ("env", "secretsmanager", "ssm", "file")


def check_reference(reference: str) -> str:
    """`env:VAR`, `secretsmanager:<secret id or ARN>[#json-key]`, `ssm:<parameter name>` or
    `file:/absolute/path`."""
    scheme, _, name = reference.partition(":")
    if scheme not in SCHEMES or not name or (scheme == "file" and not name.startswith("/")):
        # The value is not repeated: it may be the password itself, typed by mistake.
        raise ValueError(
            "not a secret reference (a password never goes here): write env:VAR, "
            "secretsmanager:<secret id>[#key], ssm:/path/to/parameter or file:/absolute/path"
        )
    return reference
