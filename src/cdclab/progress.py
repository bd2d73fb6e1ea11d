"""Terminal output: reports on stdout (`out`), progress and diagnostics on stderr (`console`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)  # plain lines; the terminal wraps


def ansible_printer(verbose: bool = True):
    """An ansible-runner event handler that prints plays, changes and failures."""

    def handle(event: dict[str, Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start" and verbose:
            console.print(f"[bold]▶ {data.get('play', '')}[/bold]")
        elif kind == "runner_on_ok" and data.get("res", {}).get("changed"):
            console.print(f"  [yellow]changed[/yellow] {data.get('host')}: {data.get('task')}")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            console.print(f"  [red]failed[/red] {data.get('host')}: {data.get('task')}")

    return handle
