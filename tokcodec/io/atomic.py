"""Write-then-rename: an output path only ever holds a complete result.

Used by the video writers and by the container writer. The temporary lives in
the destination folder (so the final rename stays on one filesystem and is
atomic for files), is hidden, and keeps the output's extension (FFmpeg picks
the muxer from it).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from tokcodec.errors import OutputError


class AtomicOutput:
    """A temporary path `tmp` that becomes `path` on `commit()`.

    As a context manager it commits when the block succeeds and discards the
    temporary when it raises (KeyboardInterrupt included).
    """

    def __init__(
        self, path: str | os.PathLike, force: bool = False, folder_of: tuple[str, ...] | None = None
    ):
        self.path = Path(path)
        self.force = force
        self.folder_of = folder_of
        self._done = False
        self._check_destination()
        self.tmp = _sibling(self.path, "tmp")
        try:
            if folder_of is None:
                # O_EXCL and mode 0o666 (less the umask), unlike mkstemp's 0o600.
                os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            else:
                os.mkdir(self.tmp)
        except OSError as e:
            raise OutputError(f"cannot write {self.path}: {e.strerror}") from None

    def _check_destination(self) -> None:
        path = self.path
        if not path.parent.is_dir():
            raise OutputError(f"cannot write {path}: {path.parent} is not an existing folder")
        if not (path.exists() or path.is_symlink()):
            return
        if not self.force:
            raise OutputError(f"{path} already exists (use --force to overwrite)")
        if path.is_dir() and not path.is_symlink() and not self._replaceable_folder():
            # force must not turn a slip of the keyboard ("out/" for ".") into rm -r.
            raise OutputError(f"{path} is a folder that does not look like a frame folder; not replacing it")

    def _replaceable_folder(self) -> bool:
        if self.folder_of is None:
            return False
        return all(p.is_file() and p.suffix.lower() in self.folder_of for p in self.path.iterdir())

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
                    _remove(old)
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
        _remove(self.tmp)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_output(
    path: str | os.PathLike, force: bool = False, folder_of: tuple[str, ...] | None = None
) -> AtomicOutput:
    """Reserve a temporary next to `path` (a file, or a folder when `folder_of`
    lists the suffixes of the files it will hold) and return the AtomicOutput.

    Raises OutputError if `path` exists and `force` is false, if its folder
    does not exist or cannot be written, and (even with `force`) if `path` is a
    folder that is not a folder of `folder_of` files: force replaces a previous
    frame folder, never an arbitrary directory.
    """
    return AtomicOutput(path, force=force, folder_of=folder_of)


def _sibling(path: Path, tag: str) -> Path:
    # Hidden, starts with the output's name, ends with its extension.
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{tag}{path.suffix}")


def _remove(path: Path) -> None:
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
