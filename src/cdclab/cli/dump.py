"""invoke dump --arm A (take one now), invoke dump.analyze PATH… (classify binlog threads)."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task

from cdclab.cli._common import print_json, user_errors
from cdclab.progress import out


@task(
    default=True,
    help={
        "arm": "the arm whose Connect worker to dump (see `invoke lab.status`)",
        "out-dir": "directory for the dump (default results/dumps)",
        "run-id": "an AWS run: dump the arm's container on its instance (`invoke aws.ls`)",
    },
)
@user_errors
def take(c, arm, out_dir=None, run_id=None):
    """Take a thread dump of an arm's worker now (jcmd Thread.print -l over SSH) and classify it."""
    from cdclab.dumps.analyze import analyze_file
    from cdclab.dumps.take import dump_path
    from cdclab.paths import results_dir
    from cdclab.targets.places import place_for

    text = place_for(run_id=run_id).thread_dump(arm)
    path = dump_path(Path(out_dir) if out_dir else results_dir() / "dumps", arm, "on_demand")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    out.print(f"dump: {path}")
    _print(analyze_file(path))


def _print(analysis) -> None:
    out.print(f"{analysis.path} ({analysis.jvm or 'unknown JVM'})")
    if not analysis.threads:
        out.print("  no binlog client thread (no connector running on this worker?)")
    for thread in analysis.threads:
        cpu = f"cpu={thread.cpu_ms:g}ms " if thread.cpu_ms is not None else ""
        elapsed = f"elapsed={thread.elapsed_s:g}s" if thread.elapsed_s is not None else ""
        out.print(f"  {thread.klass:17} {thread.name} [{thread.state}] {cpu}{elapsed}")
        for frame in thread.top_frames[:4]:
            out.print(f"      at {frame}")
        if thread.waiting_on:
            owner = f", held by {thread.lock_owner}" if thread.lock_owner else ""
            out.print(f"      waiting on {thread.waiting_on}{owner}")
    if analysis.note:
        out.print(f"  note: {analysis.note}")


@task(
    positional=["path"],
    help={
        "path": "a thread-dump file, or a directory of them (e.g. results/latest/dumps)",
        "json": "print machine-readable JSON",
    },
)
@user_errors
def analyze(c, path, json=False):
    """Classify the binlog client's threads in HotSpot thread dumps (JDK 11-21)."""
    from cdclab.dumps.analyze import analyze_file
    from cdclab.errors import InvalidInputError

    # Invoke has no variadic positionals: several dumps are given as their directory.
    target = Path(path)
    files = sorted(target.rglob("*.txt")) if target.is_dir() else [target]
    if not target.exists() or not files:
        raise InvalidInputError(f"{path}: no such file, or a directory without *.txt dumps")
    results = [analyze_file(f) for f in files]
    if json:
        print_json([r.model_dump() for r in results])
        return
    for result in results:
        _print(result)


ns = Collection("dump", take, analyze)
