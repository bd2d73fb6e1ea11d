"""Invoke collections: thin wrappers over the library, one module per namespace."""

from __future__ import annotations

import functools
import inspect

from invoke import Collection, Program

HELP_TOKENS = ("-h", "--help")


def with_help(ns: Collection) -> Collection:
    """Make `invoke TASK -h` and `invoke TASK --help` show TASK's help, on every task.

    Invoke gives `-h` to the first option starting with h (`--hours`), and a task's first
    positional argument eats `--help` as its value; both are mended here, once for all.
    """
    for name in ns.task_names:
        task = ns[name]
        options = [p for p in inspect.signature(task.body).parameters if p != "c"]
        if any(option.startswith("h") for option in options):
            task.auto_shortflags = False
        if task.positional:
            task.body = _help_on_positional(task.body, task.positional, ns, name)
    return ns


def _help_on_positional(body, positional: list[str], ns: Collection, name: str):
    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        if any(kwargs.get(arg) in HELP_TOKENS for arg in positional):
            Program(namespace=ns, binary="invoke").run(["invoke", "--help", name])
            return None
        return body(*args, **kwargs)

    return wrapper
