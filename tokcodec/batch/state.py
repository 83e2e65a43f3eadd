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
process dies, however it dies, so there is never a stale lock to remove; a run
that ends removes the file (under the lock: see BatchLock).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
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


_COLUMNS = set(re.findall(r"^    (\w+) ", _SCHEMA, re.M))


class BatchLock:
    """flock on DST/.tokcodec-batch.lock, held while the `with` block runs."""

    def __init__(self, dst: Path):
        self.path = dst / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> BatchLock:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as e:
                raise OutputError(f"cannot write {self.path.parent}: {e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                raise OutputError(
                    f"another tokcodec batch is running on {self.path.parent}"
                    + (f" (process {holder})" if holder.isdigit() else "")
                ) from None
            except OSError as e:  # a filesystem without locks
                os.close(fd)
                raise OutputError(f"cannot lock {self.path}: {e.strerror}") from None
            # The run before us may have removed the file between our open and our flock (see
            # __exit__): then we hold a lock nobody else can see; open the path again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        # The holder's pid, for the message above; the lock itself is the flock, not this text.
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            # Removed while still held, so a run leaves only its outputs and the database behind; a
            # run that opened the old file meanwhile sees it gone after its flock and opens anew.
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _guarded(method):
    """SQLite's errors (a damaged page found late, a full disk) as BatchState.error's one line."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        # UnicodeDecodeError: the sqlite3 module raises it for a damaged file whose text (even in
        # quick_check's own report) is not UTF-8; fuzz/fuzz_state.py found it
        except (sqlite3.Error, UnicodeDecodeError) as e:
            raise self.error(e) from None

    return guarded


_UNDECODABLE = re.compile(r"[\\\udc80-\udcff]")
_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2})")


def db_text(text: str) -> str:
    """A path (or message) as the database stores it: valid UTF-8 text, losslessly. A file name that
    is not UTF-8 reaches Python with its bad bytes as surrogates (os.fsdecode), which SQLite cannot
    store: each becomes \\xNN, and a backslash \\\\, so nothing else can read back the same."""
    return _UNDECODABLE.sub(lambda m: "\\\\" if m.group() == "\\" else f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def from_db_text(text: str) -> str:
    """The inverse of db_text."""
    return _ESCAPED.sub(lambda m: "\\" if m.group(1) == "\\" else chr(0xDC00 + int(m.group(1)[1:], 16)), text)


class BatchState:
    """The `files` table. Rows are sqlite3.Row (columns as in _SCHEMA); `output`, `source` and `error`
    are stored through db_text (names that are not UTF-8), which these methods apply."""

    def __init__(self, dst: Path):
        self.path = dst / DB_NAME
        try:
            # Autocommit: every statement below is its own durable transaction
            # (rollback journal, synchronous FULL: the SQLite defaults).
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self.db.row_factory = sqlite3.Row
            self.db.text_factory = lambda b: b.decode("utf-8", "replace")  # damaged text: reported below
            if (found := self.db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
                raise sqlite3.DatabaseError(f"damaged: {found}")
            self.db.executescript(_SCHEMA)
            columns = {r["name"] for r in self.db.execute("PRAGMA table_info(files)")}
            if columns != _COLUMNS:
                raise sqlite3.DatabaseError("its table 'files' has other columns than this version's")
        except (sqlite3.Error, UnicodeDecodeError) as e:
            raise self.error(e) from None

    def error(self, e: Exception) -> OutputError:
        """One line for what SQLite reports, with the way out (docs/batch.md: the database)."""
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        # A write that fails (ENOSPC, EFBIG, a quota) reaches us as SQLITE_FULL or as an I/O error
        # (SQLITE_IOERR_WRITE, ..._FSYNC): the database is not damaged, so never advise moving it aside.
        name = getattr(e, "sqlite_errorname", "") or ""  # Python 3.11+
        if "full" in text or name.startswith("SQLITE_IOERR") or text == "disk I/O error":
            what = "the disk is full" if "full" in text else "the disk is full or failing"
            return OutputError(
                f"{self.path}: {what} ({text}): free some space and run again "
                "(finished outputs are recorded; the rest is redone)"
            )
        return OutputError(
            f"{self.path}: cannot use this batch database ({text}): move it aside and run "
            "again with --force (outputs already in the destination are then coded again)"
        )

    def close(self) -> None:
        self.db.close()

    @_guarded
    def reconcile(self) -> int:
        """Rows a killed run left 'running' go back to 'pending'; returns how many."""
        return self.db.execute("UPDATE files SET status = 'pending' WHERE status = 'running'").rowcount

    @_guarded
    def get(self, output: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM files WHERE output = ?", (db_text(output),)).fetchone()

    @_guarded
    def rows(self, status: str | None = None) -> list[sqlite3.Row]:
        if status is None:
            return self.db.execute("SELECT * FROM files ORDER BY output").fetchall()
        return self.db.execute("SELECT * FROM files WHERE status = ? ORDER BY output", (status,)).fetchall()

    @_guarded
    def plan(self, pending: list[tuple[str, str]]) -> None:
        """Mark (output, source) pairs 'pending', in one transaction (thousands of rows, one fsync)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO files (output, source, status) VALUES (?, ?, 'pending') "
                "ON CONFLICT (output) DO UPDATE SET source = excluded.source, status = 'pending'",
                [(db_text(output), db_text(source)) for output, source in pending],
            )

    @_guarded
    def start(self, output: str) -> None:
        self.db.execute(
            "UPDATE files SET status = 'running', started = ?, attempts = attempts + 1, error = NULL WHERE output = ?",
            (time.time(), db_text(output)),
        )

    def finish(self, output: str, *, status: str, error: str | None = None, **columns) -> None:
        """Record a job's outcome: status, error and any other columns (outputs and notes as JSON)."""
        if status not in STATUSES:
            raise ValueError(status)
        for key in ("outputs", "notes"):
            if key in columns and columns[key] is not None:
                columns[key] = json.dumps(columns[key])
        columns.update(status=status, error=None if error is None else db_text(error), finished=time.time())
        self.update(output, **columns)

    @_guarded
    def update(self, output: str, **columns) -> None:
        names = ", ".join(f"{k} = ?" for k in columns)
        self.db.execute(f"UPDATE files SET {names} WHERE output = ?", (*columns.values(), db_text(output)))


def recorded_outputs(row: sqlite3.Row) -> dict[str, int]:
    """A row's {output path relative to DST: bytes}."""
    return json.loads(row["outputs"]) if row["outputs"] else {}
