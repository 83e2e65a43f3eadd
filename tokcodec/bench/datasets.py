"""Benchmark clips and the one reference every codec is given.

A clip source is a raw 4:2:0 `.yuv` file whose name carries its size and rate
(the MCL-JCV naming, `videoSRC01_1920x1080_30.yuv`), any video file PyAV reads,
or a folder of PNG/JPEG frames. `discover_clips` turns paths (files or folders
of them) into `ClipSource`s.

`make_reference(source, frames, size)` builds what all codecs receive:

1. the first `frames` frames, decoded to RGB (tokcodec.io; `.yuv` sources read
   here as 8-bit yuv420p, BT.709 limited range);
2. centre-cropped to the target aspect ratio (when the source's differs) and
   resized to `size` = (W, H): area averaging when shrinking
   (`tokcodec.io.resize_area`, the same as training uses), bicubic when enlarging;
3. converted once to yuv420p with BT.709, limited range
   (`tokcodec.io.colour.rgb_to_yuv420`), the input of the anchors;
4. converted back to RGB (`yuv420_to_rgb`, the same matrix): the reference RGB,
   the input of tokcodec and the reference of every RGB metric.

So every codec sees the same pixels and one matrix is used everywhere.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tokcodec.errors import InputError
from tokcodec.io.video import IMAGE_SUFFIXES as IMAGE_EXTS, VIDEO_SUFFIXES as VIDEO_EXTS
from tokcodec.metrics.vmaf import yuv_planes_to_bytes

# The one colour conversion of the benchmark: H.273 matrix 1 (BT.709), limited range.
REF_MATRIX = 1
REF_FULL_RANGE = False
COLOUR_NOTE = "BT.709 matrix, limited (TV) range, 4:2:0 chroma sited as in H.264/HEVC (type 0)"

_YUV_NAME = re.compile(r"^(?P<stem>.*?)[_-](?P<w>\d+)x(?P<h>\d+)(?:[_-](?P<fps>\d+(?:\.\d+)?)(?:fps)?)?(?:[_-].*)?$")


@dataclass(frozen=True)
class ClipSource:
    """Where a clip comes from. `kind` is "yuv", "video" or "frames"."""

    name: str
    path: str
    kind: str
    yuv_size: tuple[int, int] | None = None  # (W, H) of a raw .yuv
    yuv_fps: float | None = None


@dataclass
class Reference:
    """The reference clip: yuv420p planes (encoder input) and their RGB conversion."""

    name: str
    width: int
    height: int
    fps: float
    y: np.ndarray  # (T, H, W) uint8
    u: np.ndarray  # (T, H/2, W/2) uint8
    v: np.ndarray
    rgb: np.ndarray  # (T, H, W, 3) uint8
    source: str = ""
    resize: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_pixels(self) -> int:
        """Pixels in the whole clip (frames x width x height): the bpp denominator."""
        return self.num_frames * self.width * self.height

    def yuv_bytes(self) -> bytes:
        """The clip as raw planar yuv420p (Y, U, V per frame), as ffmpeg's rawvideo reads it."""
        return yuv_planes_to_bytes(self.y, self.u, self.v)


# ----------------------------------------------------------------------------------------------
# discovery


def parse_yuv_name(filename: str) -> tuple[str, int, int, float | None]:
    """`videoSRC01_1920x1080_30.yuv` -> ("videoSRC01", 1920, 1080, 30.0); fps None when absent."""
    stem = Path(filename).stem
    m = _YUV_NAME.match(stem)
    if not m:
        raise InputError(f"{filename}: a raw .yuv name must carry its size, like name_1920x1080_30.yuv")
    fps = float(m["fps"]) if m["fps"] else None
    return m["stem"] or stem, int(m["w"]), int(m["h"]), fps


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file())


def source_from_path(path: str | os.PathLike, name: str | None = None) -> ClipSource:
    """One clip: a .yuv file, a video file or a folder of frames."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.is_dir():
        if not _is_frame_folder(p):
            raise InputError(f"{p}: a folder clip must hold PNG/JPEG frames")
        return ClipSource(name or _clean(p.name), str(p), "frames")
    if p.suffix.lower() == ".yuv":
        stem, w, h, fps = parse_yuv_name(p.name)
        return ClipSource(name or _clean(stem), str(p), "yuv", (w, h), fps)
    return ClipSource(name or _clean(p.stem), str(p), "video")


def discover_clips(paths: Iterable[str | os.PathLike]) -> list[ClipSource]:
    """Clips from paths: each a clip (file, frame folder) or a folder of clips (one level deep).

    A folder holding images is one clip; a folder holding videos, `.yuv` files or
    frame folders yields one clip per entry, sorted by name. Names are made
    unique by prefixing the parent folder when two collide.
    """
    found: list[ClipSource] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_file() or _is_frame_folder(p):
            found.append(source_from_path(p))
            continue
        entries = sorted(p.iterdir())
        for e in entries:
            if e.is_file() and (e.suffix.lower() in VIDEO_EXTS or e.suffix.lower() == ".yuv"):
                found.append(source_from_path(e))
            elif _is_frame_folder(e):
                found.append(source_from_path(e))
    if not found:
        raise InputError("no clips found in " + ", ".join(str(p) for p in paths))
    names = [s.name for s in found]
    out = []
    for s in found:
        if names.count(s.name) > 1:
            s = ClipSource(_clean(Path(s.path).parent.name + "_" + s.name), s.path, s.kind, s.yuv_size, s.yuv_fps)
        out.append(s)
    return out


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "clip"


# ----------------------------------------------------------------------------------------------
# reading


def read_yuv420_file(path: str, width: int, height: int, max_frames: int | None) -> list[np.ndarray]:
    """Frames of a raw 8-bit yuv420p file as RGB (BT.709, limited range)."""
    from tokcodec.io.colour import yuv420_to_rgb

    cw, ch = (width + 1) // 2, (height + 1) // 2
    frame_size = width * height + 2 * cw * ch
    size = os.path.getsize(path)
    if size < frame_size:
        raise InputError(f"{path}: smaller than one {width}x{height} yuv420p frame")
    count = size // frame_size
    if max_frames is not None:
        count = min(count, max_frames)
    frames = []
    with open(path, "rb") as f:
        for _ in range(count):
            buf = np.frombuffer(f.read(frame_size), np.uint8)
            y = buf[: width * height].reshape(height, width)
            u = buf[width * height : width * height + cw * ch].reshape(ch, cw)
            v = buf[width * height + cw * ch :].reshape(ch, cw)
            frames.append(yuv420_to_rgb(y, u, v, matrix=REF_MATRIX, full_range=REF_FULL_RANGE))
    return frames


def read_source(src: ClipSource, max_frames: int | None) -> tuple[list[np.ndarray], float]:
    """(RGB frames at the source size, fps)."""
    if src.kind == "yuv":
        w, h = src.yuv_size
        return read_yuv420_file(src.path, w, h, max_frames), float(src.yuv_fps or 30.0)
    from tokcodec.io import read_frames

    frames, info = read_frames(src.path, max_frames=max_frames)
    fps = float(info.fps) if info.fps else 30.0
    return list(frames), fps


# ----------------------------------------------------------------------------------------------
# resizing


def centre_crop_box(width: int, height: int, target_w: int, target_h: int) -> tuple[int, int, int, int]:
    """(x0, y0, w, h) of the largest centred box of the target aspect ratio (even sizes)."""
    want = target_w / target_h
    if abs(width / height - want) < 0.01:
        return 0, 0, width, height
    if width / height > want:
        w = int(round(height * want))
        w -= w % 2
        return (width - w) // 2, 0, w, height
    h = int(round(width / want))
    h -= h % 2
    return 0, (height - h) // 2, width, h


def resize_frames(frames: Sequence[np.ndarray], size: tuple[int, int]) -> tuple[list[np.ndarray], str]:
    """Centre-crop to the aspect of `size` = (W, H), then area-downscale (bicubic if enlarging).

    Returns (frames, a one-line description of what was done).
    """
    tw, th = size
    h, w = frames[0].shape[:2]
    x0, y0, cw, ch = centre_crop_box(w, h, tw, th)
    note = []
    if (cw, ch) != (w, h):
        note.append(f"centre crop {w}x{h} -> {cw}x{ch}")
    if (cw, ch) == (tw, th):
        out = [np.ascontiguousarray(f[y0 : y0 + ch, x0 : x0 + cw]) for f in frames]
        note.append("no resize")
        return out, "; ".join(note)
    if tw <= cw and th <= ch:
        from tokcodec.io import resize_area

        out = [resize_area(np.ascontiguousarray(f[y0 : y0 + ch, x0 : x0 + cw]), (tw, th)) for f in frames]
        note.append(f"area downscale to {tw}x{th}")
        return out, "; ".join(note)
    import torch
    import torch.nn.functional as F

    out = []
    for f in frames:
        x = torch.from_numpy(np.ascontiguousarray(f[y0 : y0 + ch, x0 : x0 + cw])).permute(2, 0, 1)[None].float()
        r = F.interpolate(x, size=(th, tw), mode="bicubic", align_corners=False)
        out.append(r[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
    note.append(f"bicubic upscale to {tw}x{th} (source smaller than the target)")
    return out, "; ".join(note)


# ----------------------------------------------------------------------------------------------
# the reference


def make_reference(src: ClipSource, frames: int, size: tuple[int, int] | None) -> Reference:
    """The benchmark reference of a clip: `frames` frames at `size` (see the module docstring).

    Raises InputError when the source has fewer frames than asked for (results
    are only comparable across runs at a fixed frame count).
    """
    from tokcodec.io.colour import rgb_to_yuv420, yuv420_to_rgb

    rgb, fps = read_source(src, frames)
    if len(rgb) < frames:
        raise InputError(f"{src.path}: has {len(rgb)} frames, the benchmark asks for {frames} (lower --frames)")
    src_h, src_w = rgb[0].shape[:2]
    if size is None:
        size = (src_w - src_w % 2, src_h - src_h % 2)
    if size[0] % 2 or size[1] % 2:
        raise InputError(f"the benchmark size must be even for 4:2:0, got {size[0]}x{size[1]}")
    rgb, note = resize_frames(rgb, size)
    ys, us, vs, back = [], [], [], []
    for f in rgb:
        y, u, v = rgb_to_yuv420(f, matrix=REF_MATRIX, full_range=REF_FULL_RANGE)
        ys.append(y)
        us.append(u)
        vs.append(v)
        back.append(yuv420_to_rgb(y, u, v, matrix=REF_MATRIX, full_range=REF_FULL_RANGE))
    return Reference(
        name=src.name,
        width=size[0],
        height=size[1],
        fps=fps,
        y=np.stack(ys),
        u=np.stack(us),
        v=np.stack(vs),
        rgb=np.stack(back),
        source=src.path,
        resize=f"{src_w}x{src_h}: {note}",
    )


def save_reference(ref: Reference, folder: str | os.PathLike) -> None:
    """Write `ref.yuv` (raw yuv420p) and `ref.json` (everything else) to a folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "ref.yuv.tmp"
    tmp.write_bytes(ref.yuv_bytes())
    os.replace(tmp, folder / "ref.yuv")
    meta = {
        "name": ref.name,
        "width": ref.width,
        "height": ref.height,
        "fps": ref.fps,
        "num_frames": ref.num_frames,
        "source": ref.source,
        "resize": ref.resize,
        "colour": COLOUR_NOTE,
        **ref.meta,
    }
    tmp = folder / "ref.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder / "ref.json")


def load_reference(folder: str | os.PathLike) -> Reference:
    """Read back what `save_reference` wrote (the RGB is recomputed from the planes)."""
    from tokcodec.io.colour import yuv420_to_rgb

    folder = Path(folder)
    meta = json.loads((folder / "ref.json").read_text())
    w, h, n = meta["width"], meta["height"], meta["num_frames"]
    y, u, v = yuv_bytes_to_planes((folder / "ref.yuv").read_bytes(), w, h, n)
    rgb = np.stack([yuv420_to_rgb(y[i], u[i], v[i], matrix=REF_MATRIX, full_range=REF_FULL_RANGE) for i in range(n)])
    extra = {
        k: val
        for k, val in meta.items()
        if k not in ("name", "width", "height", "fps", "num_frames", "source", "resize", "colour")
    }
    return Reference(meta["name"], w, h, float(meta["fps"]), y, u, v, rgb, meta["source"], meta["resize"], extra)


def yuv_bytes_to_planes(
    buf: bytes, width: int, height: int, num_frames: int, dtype=np.uint8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planar 4:2:0 bytes -> (Y (T,H,W), U, V (T,H/2,W/2)) of `dtype` (uint16 for 10-bit little-endian)."""
    cw, ch = (width + 1) // 2, (height + 1) // 2
    arr = np.frombuffer(buf, dtype=np.dtype(dtype).newbyteorder("<"))
    per = width * height + 2 * cw * ch
    if arr.size < per * num_frames:
        raise InputError(f"raw video holds {arr.size // per} frames, expected {num_frames}")
    arr = arr[: per * num_frames].reshape(num_frames, per)
    y = arr[:, : width * height].reshape(num_frames, height, width)
    u = arr[:, width * height : width * height + cw * ch].reshape(num_frames, ch, cw)
    v = arr[:, width * height + cw * ch :].reshape(num_frames, ch, cw)
    return y.astype(dtype), u.astype(dtype), v.astype(dtype)


def source_to_dict(src: ClipSource) -> dict:
    return asdict(src)
