"""An installed watch (`invoke watch.install`): `python -m cdclab.watch.on_host REQUEST`.

REQUEST is the JSON the laptop wrote: {"target", "settings", "explicit", "duration"}, the
options of `invoke watch`. The canary writer's DSN is read from --db-file (0600; never argv,
never the unit's environment). Runs until SIGTERM (the service's stop); the watch directory
continues across restarts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from cdclab.errors import CdclabError
from cdclab.watch.config import DB_DSN_ENV
from cdclab.watch.setup import build_watch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdclab-watch-on-host", description=__doc__)
    parser.add_argument("request", type=Path, help="what to watch (JSON, from watch.install)")
    parser.add_argument("--db-file", type=Path, required=True, help="the canary writer's DSN")
    parser.add_argument("--directory", type=Path, required=True, help="the watch directory")
    args = parser.parse_args(argv)
    request = json.loads(args.request.read_text())
    os.environ[DB_DSN_ENV] = args.db_file.read_text().strip()
    try:
        with build_watch(
            request.get("target"),
            request["settings"],
            request["explicit"],
            args.directory,
            request.get("duration"),
        ) as watchdog:
            outcome = watchdog.run()
    except CdclabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"status: {outcome.status}; episodes: {outcome.episodes}")
    return 0 if outcome.status != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
