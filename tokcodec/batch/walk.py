"""Which files a batch codes, and where each one's output goes under DST.

A SRC that is a file is taken whatever its name; a SRC folder is walked
(sorted, without following folder symlinks) and mirrored: `SRC/x/a.mp4` goes to
`DST/x/a.mp4.tkc`. Inside folders:

- hidden files and folders (".name": temporaries, ".git", macOS "._x.mp4") and
  the companions encode writes beside a .tkc (`*.tkc.json`, `*.tkc.side.*`) are
  skipped, and so is DST itself when it lies inside a SRC;
- without `--include`, a file is taken by its suffix: videos and images to
  encode, `.tkc` to decode, both for tokens. `--include GLOB` takes the files it
  matches instead, whatever their suffix (FFmpeg reads more than the list),
  except that decoding only ever takes `.tkc` files; `--exclude GLOB` leaves
  out what it matches. Both repeat. A glob with a "/" is matched against the
  path relative to the SRC folder (where "*" also crosses folders), one
  without against the file name.

Output names keep the source's name, so `a.mp4` and `a.mov` never collide:
encode `a.mp4` -> `a.mp4.tkc`; decode `a.mp4.tkc` -> `a.mp4` (see `output_name`);
tokens `a.mp4` or `a.mp4.tkc` -> `a.mp4.npz`.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tokcodec.errors import TokcodecError

MODES = ("encode", "decode", "tokens")
DECODE_TARGETS = ("mp4", "mkv", "png")
SIDE_MARK = ".tkc.side."  # encode's side file: a.mp4.tkc.side.mkv
FRAME_PATTERN = "%05d.png"  # the files of a --to png folder


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    rel: str  # posix path relative to its SRC folder (the bare name for a SRC file): mirrored under DST


def _suffixes(mode: str) -> tuple[str, ...]:
    from tokcodec.io.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    media = tuple(VIDEO_SUFFIXES) + tuple(IMAGE_SUFFIXES)
    return {"encode": media, "decode": (".tkc",), "tokens": media + (".tkc",)}[mode]


def _is_companion(name: str) -> bool:
    return SIDE_MARK in name or name.lower().endswith(".tkc.json")


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(rel if "/" in p else name, p) for p in patterns)


def walk(
    sources: list[str | os.PathLike],
    dst: str | os.PathLike,
    mode: str,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    to: str | None = None,
) -> list[SourceFile]:
    """The files to code, in a stable order; raises TokcodecError when DST and a SRC overlap wrongly
    or when two sources would write the same output."""
    dst = Path(dst).absolute()
    dst_real = os.path.realpath(dst)
    suffixes = _suffixes(mode)
    found: list[SourceFile] = []
    for src in sources:
        src = Path(src).absolute()
        if not src.is_dir():
            found.append(SourceFile(src, src.name))
            continue
        src_real = os.path.realpath(src)
        if src_real == dst_real or src_real.startswith(dst_real + os.sep):
            raise TokcodecError(f"{src} is (inside) the destination {dst}: choose a separate output folder")
        for folder, dirs, files in os.walk(src):
            # Skipped folders are pruned here, so their contents are never even listed.
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and os.path.realpath(os.path.join(folder, d)) != dst_real
            )
            for name in sorted(files):
                path = Path(folder) / name
                rel = path.relative_to(src).as_posix()
                if name.startswith(".") or _is_companion(name) or not path.is_file():
                    continue
                if include and not _matches(rel, include):
                    continue
                if (not include or mode == "decode") and not name.lower().endswith(suffixes):
                    continue
                if not _matches(rel, exclude):
                    found.append(SourceFile(path, rel))
    _refuse_collisions(found, mode, to)
    return found


def _refuse_collisions(found: list[SourceFile], mode: str, to: str | None) -> None:
    seen: dict[str, SourceFile] = {}
    for f in found:
        key = output_name(f.rel, mode, to)
        if key in seen:
            raise TokcodecError(
                f"{seen[key].path} and {f.path} would both write {key}: "
                "give them separate runs (or leave one out with --exclude)"
            )
        seen[key] = f


def output_name(rel: str, mode: str, to: str | None = None) -> str:
    """The output's path relative to DST.

    decode: the name without ".tkc", then the target's suffix unless it is there
    already: `a.mp4.tkc` -> `a.mp4`, `a.mov.tkc` -> `a.mov.mp4`, with --to mkv
    `a.mp4.mkv`. Without --to, images stay images (`x.png.tkc` -> `x.png`) and
    the rest becomes .mp4. --to png gives a folder of frames, `a.mp4.frames/`
    (an image source, one frame, gives one image: `x.jpg.png`).
    """
    if mode == "encode":
        return rel + ".tkc"
    stem = rel[:-4] if rel.lower().endswith(".tkc") else rel
    if mode == "tokens":
        return stem + ".npz"
    from tokcodec.io.video import IMAGE_SUFFIXES, SINGLE_IMAGE_SUFFIXES

    suffix = PurePosixPath(stem).suffix.lower()
    if to is None:
        if suffix in SINGLE_IMAGE_SUFFIXES:
            return stem
        to = "mp4"
    if to == "png":
        if suffix == ".png":
            return stem
        return stem + (".png" if suffix in IMAGE_SUFFIXES else ".frames")
    return stem if suffix == f".{to}" else f"{stem}.{to}"
