"""Write-then-rename: an output path only ever holds a complete result.

Used by the video writers, the container writer and every command that
writes: the one implementation of atomic outputs, of `--force` and of clean
exits on signals.

- The temporary lives in the destination folder (so the final rename stays on
  one filesystem and is atomic for files), is hidden, keeps the output's
  extension (FFmpeg picks the muxer from it) and names the writer's machine and
  process: `.NAME.tokcodec-HOST-PID-RANDOM.tmp.EXT`. A temporary of this
  machine whose process is gone (a crash, kill -9, power loss) is stale: the
  next output written to that folder removes it; one of a live process, or of
  another machine sharing the folder, is never touched.
- A missing destination folder is created (as `mkdir -p` would, like
  `transcode` does for its DST); folders created for an output that is then
  discarded are removed again when still empty.
- `--force` replaces only what tokcodec could have written: a regular file,
  or a folder holding nothing but frame files named like this output's.
  Device nodes, pipes, sockets and folders holding anything else are refused.
- SIGTERM and SIGHUP raise `Terminated` (see `tokcodec.errors.exit_on_signals`), so, like
  Ctrl-C, they unwind through the writers, which delete their temporaries.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import stat
from pathlib import Path

from tokcodec.errors import OutputError

_TEMP_RE = re.compile(
    r"^\.(?P<name>.+)\.tokcodec-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{8}\.(tmp|old)(\.[^.]*)?$"
)
# The writer's machine, in temporary names: on a folder shared by several machines (a Ray
# cluster), a process id only says whether a temporary is stale on the machine that wrote it.
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove tokcodec temporaries in `folder` whose writing process is gone; returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m and m["host"] == _HOST and not _pid_alive(int(m["pid"])):
            remove_path(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def frame_name_regex(pattern: str) -> re.Pattern:
    """The file names a printf-style frame pattern ("%05d.png") produces."""
    parts = re.split(r"(%0?\d*d)", pattern)
    return re.compile("".join(r"\d+" if p.startswith("%") else re.escape(p) for p in parts) + "$")


class AtomicOutput:
    """A temporary path `tmp` that becomes `path` on `commit()`.

    As a context manager it commits when the block succeeds and discards the
    temporary when it raises (KeyboardInterrupt included).
    """

    def __init__(self, path: str | os.PathLike, force: bool = False, folder_of: str | None = None):
        self.path = Path(path)
        self.force = force
        self.folder_of = frame_name_regex(folder_of) if folder_of else None
        self._done = False
        self._created = self._make_parents()
        try:
            self._check_destination()
        except BaseException:
            self._remove_created()
            raise
        self.stale_removed = clean_stale_temporaries(self.path.parent)
        self.tmp = _sibling(self.path, "tmp")
        try:
            if folder_of is None:
                # O_EXCL and mode 0o666 (less the umask), unlike mkstemp's 0o600.
                os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            else:
                os.mkdir(self.tmp)
        except OSError as e:
            self._remove_created()
            raise OutputError(f"cannot write {self.path}: {e.strerror}") from None

    def _make_parents(self) -> list[Path]:
        """Create the missing folders above the output; returns them, outermost first."""
        missing = []
        parent = self.path.parent
        while not (parent.exists() or parent.is_symlink()):
            missing.append(parent)
            parent = parent.parent
        missing.reverse()
        created = []
        for folder in missing:
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                self._created = created
                self._remove_created()
                raise OutputError(f"cannot write {self.path}: cannot create {folder}: {e.strerror}") from None
            created.append(folder)
        return created

    def _remove_created(self) -> None:
        for folder in reversed(getattr(self, "_created", [])):
            try:
                folder.rmdir()  # only while empty: something else may have been put there meanwhile
            except OSError:
                break

    def _check_destination(self) -> None:
        path = self.path
        if not path.parent.is_dir():
            raise OutputError(f"cannot write {path}: {path.parent} is not a folder")
        if not (path.exists() or path.is_symlink()):
            return
        if not self.force:
            raise OutputError(f"{path} already exists (use --force to overwrite)")
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            # force must not turn a slip of the keyboard ("out/" for ".") into rm -r.
            if self.folder_of is None:
                raise OutputError(f"{path} is a folder; not replacing it with a file")
            foreign = [
                p.name
                for p in path.iterdir()
                if not (p.is_file() and not p.is_symlink() and self.folder_of.match(p.name))
            ]
            if foreign:
                raise OutputError(
                    f"{path} holds files tokcodec did not write ({_shorten(foreign)}); "
                    "not replacing it: choose another output folder"
                )
        elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise OutputError(
                f"{path} is not a regular file (a device, pipe or socket); --force replaces only files tokcodec writes"
            )
        elif self.folder_of is not None:
            raise OutputError(f"{path} is a file; not replacing it with a folder of frames")

    def commit(self) -> None:
        """Move the temporary into place (replacing an old output if forced)."""
        if self._done:
            return
        try:
            self._check_destination()  # again: something may have appeared meanwhile
            if self.path.is_dir() or self.tmp.is_dir():
                # rename() cannot replace a folder (or put one over a file): move the
                # old output aside first, and delete it only once the new one is in.
                old = None
                if self.path.exists() or self.path.is_symlink():
                    old = _sibling(self.path, "old")
                    os.rename(self.path, old)
                os.rename(self.tmp, self.path)
                if old is not None:
                    remove_path(old)
            else:
                os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OutputError(f"cannot write {self.path}: {e.strerror}") from None
        except BaseException:
            self.discard()
            raise
        self._done = True

    def discard(self) -> None:
        """Delete the temporary; the destination is left as it was."""
        if self._done:
            return
        self._done = True
        remove_path(self.tmp)
        self._remove_created()

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_output(path: str | os.PathLike, force: bool = False, folder_of: str | None = None) -> AtomicOutput:
    """Reserve a temporary next to `path` (a file, or a folder when `folder_of`
    is the frame name pattern of the files it will hold, e.g. "%05d.png") and
    return the AtomicOutput.

    Raises OutputError if `path` exists and `force` is false, if its folder
    does not exist or cannot be written, and (even with `force`) if `path` is
    not something tokcodec writes: force replaces a regular file or a folder
    of frames named by `folder_of`, never an arbitrary directory or a device.
    """
    return AtomicOutput(path, force=force, folder_of=folder_of)


def _sibling(path: Path, tag: str) -> Path:
    # Hidden, starts with the output's name, names its process, ends with the output's extension.
    return path.with_name(f".{path.name}.tokcodec-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.{tag}{path.suffix}")


def _shorten(names: list[str], keep: int = 3) -> str:
    shown = ", ".join(sorted(names)[:keep])
    return shown + (f" and {len(names) - keep} more" if len(names) > keep else "")


def remove_path(path: Path) -> None:
    """Delete a file, a link or a folder tree; a missing path is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class FinishOrAbort:
    """`with` support for writers: `close()` when the block ends normally, `abort()` when it raises,
    so an output is either complete or not there."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
