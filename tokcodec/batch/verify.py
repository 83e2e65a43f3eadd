"""`--verify`: read an output back and compare it with what it should hold.

Each check returns None when the output is right, else what is wrong (one
line). Outputs are checked under their temporary names, before they are
committed, so an output that fails never appears under its final name.
"""

from __future__ import annotations

from pathlib import Path

from tokcodec.codec.container import ContainerReader, Header
from tokcodec.errors import TokcodecError


def check_container(path: Path, frames: int | None, size: tuple[int, int]) -> str | None:
    """Every GOP's tokens read back (all CRCs), and the header's frame count and size against the source."""
    try:
        from tokcodec.codec.tokens import iter_gops

        with ContainerReader(path) as reader:
            for _ in iter_gops(reader):
                pass
            h = reader.header
    except TokcodecError as e:
        return str(e).removeprefix(f"{path}: ")
    if frames is not None and h.frame_count != frames:
        return f"holds {h.frame_count} frames, the source {frames}"
    if h.display_size != size:
        return f"is {h.display_size[0]}x{h.display_size[1]}, the source {size[0]}x{size[1]}"
    return None


def check_video(path: Path, header: Header, side_packets: dict[str, int] | None = None) -> str | None:
    """A decoded output (video, PNG folder or image): frame count and size against the container's
    header, and the kept audio/subtitle streams' packets (by stream type) against the sidecar's."""
    from tokcodec.io import open_video

    width, height = header.display_size
    if path.is_dir() or path.suffix.lower() not in (".mp4", ".mkv"):
        try:
            with open_video(path) as reader:
                info = reader.info
        except TokcodecError as e:
            return str(e)
        found, got = info.num_frames, (info.width, info.height)
    else:
        found, got, packets = _count_packets(path)
        if side_packets and packets != side_packets:
            return f"kept streams have {packets} packets, the source {side_packets}"
        if path.suffix.lower() == ".mp4":  # 4:2:0: an odd width or height is padded by one (io.video.open_writer)
            width, height = width + width % 2, height + height % 2
    if found != header.frame_count:
        return f"holds {found} frames, the container {header.frame_count}"
    if got != (width, height):
        return f"is {got[0]}x{got[1]}, the container {width}x{height}"
    return None


def check_tokens(path: Path, frames: int | None) -> str | None:
    """An .npz export: every GOP's grid there with the shape its meta gives, and the frame count."""
    from tokcodec.codec.tokens import load_npz

    try:
        meta, grids = load_npz(path)
    except (OSError, ValueError, KeyError) as e:
        return f"unreadable export ({e})"
    ts, ss = meta["strides"]["temporal"], meta["strides"]["spatial"]
    for g, grid in zip(meta["gops"], grids):
        want = (1 + -(-(g["frames"] - 1) // ts), -(-meta["coded_height"] // ss), -(-meta["coded_width"] // ss))
        if tuple(grid.shape) != want or list(want) != g["shape"]:
            return f"{g['name']} has shape {tuple(grid.shape)}, {g['frames']} frames need {want}"
    if sum(g["frames"] for g in meta["gops"]) != meta["frames"] or (frames is not None and meta["frames"] != frames):
        return f"holds {meta['frames']} frames, the source {frames}"
    return None


def _count_packets(path: Path) -> tuple[int, tuple[int, int], dict[str, int]]:
    """Video packets (= frames), the video size, and packets per other stream type, without decoding."""
    import av

    with av.open(str(path)) as c:
        video = c.streams.video[0]
        counts: dict[str, int] = {}
        frames = 0
        for packet in c.demux():
            if packet.dts is None and packet.pts is None:
                continue
            if packet.stream.index == video.index:
                frames += 1
            else:
                counts[packet.stream.type] = counts.get(packet.stream.type, 0) + 1
        return frames, (video.codec_context.width, video.codec_context.height), counts
