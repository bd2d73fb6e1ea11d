"""Imports only go down: every module of src/cdclab sits in a layer and imports from its
own layer or below, and no two packages import each other (directly or round a loop).
Function-level imports count too: hiding an import in a function does not change its
direction."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import cdclab

ROOT = Path(cdclab.__file__).parent
LAYERS = [
    {"__init__", "errors", "redact", "paths", "versions", "yaml12"},  # the ground
    {"core"},  # what an experiment is: spec models, durations, journal, outcomes, detector
    {  # clients of one thing each
        "ssh",
        "localhost",
        "ssh_tunnel",
        "connect_rest",
        "canary",
        "metrics",
        "ansible",
        "templating",
        "secrets",
        "prereqs",
        "progress",
        "tls_handshakes",
        "load",
        "reachability",
    },
    {"lab", "aws", "images", "dumps", "faults", "report"},  # components: lab, EC2, images, …
    {"targets"},  # the seam: where a run happens, where arms stand
    {"experiment", "runbook", "watch", "bench", "catalog"},  # features
    {"cli"},  # the command line
]
LAYER_OF = {unit: index for index, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    """cdclab.core.spec -> core; cdclab.errors -> errors; cdclab -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[tuple[str, str]]]:
    """unit -> {(imported unit, file)} for every cdclab import in every file."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).with_suffix("")
        unit = relative.parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "cdclab":
                    targets = [alias.name for alias in node.names]
                    targets = [t if t in LAYER_OF else "__init__" for t in targets]
                elif node.module.startswith("cdclab."):
                    targets = [_unit(node.module)]
                else:
                    continue
            elif isinstance(node, ast.Import):
                targets = [_unit(a.name) for a in node.names if a.name.startswith("cdclab.")]
            else:
                continue
            for target in targets:
                if target != unit:
                    found[unit].add((target, str(relative)))
    return found


def test_every_module_has_a_layer():
    units = {(p.relative_to(ROOT).with_suffix("").parts[0]) for p in ROOT.rglob("*.py")}
    assert units - set(LAYER_OF) == set(), "put the new module in a layer of this test"


def test_imports_only_go_down():
    upward = [
        f"{file}: {unit} (layer {LAYER_OF[unit]}) imports {target} (layer {LAYER_OF[target]})"
        for unit, imports in _imports().items()
        for target, file in imports
        if LAYER_OF[target] > LAYER_OF[unit]
    ]
    assert upward == []


def test_no_package_cycle():
    graph = {unit: {t for t, _ in imports} for unit, imports in _imports().items()}
    visiting, done, cycles = set(), set(), []

    def visit(node: str, path: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(" -> ".join([*path[path.index(node) :], node]))
            return
        visiting.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        visiting.discard(node)
        done.add(node)

    for unit in sorted(graph):
        visit(unit, [])
    assert cycles == []


def test_functions_are_short_enough_to_read_at_once():
    # A longer one says why on its first line: "# long: <reason>".
    long = []
    for path in ROOT.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                said_why = any(
                    "# long:" in line for line in lines[node.lineno - 1 : node.lineno + 2]
                )
                if length > 60 and not said_why:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert long == []
