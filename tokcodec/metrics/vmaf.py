"""VMAF (v0.6.1, libvmaf in the ffmpeg binary of tokcodec.io.ffmpeg) of decoded 8-bit yuv420p planes
against the source's, mean over frames; None when the binary has no libvmaf."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from tokcodec.io.ffmpeg import EncoderMissingError, ffmpeg_exe, has_filter, run_measured

VMAF_MODEL = "version=vmaf_v0.6.1"

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # Y (T, H, W), U and V (T, H/2, W/2), uint8


def yuv_planes_to_bytes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> bytes:
    """(T, H, W), (T, H/2, W/2) x2 planes -> planar bytes frame after frame (any integer dtype, native endian)."""
    parts = []
    for i in range(len(y)):
        parts += [
            np.ascontiguousarray(y[i]).tobytes(),
            np.ascontiguousarray(u[i]).tobytes(),
            np.ascontiguousarray(v[i]).tobytes(),
        ]
    return b"".join(parts)


def rgb_clip_to_yuv420(rgb: np.ndarray, matrix: int = 1, full_range: bool = False) -> Planes:
    """(T, H, W, 3) uint8 RGB -> 8-bit yuv420p planes (BT.709 limited range unless told otherwise)."""
    from tokcodec.io.colour import rgb_to_yuv420

    planes = [rgb_to_yuv420(f, matrix=matrix, full_range=full_range) for f in rgb]
    return tuple(np.stack([p[i] for p in planes]) for i in range(3))


def vmaf_available() -> bool:
    try:
        return has_filter("libvmaf", ffmpeg_exe())
    except EncoderMissingError:
        return False


def vmaf(reference: Planes, decoded: Planes, threads: int = 1) -> float | None:
    """VMAF of `decoded` against `reference` (yuv420p planes of the same size)."""
    if not vmaf_available():
        return None
    height, width = reference[0].shape[1:]
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="tkc-vmaf-") as tmp:
        dist, refp, log = (os.path.join(tmp, n) for n in ("dist.yuv", "ref.yuv", "vmaf.json"))
        Path(dist).write_bytes(yuv_planes_to_bytes(*decoded))
        Path(refp).write_bytes(yuv_planes_to_bytes(*reference))
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", "25"]
        # The log path sits inside a filter graph: keep it free of ':' and quotes (a temp dir is).
        graph = f"[0:v][1:v]libvmaf=model={VMAF_MODEL}:log_fmt=json:log_path={log}:n_threads={threads}"
        cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *raw, "-i", dist, *raw, "-i", refp]
        run_measured([*cmd, "-lavfi", graph, "-f", "null", "-"])
        data = json.loads(Path(log).read_text())
    frames = [f["metrics"]["vmaf"] for f in data.get("frames", [])]
    if frames:
        return float(np.mean(frames))
    return float(data["pooled_metrics"]["vmaf"]["mean"])
