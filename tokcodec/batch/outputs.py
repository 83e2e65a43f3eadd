"""A job's outputs as one unit: all written under temporary names, then committed together, then synced.

An encode writes up to three files (the .tkc, its JSON sidecar, the side
file of audio and subtitles); a decode to PNG two. Each is an `atomic_output`
(tokcodec.io.atomic: temporary names, --force rules, stale temporaries); this
only adds the grouping, so that a job that fails at any step leaves none of
them under a final name, and the durability a batch needs before it records
a file as done: each output and its folder fsynced after the rename.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from tokcodec.io.atomic import AtomicOutput, atomic_output, remove_path


class OutputGroup:
    """`add()` outputs; on leaving the `with` block normally they are committed (main output last) and
    fsynced, on an exception every temporary is removed and outputs committed so far are taken back."""

    def __init__(self, force: bool, before_commit: Callable[[], None] | None = None):
        self.force = force
        self.before_commit = before_commit  # a last check; raising stops the commit
        self._outputs: list[AtomicOutput] = []

    def add(self, path: str | os.PathLike, folder_of: str | None = None) -> AtomicOutput:
        out = atomic_output(path, force=self.force, folder_of=folder_of)
        self._outputs.append(out)
        return out

    def drop(self, out: AtomicOutput) -> None:
        """Give up one output before the commit (its temporary is removed)."""
        out.discard()
        self._outputs.remove(out)

    def sizes(self) -> dict[Path, int]:
        """Bytes of each committed output (a folder counts the files in it)."""
        return {o.path: tree_size(o.path) for o in self._outputs}

    def __enter__(self) -> OutputGroup:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for out in self._outputs:
                out.discard()
            return
        committed = []
        try:
            for out in self._outputs:  # the data on disk before the names (a crash never leaves empty files)
                fsync_tree(out.tmp)
            if self.before_commit is not None:
                self.before_commit()
            # The first added is the main output: committed last, so that it never
            # stands under its final name without its companions.
            for out in reversed(self._outputs):
                out.commit()
                committed.append(out.path)
            for path in committed:
                fsync_tree(path)
            for folder in {p.parent for p in committed}:
                fsync_dir(folder)
        except BaseException:
            for out in self._outputs:
                out.discard()
            for path in committed:  # ours, written a moment ago: a half-committed group is no result
                remove_path(path)
            raise


def fsync_tree(path: Path) -> None:
    """fsync a file, or a folder and every file in it."""
    if path.is_dir():
        for child in path.iterdir():
            fsync_tree(child)
    fsync_dir(path)


def fsync_dir(path: Path) -> None:
    """fsync a file or a folder (a folder: so that the names, renames, in it are on disk too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tree_size(path: Path) -> int:
    if path.is_dir():
        return sum(tree_size(p) for p in path.iterdir())
    return path.stat().st_size
