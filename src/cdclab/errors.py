"""Errors a user sees. Each one says what is wrong and how to fix it."""


class CdclabError(Exception):
    """A failure to report to the user as one clear message, with exit code != 0."""

    exit_code = 2


class PrerequisiteError(CdclabError):
    """Something the lab needs (root, a program) is missing on this machine."""

    exit_code = 3


class LabNotUpError(CdclabError):
    """A task needs a running lab and there is none."""

    exit_code = 4
