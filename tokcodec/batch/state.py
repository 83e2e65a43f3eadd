"""A batch's memory: one SQLite row per output under DST, and the lock that keeps runs apart.

`DST/.tokcodec-batch.sqlite`, table `files`, keyed by the output's path
relative to DST; written only by the driver process (workers return results,
they never open the database). Each change is its own transaction, so a run
killed at any moment (kill -9, power loss) leaves rows that are each either
before or after a change. On the next run `reconcile` puts rows left
'running' back to 'pending', and the planner (driver.py) redoes rows whose
outputs are missing or of another size.

`DST/.tokcodec-batch.lock` is held with flock(2) for the whole run: a second
run on the same DST is refused at once. The kernel drops the lock when the
process dies, however it dies, so there is never a stale lock to remove.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from pathlib import Path

from tokcodec.errors import OutputError

DB_NAME = ".tokcodec-batch.sqlite"
LOCK_NAME = ".tokcodec-batch.lock"
STATUSES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    output       TEXT PRIMARY KEY,  -- path relative to DST (posix); a --to png folder ends in .frames
    source       TEXT NOT NULL,     -- absolute path of the source file
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    src_size     INTEGER,
    src_mtime_ns INTEGER,
    src_sha256   TEXT,
    out_size     INTEGER,           -- bytes of every output below together
    outputs      TEXT,              -- JSON {path relative to DST: bytes}: the output and its companions
    options_hash TEXT,
    model_hash   TEXT,              -- sha256 of the model weights that coded it (NULL: no model needed)
    frames       INTEGER,
    started      REAL,              -- unix time
    finished     REAL,
    seconds      REAL,              -- wall time of the worker's job
    attempts     INTEGER NOT NULL DEFAULT 0,
    verified     TEXT,              -- NULL: not checked; 'ok'; or what --verify found wrong
    notes        TEXT,              -- JSON list: what was recorded rather than kept (see docs/batch.md)
    error        TEXT
);
"""


class BatchLock:
    """flock on DST/.tokcodec-batch.lock, held while the `with` block runs."""

    def __init__(self, dst: Path):
        self.path = dst / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> BatchLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise OutputError(f"cannot write {self.path.parent}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise OutputError(f"another tokcodec batch is running on {self.path.parent}"
                              + (f" (process {holder})" if holder.isdigit() else "")) from None
        except OSError as e:  # a filesystem without locks
            os.close(fd)
            raise OutputError(f"cannot lock {self.path}: {e.strerror}") from None
        # The holder's pid, for the message above; the lock itself is the flock, not this text.
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class BatchState:
    """The `files` table. Rows are sqlite3.Row (columns as in _SCHEMA)."""

    def __init__(self, dst: Path):
        self.path = dst / DB_NAME
        try:
            # Autocommit: every statement below is its own durable transaction
            # (rollback journal, synchronous FULL: the SQLite defaults).
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self.db.row_factory = sqlite3.Row
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise OutputError(f"{self.path}: cannot use the batch database ({e})") from None

    def close(self) -> None:
        self.db.close()

    def reconcile(self) -> int:
        """Rows a killed run left 'running' go back to 'pending'; returns how many."""
        return self.db.execute("UPDATE files SET status = 'pending' WHERE status = 'running'").rowcount

    def get(self, output: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM files WHERE output = ?", (output,)).fetchone()

    def rows(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM files ORDER BY output").fetchall()
        return self.db.execute("SELECT * FROM files WHERE status = ? ORDER BY output", (status,)).fetchall()

    def plan(self, pending: list[tuple[str, str]]) -> None:
        """Mark (output, source) pairs 'pending', in one transaction (thousands of rows, one fsync)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO files (output, source, status) VALUES (?, ?, 'pending') "
                "ON CONFLICT (output) DO UPDATE SET source = excluded.source, status = 'pending'", pending)

    def start(self, output: str) -> None:
        self.db.execute("UPDATE files SET status = 'running', started = ?, attempts = attempts + 1, error = NULL "
                        "WHERE output = ?", (time.time(), output))

    def finish(self, output: str, *, status: str, error: str | None = None, **columns) -> None:
        """Record a job's outcome: status, error and any other columns (outputs and notes as JSON)."""
        if status not in STATUSES:
            raise ValueError(status)
        for key in ("outputs", "notes"):
            if key in columns and columns[key] is not None:
                columns[key] = json.dumps(columns[key])
        columns.update(status=status, error=error, finished=time.time())
        names = ", ".join(f"{k} = ?" for k in columns)
        self.db.execute(f"UPDATE files SET {names} WHERE output = ?", (*columns.values(), output))

    def update(self, output: str, **columns) -> None:
        names = ", ".join(f"{k} = ?" for k in columns)
        self.db.execute(f"UPDATE files SET {names} WHERE output = ?", (*columns.values(), output))


def recorded_outputs(row: sqlite3.Row) -> dict[str, int]:
    """A row's {output path relative to DST: bytes}."""
    return json.loads(row["outputs"]) if row["outputs"] else {}
