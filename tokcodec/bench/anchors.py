"""The anchors: HEVC (x265), VVC (vvenc) and AV1 (SVT-AV1), through one ffmpeg binary.

All three encoders come from the static ffmpeg of the `imageio-ffmpeg` wheel
(`imageio_ffmpeg.get_ffmpeg_exe()`, or `$TOKCODEC_FFMPEG`), so a `pip install`
gives everyone the same encoder builds. Streams are written as elementary
streams (`.hevc` Annex B, `.266` Annex B, `.obu` low-overhead AV1), whose size
in bytes, parameter sets and headers included, is the rate. They are decoded
in-process with PyAV (FFmpeg's hevc and vvc decoders, dav1d for AV1).

Every anchor is low-delay (no frame reordering) with one intra frame per clip
unless an intra period is asked for:

- x265: `bframes=0`, `keyint=-1` (infinite GOP), `scenecut=0`, `info=0` (no
  encoder-settings SEI, which is ~1.5 kB of text, not video); default tuning
  (psycho-visual RDO and AQ on) or `-tune psnr`.
- vvenc: `PicReordering=0:GOPSize=8:DecodingRefreshType=none:IntraPeriod=-1`
  (low-delay B, hierarchical QP inside the 8-frame GOP); perceptual QP
  adaptation on (`-qpa 1`, its default) or off (`-qpa 0`). libvvenc only takes
  10-bit input: the 8-bit planes are shifted left by 2 (exact), and the decoded
  10-bit planes are rounded back, `(x + 2) >> 2`.
- SVT-AV1: `pred-struct=1` (low delay), `keyint=-1`, CRF.

The input is the reference's raw yuv420p (BT.709, limited range), tagged as such
on the input and in the stream: with the tags on the output only, ffmpeg would
insert a range conversion (unknown -> tv). Nothing converts colour or scales.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tokcodec.io.ffmpeg import (  # noqa: F401  (the anchors' API: re-exported)
    EncoderMissingError,
    ffmpeg_exe,
    ffmpeg_version,
    has_encoder,
    has_filter,
    require_encoder,
    run_measured,
)


@dataclass
class CodedRun:
    """One encode: the stream written, its size and what it cost."""

    path: str
    num_bytes: int
    encode_wall_s: float
    encode_cpu_s: float
    command: list[str]
    log: str = ""


@dataclass
class DecodedRun:
    """One decode: 8-bit yuv420p planes (T, H, W) / (T, H/2, W/2) and what it cost."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    decode_wall_s: float
    decode_cpu_s: float


# ----------------------------------------------------------------------------------------------
# anchors


@dataclass(frozen=True)
class AnchorSpec:
    """One anchor configuration: a name, an encoder family, and its rate points.

    family: "x265" (param crf), "vvenc" (param qp), "svtav1" (param crf).
    options: family-specific ("preset", "tune" for x265, "qpa" for vvenc).
    """

    name: str
    family: str
    points: tuple[int, ...]
    options: tuple[tuple[str, str], ...] = ()
    description: str = ""

    @property
    def opts(self) -> dict:
        return dict(self.options)

    @staticmethod
    def from_dict(d: dict) -> "AnchorSpec":
        opts = tuple(sorted((k, str(v)) for k, v in d.get("options", {}).items()))
        return AnchorSpec(d["name"], d["family"], tuple(int(p) for p in d["points"]), opts, d.get("description", ""))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "points": list(self.points),
            "options": self.opts,
            "description": self.description,
        }


def _x265_args(opts: dict, point, threads: int, intra_period: int | None) -> list[str]:
    params = ["bframes=0", "scenecut=0", "info=0", f"pools={threads}", "log-level=error"]
    params += [f"keyint={intra_period}", f"min-keyint={intra_period}"] if intra_period else ["keyint=-1"]
    args = ["-preset", opts.get("preset", "medium")] + (["-tune", opts["tune"]] if opts.get("tune") else [])
    return args + ["-crf", str(point), "-x265-params", ":".join(params)]


def _vvenc_args(opts: dict, point, threads: int, intra_period: int | None) -> list[str]:
    params = ["PicReordering=0", "GOPSize=8"]
    if intra_period:
        params += ["DecodingRefreshType=idr", f"IntraPeriod={intra_period}"]
    else:
        params += ["DecodingRefreshType=none", "IntraPeriod=-1"]
    qpa = str(int(opts.get("qpa", "1") in ("1", "true", "on")))
    args = ["-preset", opts.get("preset", "medium"), "-qp", str(point), "-qpa", qpa, "-threads", str(threads)]
    return args + ["-vvenc-params", ":".join(params)]


def _svtav1_args(opts: dict, point, threads: int, intra_period: int | None) -> list[str]:
    params = ["pred-struct=1", f"keyint={intra_period if intra_period else -1}", f"lp={threads}"]
    return ["-preset", opts.get("preset", "6"), "-crf", str(point), "-svtav1-params", ":".join(params)]


@dataclass(frozen=True)
class AnchorFamily:
    """How one encoder family is run and read back."""

    encoder: str  # ffmpeg's encoder
    muxer: str  # the elementary stream's muxer (and the demuxer that reads it back)
    extension: str
    rate_parameter: str  # "crf" or "qp": a point's label is rate_parameter + value
    bit_depth: int  # of the samples fed to the encoder (10: the 8-bit reference shifted left by 2)
    args: Callable[[dict, object, int, int | None], list[str]]  # (options, point, threads, intra period)
    decoder: str  # PyAV's decoder (for the record)
    version_pattern: str  # the encoder library's version in its log
    probe_args: tuple[str, ...] = ()  # what makes the encoder log its version
    quick_points: tuple[int, ...] = ()  # `tokcodec bench --quick`
    quick_options: tuple[tuple[str, str], ...] = ()

    @property
    def pix_fmt(self) -> str:
        return "yuv420p" if self.bit_depth == 8 else "yuv420p10le"


FAMILIES = {
    "x265": AnchorFamily(
        "libx265", "hevc", ".hevc", "crf", 8, _x265_args, "hevc", r"HEVC encoder version (\S+)",
        ("-x265-params", "log-level=info"), (28, 36, 44),
    ),
    "vvenc": AnchorFamily(
        "libvvenc", "vvc", ".266", "qp", 10, _vvenc_args, "vvc", r"libvvenc version: (\S+)",
        quick_points=(32, 42), quick_options=(("preset", "faster"),),
    ),
    "svtav1": AnchorFamily(
        "libsvtav1", "obu", ".obu", "crf", 8, _svtav1_args, "libdav1d", r"SVT-AV1 Encoder Lib (\S+)",
        quick_points=(45, 60),
    ),
}  # fmt: skip

_COLOUR_TAGS = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]


def family(spec: "AnchorSpec") -> AnchorFamily:
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown anchor family {spec.family!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[spec.family]


def point_label(spec: AnchorSpec, point: int) -> str:
    return f"{family(spec).rate_parameter}{point}"


def encoder_command(
    spec: AnchorSpec,
    point: int | str,
    width: int | str,
    height: int | str,
    fps: float | str,
    num_frames: int | str,
    in_path: str,
    out_path: str,
    threads: int = 1,
    intra_period: int | None = None,
    exe: str = "ffmpeg",
) -> list[str]:
    """The exact ffmpeg command line of one encode (raw planar input at `in_path`).

    String arguments are used as they are (`describe` passes placeholders).
    """
    if isinstance(fps, float):
        fps = f"{fps:.6g}"
    fam = family(spec)
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", "-f", "rawvideo"]
    cmd += ["-pix_fmt", fam.pix_fmt, "-s", f"{width}x{height}", "-r", str(fps), *_COLOUR_TAGS, "-i", in_path]
    cmd += [
        "-frames:v",
        str(num_frames),
        "-an",
        "-c:v",
        fam.encoder,
        *fam.args(spec.opts, point, threads, intra_period),
    ]
    return cmd + ["-pix_fmt", fam.pix_fmt, *_COLOUR_TAGS, "-f", fam.muxer, out_path]


def ref_input(ref_yuv: str, bits: int, work_dir: str) -> str:
    """The raw input for an encoder of this bit depth (10-bit: 8-bit samples << 2, made once)."""
    if bits == 8:
        return ref_yuv
    out = Path(work_dir) / "ref10.yuv"
    if not out.exists():
        x = np.fromfile(ref_yuv, np.uint8).astype("<u2") << 2
        tmp = out.with_suffix(".tmp")
        x.tofile(tmp)
        os.replace(tmp, out)
    return str(out)


def encode(
    spec: AnchorSpec,
    point: int,
    ref_yuv: str,
    width: int,
    height: int,
    fps: float,
    num_frames: int,
    out_path: str,
    threads: int = 1,
    intra_period: int | None = None,
) -> CodedRun:
    """Encode the raw yuv420p reference at one rate point; the stream goes to `out_path`."""
    exe = require_encoder(family(spec).encoder, spec.name)
    src = ref_input(ref_yuv, family(spec).bit_depth, str(Path(out_path).parent))
    tmp = str(out_path) + ".part"
    cmd = encoder_command(spec, point, width, height, fps, num_frames, src, tmp, threads, intra_period, exe)
    wall, cpu, log = run_measured(cmd)
    os.replace(tmp, out_path)
    return CodedRun(str(out_path), os.path.getsize(out_path), wall, cpu, cmd, log)


def _plane(p, dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    arr = np.frombuffer(memoryview(p), dtype=dtype)
    return arr.reshape(p.height, p.line_size // item)[:, : p.width]


def frame_to_planes(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An av.VideoFrame in yuv420p or yuv420p10le -> 8-bit (Y, U, V) (10-bit rounded: (x + 2) >> 2)."""
    fmt = frame.format.name
    if fmt in ("yuv420p", "yuvj420p"):
        return tuple(_plane(frame.planes[i], np.uint8).copy() for i in range(3))
    if fmt == "yuv420p10le":
        out = []
        for i in range(3):
            x = _plane(frame.planes[i], np.dtype("<u2")).astype(np.int32)
            out.append(np.clip((x + 2) >> 2, 0, 255).astype(np.uint8))
        return tuple(out)
    raise RuntimeError(f"decoder returned pixel format {fmt}, expected yuv420p or yuv420p10le")


def decode(spec: AnchorSpec, path: str, threads: int = 1) -> DecodedRun:
    """Decode an elementary stream with PyAV; 8-bit planes and the time it took (demux included)."""
    import av

    t0, c0 = time.perf_counter(), time.process_time()
    ys, us, vs = [], [], []
    with av.open(str(path), format=family(spec).muxer) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = threads
        stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        for frame in container.decode(stream):
            y, u, v = frame_to_planes(frame)
            ys.append(y)
            us.append(u)
            vs.append(v)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if not ys:
        raise RuntimeError(f"{path}: decoded no frames")
    return DecodedRun(np.stack(ys), np.stack(us), np.stack(vs), wall, cpu)


# ----------------------------------------------------------------------------------------------
# versions


def _probe_log(fam: AnchorFamily, exe: str) -> str:
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "verbose", "-f", "lavfi"]
    cmd += ["-i", "color=c=gray:s=64x64:r=25:d=0.08", "-frames:v", "2", "-pix_fmt", fam.pix_fmt, "-c:v", fam.encoder]
    r = subprocess.run([*cmd, *fam.probe_args, "-f", "null", "-"], capture_output=True, text=True)
    return r.stderr


@functools.lru_cache(maxsize=None)
def encoder_version(name: str) -> str:
    """The encoder library's own version string (from a 2-frame probe encode), or "unknown"."""
    exe, fam = ffmpeg_exe(), FAMILIES[name]
    if not has_encoder(fam.encoder, exe):
        return "missing"
    m = re.search(fam.version_pattern, _probe_log(fam, exe))
    return m.group(1) if m else "unknown"


def decoder_description(name: str) -> str:
    import av

    decoder = FAMILIES[name].decoder
    try:
        av.codec.Codec(decoder, "r")
    except Exception:  # noqa: BLE001 - PyAV raises several types for a missing codec
        if decoder != "libdav1d":
            return f"{decoder} (missing)"
        decoder = "av1"  # FFmpeg's own AV1 decoder
    return f"PyAV {av.__version__} {decoder} (FFmpeg {'.'.join(map(str, av.library_versions['libavcodec']))})"


def describe(spec: AnchorSpec, threads: int, intra_period: int | None) -> dict:
    """What a results JSON records about an anchor: versions and the command template."""
    fam = family(spec)
    inp = "IN.yuv" if fam.bit_depth == 8 else "IN.yuv10le"
    cmd = encoder_command(
        spec, f"<{fam.rate_parameter.upper()}>", "<W>", "<H>", "<FPS>", "<FRAMES>", inp, "OUT" + fam.extension,
        threads, intra_period, "ffmpeg",
    )  # fmt: skip
    ffmpeg = ffmpeg_version() + ("" if "TOKCODEC_FFMPEG" in os.environ else " (imageio-ffmpeg binary)")
    return {
        "family": spec.family,
        "encoder": fam.encoder,
        "encoder_version": encoder_version(spec.family),
        "ffmpeg": ffmpeg,
        "decoder": decoder_description(spec.family),
        "bit_depth": fam.bit_depth,
        "rate_parameter": fam.rate_parameter,
        "points": list(spec.points),
        "options": spec.opts,
        "command": " ".join(cmd),
    }
