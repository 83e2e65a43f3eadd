"""The ffmpeg binary tokcodec runs for the benchmark's anchors and for VMAF: the static one of the
`imageio-ffmpeg` wheel (`imageio_ffmpeg.get_ffmpeg_exe()`), or `$TOKCODEC_FFMPEG`."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tokcodec.errors import TokcodecError


class EncoderMissingError(TokcodecError):
    """ffmpeg, or one of its encoders/filters a benchmark needs, is not available."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $TOKCODEC_FFMPEG, else the one in the imageio-ffmpeg wheel."""
    env = os.environ.get("TOKCODEC_FFMPEG")
    if env:
        if not Path(env).exists() and not shutil.which(env):
            raise EncoderMissingError(f"TOKCODEC_FFMPEG={env}: no such program")
        return env
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise EncoderMissingError("the anchors need the imageio-ffmpeg wheel (pip install imageio-ffmpeg)") from e
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise EncoderMissingError(f"imageio-ffmpeg has no ffmpeg binary: {e}") from e


@functools.lru_cache(maxsize=None)
def _listing(exe: str, what: str) -> str:
    r = subprocess.run([exe, "-hide_banner", what], capture_output=True, text=True)
    return r.stdout


def has_encoder(name: str, exe: str | None = None) -> bool:
    exe = exe or ffmpeg_exe()
    return re.search(rf"^\s*V\S*\s+{re.escape(name)}\s", _listing(exe, "-encoders"), re.M) is not None


def has_filter(name: str, exe: str | None = None) -> bool:
    exe = exe or ffmpeg_exe()
    return re.search(rf"^\s*\S*\s+{re.escape(name)}\s", _listing(exe, "-filters"), re.M) is not None


def require_encoder(name: str, anchor: str) -> str:
    exe = ffmpeg_exe()
    if not has_encoder(name, exe):
        raise EncoderMissingError(
            f"{anchor} needs ffmpeg's {name} encoder, which {exe} lacks; use the imageio-ffmpeg wheel's "
            f"binary (pip install -U imageio-ffmpeg) or set TOKCODEC_FFMPEG, or leave {anchor} out with --codecs"
        )
    return exe


@functools.lru_cache(maxsize=None)
def ffmpeg_version(exe: str | None = None) -> str:
    exe = exe or ffmpeg_exe()
    r = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True)
    first = (r.stdout.splitlines() or [""])[0]
    m = re.match(r"ffmpeg version (\S+)", first)
    return m.group(1) if m else first.strip()


def run_measured(cmd: list[str], log_path: str | None = None) -> tuple[float, float, str]:
    """Run a command; (wall seconds, CPU seconds of the child, stderr). Raises on failure."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    text = err.decode(errors="replace")
    if log_path:
        Path(log_path).write_text(text)
    if p.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-8:])
        raise RuntimeError(f"command failed (exit {p.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, usage.ru_utime + usage.ru_stime, text
