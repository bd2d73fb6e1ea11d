"""A background write load on the source: binlog traffic for every arm's reader to decrypt.

The keyupdate experiment needs bytes, not rows: TLS 1.3 renews its keys (KeyUpdate) after
`jdk.tls.keyLimits` bytes. Rows overwrite a fixed set of slots (INSERT … ON DUPLICATE KEY
UPDATE), so the binlog carries the load while the table stays small. Random payloads, so
nothing along the way can shrink them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from cdclab.canary import DbAccount
from cdclab.core.spec import LoadSpec

TICK_S = 0.1  # rows due in a tick go out in one executemany


@dataclass
class LoadTotals:
    rows: int = 0
    bytes: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds else 0.0


class LoadWriter:
    def __init__(
        self,
        account: DbAccount,
        table: str,
        spec: LoadSpec,
        *,
        on_error: Callable[[str], None] = lambda error: None,
    ):
        self.account = account
        self.table = table
        self.spec = spec
        self.on_error = on_error
        self.totals = LoadTotals()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cdclab-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> LoadTotals:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        return self.totals

    def _run(self) -> None:
        sql = (
            f"INSERT INTO `{self.table}` (slot, payload) VALUES (%s, %s) "
            "ON DUPLICATE KEY UPDATE payload = VALUES(payload)"
        )
        conn = None
        started = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.spec.rows_per_second) - sent
            if due > 0:
                rows = [
                    ((sent + i) % self.spec.slots, os.urandom(self.spec.row_bytes))
                    for i in range(due)
                ]
                try:
                    if conn is None or not conn.open:
                        conn = self.account.connect()
                    with conn.cursor() as cursor:
                        cursor.executemany(sql, rows)
                    self.totals.rows += due
                    self.totals.bytes += due * self.spec.row_bytes
                except pymysql.MySQLError as exc:
                    self.totals.errors += 1
                    self.on_error(str(exc))
                    conn = None  # reconnect on the next tick; the missed rows are dropped
                sent += due
            self._stop.wait(TICK_S)
        self.totals.seconds = time.monotonic() - started
        if conn is not None:
            with contextlib.suppress(pymysql.MySQLError):
                conn.close()
