"""Measure a zoo model the way a user meets it: real container bytes, real decode.

Used for the model cards (`tokcodec eval`) and by the benchmark's tokcodec
codec. Every number comes from encoding the frames into a .tkc in memory,
decoding it back, and comparing with the frames that went in.
"""

from __future__ import annotations

import io
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.nn import Module as Tokenizer  # any family of tokcodec.models

from .codec.container import ContainerReader
from .codec.pipeline import decode_frames, encode_video
from .io import ColourInfo, VideoInfo, read_frames
from .metrics import lpips_video, ms_ssim, psnr
from .metrics.dists import dists_video
from .metrics.flicker import flicker
from .metrics.vmaf import rgb_clip_to_yuv420, vmaf as vmaf_score
from .precision import selected_precision
from .zoo import ModelEntry


def code_frames(
    frames: list[np.ndarray],
    model: Tokenizer,
    entry: ModelEntry,
    gop: int = 17,
    device: str = "cpu",
    fps: Fraction = Fraction(25),
    fix_colour: bool = True,
) -> tuple[bytes, list[np.ndarray], dict]:
    """Encode then decode `frames`; returns (container bytes, decoded frames, timings).
    `fix_colour=False`: no colour offsets (the tokenizer's own colour, codec.colour_offset)."""
    h, w = frames[0].shape[:2]
    info = VideoInfo(w, h, fps, len(frames), ColourInfo())
    buffer = io.BytesIO()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    encode_video(frames, info, buffer, model, entry, gop=gop, device=device, quiet=True, fix_colour=fix_colour)
    sync()
    t1 = time.perf_counter()
    decoded = list(decode_frames(ContainerReader(buffer.getvalue()), model, device))
    sync()
    t2 = time.perf_counter()
    return buffer.getvalue(), decoded, {"encode_fps": len(frames) / (t1 - t0), "decode_fps": len(frames) / (t2 - t1)}


def temporal_report(a: np.ndarray, b: np.ndarray, gop: int) -> dict:
    """How a model codes time: PSNR by position in the GOP (position 0 is the GOP's first,
    image-like, frame), and how many decoded frames merely repeat the one before."""
    per_frame = [psnr(a[i], b[i]) for i in range(len(a))]
    by_position = [float(np.mean(per_frame[p::gop])) for p in range(min(gop, len(a)))]
    repeats = sum(np.array_equal(b[i], b[i - 1]) for i in range(1, len(b)))
    return {
        "psnr_by_gop_position": by_position,
        "psnr_first_frame": by_position[0],
        "psnr_other_frames": float(np.mean(by_position[1:])) if len(by_position) > 1 else None,
        "repeated_frames": int(repeats),
    }


def colour_bias(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Mean decoded-minus-source value of R, G and B in 8-bit levels: a colour cast shows here."""
    return [float(b[..., c].astype(np.float64).mean() - a[..., c].astype(np.float64).mean()) for c in range(3)]


def evaluate_clip(
    frames: list[np.ndarray],
    model: Tokenizer,
    entry: ModelEntry,
    gop: int = 17,
    device: str = "cpu",
    fix_colour: bool = True,
    dists: bool = True,
    vmaf: bool = True,
) -> dict:
    data, decoded, speed = code_frames(frames, model, entry, gop, device, fix_colour=fix_colour)
    a, b = np.stack(frames), np.stack(decoded)
    h, w = a.shape[1:3]
    bias = colour_bias(a, b)
    return {
        "frames": len(frames),
        "width": w,
        "height": h,
        "bytes": len(data),
        "bpp": len(data) * 8 / (w * h * len(frames)),
        "psnr": psnr(a, b),
        "ms_ssim": ms_ssim(a, b),
        "lpips_alex": lpips_video(a, b, net="alex"),
        "dists": dists_video(a, b, device=device) if dists else None,  # VGG16 at full size: the costly one
        # on yuv420p, BT.709 limited range, as the benchmark measures it (None without libvmaf)
        "vmaf": vmaf_score(rgb_clip_to_yuv420(a), rgb_clip_to_yuv420(b), torch.get_num_threads()) if vmaf else None,
        **flicker(a, b, gop),
        "channel_bias": bias,
        "max_abs_channel_bias": max(abs(v) for v in bias),
        **temporal_report(a, b, gop),
        **speed,
    }


def evaluate_model(
    model: Tokenizer,
    entry: ModelEntry,
    clips: list[str | Path],
    size: tuple[int, int] = (640, 360),
    frames: int = 33,
    gop: int = 17,
    device: str = "cpu",
    progress: bool = True,
    fix_colour: bool = True,
    dists: bool = True,
    vmaf: bool = True,
    decoder: str | None = None,
) -> dict:
    """Per-clip and mean metrics over `clips`, area-downscaled to `size` (`dists`: False skips DISTS, which
    costs more than the rest together on a CPU; `vmaf`: False skips VMAF). `decoder`: the name of the decoder
    entry whose weights `model` carries, recorded beside the model's (None: the model's own decoder)."""
    from tqdm import tqdm

    per_clip = {}
    for clip in tqdm(clips, desc=f"eval {entry.name}", disable=not progress):
        video, _ = read_frames(clip, max_frames=frames, size=size)
        per_clip[Path(clip).name] = evaluate_clip(video, model, entry, gop, device, fix_colour, dists, vmaf)
    keys = (
        "bpp",
        "psnr",
        "ms_ssim",
        "lpips_alex",
        "dists",
        "vmaf",
        "flicker",
        "flicker_gop_boundary",
        "psnr_first_frame",
        "psnr_other_frames",
        "max_abs_channel_bias",
        "encode_fps",
        "decode_fps",
    )
    mean = {k: float(np.mean([r[k] for r in per_clip.values() if r[k] is not None] or [np.nan])) for k in keys}
    mean["worst_abs_channel_bias"] = max(r["max_abs_channel_bias"] for r in per_clip.values())
    return {
        "model": entry.name,
        "decoder": decoder,  # None: the model's own
        "size": list(size),
        "frames": frames,
        "gop": gop,
        "device": device,
        "colour_offsets": fix_colour,
        "threads": torch.get_num_threads(),
        "precision": selected_precision(),  # tokcodec.precision
        "mean": mean,
        "clips": per_clip,
    }
