"""What a video file holds besides the frames tokcodec codes: kept beside the tokens, put back on decode.

Encoding `a.mp4` to `a.mp4.tkc` also writes:

- `a.mp4.tkc.json`, the sidecar: the source's container and stream metadata,
  the video's frame rates, time base, start time, frame count, rotation (the
  display matrix), its timestamps when the frame rate is variable, every other
  stream and whether it was kept;
- `a.mp4.tkc.side.EXT` when the source has audio or subtitle streams: those
  streams stream-copied (bit-exact, no re-encoding) with PyAV into a file of
  the source's own format (EXT = its suffix: timestamps and codecs as they
  were), or into Matroska (`.side.mkv`) when that format cannot be written.
  If neither can take them, the source is refused and the reason recorded:
  a batch never drops sound silently.

Other streams (data tracks such as QuickTime timecode, attachments, a second
video) are not copied; the sidecar and the database's `notes` list them.

Decoding `a.mp4.tkc` decodes the frames to a temporary, then muxes them (stream
copy) with the side file's streams into the output, putting back the start
time (so sound stays in sync), the container metadata and the display matrix,
unless the frames were turned upright when they were read (`rotation_applied`
in the sidecar: then the output is upright and needs none). A variable frame
rate is recorded (`video.pts`) but the decoded video plays at the container's
constant rate.
"""

from __future__ import annotations

import errno
import heapq
import json
import re
import struct
from fractions import Fraction
from pathlib import Path

import av

from tokcodec.errors import InputError, OutputError

SIDECAR_VERSION = 1
SIDE_TYPES = ("audio", "subtitle")
FALLBACK_SIDE_SUFFIX = ".mkv"  # Matroska takes nearly every audio and subtitle codec
# Written by every muxer itself: not metadata to carry from the source.
_MUXER_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "vendor_id"}


def side_suffixes(source: Path) -> list[str]:
    """Formats to try for the side file, best first: the source's own, then Matroska."""
    from tokcodec.io.video import VIDEO_SUFFIXES

    own = source.suffix.lower()
    return list(dict.fromkeys(([own] if own in VIDEO_SUFFIXES and own != ".y4m" else []) + [FALLBACK_SIDE_SUFFIX]))


def probe(source: Path) -> dict:
    """The sidecar's description of `source` (no side file yet): container, video and other streams."""
    try:
        with av.open(str(source)) as c:
            video = c.streams.video[0] if c.streams.video else None
            return {
                "version": SIDECAR_VERSION,
                "source": {"name": source.name, "format": c.format.name, "metadata": dict(c.metadata)},
                "video": _describe(video) if video is not None else None,
                "streams": [{**_describe(s), "kept": False} for s in c.streams if s is not video],
                "side_file": None,
            }
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{source}: not a readable video or image ({reason(e)})") from None


def side_streams(sidecar: dict) -> list[int]:
    """Indices of the source streams that go into the side file."""
    return [s["index"] for s in sidecar["streams"] if s["type"] in SIDE_TYPES]


def scan(source: Path, sidecar: dict, side_dest: Path | None) -> None:
    """One demux pass over `source`: fills in the video's timing and rotation, and copies the side streams
    into `side_dest` (a path with the format's suffix) when given. Raises av/OS errors when the copy fails;
    the caller names the side file in `sidecar["side_file"]` once it has its final name."""
    wanted = set(side_streams(sidecar)) if side_dest is not None else set()
    with av.open(str(source)) as inp:
        video = inp.streams.video[0] if inp.streams.video else None
        copied = [s for s in inp.streams if s.index in wanted]
        out = av.open(str(side_dest), "w") if copied else None
        copied_all = False
        try:
            targets = {s.index: _copy_stream(out, s) for s in copied}
            if out is not None:
                out.metadata.update(_carried(inp.metadata))
            pts, matrix, packets = [], _NOT_YET, dict.fromkeys(targets, 0)
            for packet in inp.demux(*([video] if video is not None else []), *copied):
                if packet.dts is None and packet.pts is None:
                    continue  # the empty packets demux yields at the end of each stream
                index = packet.stream.index
                if video is not None and index == video.index:
                    if packet.pts is not None and not packet.is_discard:  # discard: cut by an edit list
                        pts.append(packet.pts)
                    if matrix is _NOT_YET:
                        matrix = _display_matrix(packet)
                    continue
                packet.stream = targets[index]
                out.mux(packet)
                packets[index] += 1
            copied_all = True
        finally:
            if out is not None:
                try:
                    out.close()  # writes the trailer: part of the copy
                except (av.FFmpegError, OSError):
                    if copied_all:
                        raise  # else the error that stopped the copy is the one to tell
    if video is not None:
        _add_timing(sidecar["video"], sorted(pts), video.time_base, None if matrix is _NOT_YET else matrix)
    for s in sidecar["streams"]:
        if s["index"] in targets:
            s.update(kept=True, packets=packets[s["index"]])


def kept_packets(sidecar: dict) -> dict[str, int]:
    """Packets of the side file's streams, by stream type ({"audio": 11}): what a decoded video must hold."""
    kept: dict[str, int] = {}
    for s in sidecar["streams"]:
        if s["kept"]:
            kept[s["type"]] = kept.get(s["type"], 0) + s["packets"]
    return kept


def notes(sidecar: dict) -> list[str]:
    """What was recorded rather than kept, one line each (the database's `notes`)."""
    lines = [
        f"stream {s['index']} ({', '.join(filter(None, (s['type'], s['codec'])))}) not kept: "
        "recorded in the .json sidecar"
        for s in sidecar["streams"]
        if not s["kept"]
    ]
    video = sidecar.get("video") or {}
    if video.get("pts"):
        lines.append("variable frame rate: the source's timestamps are recorded in the .json sidecar")
    return lines


def write_sidecar(path: Path, sidecar: dict) -> None:
    path.write_text(json.dumps(sidecar, indent=1) + "\n")


def read_sidecar(container: Path) -> dict | None:
    """The sidecar written beside `container` (a.mp4.tkc -> a.mp4.tkc.json), or None. It is untrusted
    input like the container (docs/security.md): every field tokcodec reads is checked here, within
    bounds, so a bad sidecar fails its file with one line instead of a hang or a traceback."""
    path = container.with_name(container.name + ".json")
    if not path.exists():
        return None
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise InputError(f"{path}: bad sidecar (over {MAX_SIDECAR_BYTES >> 20} MiB)")
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: unreadable sidecar ({e.strerror or e})") from None
    return parse_sidecar(data, str(path))


def parse_sidecar(data: bytes, name: str = "sidecar") -> dict:
    """A sidecar's bytes -> its dict, checked (sidecar_problem); InputError naming `name` otherwise."""
    try:
        sidecar = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise InputError(f"{name}: unreadable sidecar ({str(e).splitlines()[0][:200]})") from None
    if (problem := sidecar_problem(sidecar)) is not None:
        raise InputError(f"{name}: bad sidecar ({problem})")
    return sidecar


MAX_SIDECAR_BYTES = 256 << 20  # the timestamps of 2^24 frames fit
_FRACTION = re.compile(r"-?[0-9]{1,30}(/[1-9][0-9]{0,29})?")  # what str(Fraction) writes; no exponents
MAX_START_SECONDS = 10**9
MAX_STREAMS = 4096


def _text_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def sidecar_problem(d) -> str | None:
    """Why `d` is not a sidecar tokcodec can use, or None: the fields it reads, their types and bounds."""
    if not isinstance(d, dict):
        return "not a JSON object"
    side = d.get("side_file")
    if side is not None and (
        not isinstance(side, str) or side in ("", ".", "..") or len(side) > 255 or any(c in side for c in "/\\\0")
    ):
        return "side_file is not a plain file name"
    source = d.get("source")
    if not isinstance(source, dict) or not _text_map(source.get("metadata", {})):
        return "source is not an object with text metadata"
    video = d.get("video")
    if video is not None:
        if not isinstance(video, dict) or not _text_map(video.get("metadata", {})):
            return "video is not an object with text metadata"
        start = video.get("start", "0")
        if not isinstance(start, str) or not _FRACTION.fullmatch(start) or abs(Fraction(start)) > MAX_START_SECONDS:
            return f"video start {str(start)[:40]!r} is not a fraction of at most {MAX_START_SECONDS} seconds"
        matrix = video.get("display_matrix")
        if matrix is not None and not (
            isinstance(matrix, list) and len(matrix) == 9 and all(_int_in(v, -(2**31), 2**31 - 1) for v in matrix)
        ):
            return "display_matrix is not nine 32-bit integers"
        if not _int_in(video.get("rotation_applied") or 0, -360, 360):
            return "rotation_applied is not a number of degrees"
        pts = video.get("pts")
        if pts is not None and not (
            isinstance(pts, list) and len(pts) <= 1 << 24 and all(_int_in(v, -(2**62), 2**62) for v in pts)
        ):
            return "pts is not a list of timestamps"
        if not _int_in(video.get("frames") or 0, 0, 1 << 24):
            return "video frames out of range"
    streams = d.get("streams")
    if not isinstance(streams, list) or len(streams) > MAX_STREAMS:
        return f"streams is not a list of at most {MAX_STREAMS}"
    for st in streams:
        if not (
            isinstance(st, dict)
            and _int_in(st.get("index"), 0, 65535)
            and isinstance(st.get("type"), str)
            and isinstance(st.get("kept"), bool)
            and isinstance(st.get("codec"), (str, type(None)))
            and (not st["kept"] or _int_in(st.get("packets"), 0, 1 << 40))
            and _text_map(st.get("metadata", {}))
        ):
            return "a stream entry is malformed"
    encoded = d.get("encoded", {})
    if not isinstance(encoded, dict) or not all(
        _int_in(encoded.get(k) or 0, 0, 1 << 24) for k in ("frames", "width", "height")
    ):
        return "encoded is not frames, width and height"
    return None


def display_matrix(sidecar: dict | None) -> list[int] | None:
    """The display matrix a decoded video needs: the source's, unless its frames were coded upright."""
    video = (sidecar or {}).get("video") or {}
    return None if video.get("rotation_applied") else video.get("display_matrix")


def needs_remux(sidecar: dict | None) -> bool:
    """Whether a decoded video needs more than its frames: side streams, rotation, a start time."""
    if not sidecar:
        return False
    video = sidecar.get("video") or {}
    return bool(sidecar.get("side_file") or display_matrix(sidecar) or Fraction(video.get("start", "0")))


def remux(video_file: Path, side_file: Path | None, sidecar: dict, dest: Path) -> None:
    """Mux the decoded frames (`video_file`) and the side file's streams into `dest`, putting back the
    source's display matrix, video start time and container metadata."""
    side_in = None
    try:
        with av.open(str(video_file)) as video_in:
            side_in = av.open(str(side_file)) if side_file is not None else None
            with av.open(str(dest), "w") as out:
                video = video_in.streams.video[0]
                target = out.add_stream_from_template(video)
                facts = sidecar.get("video") or {}
                if display_matrix(sidecar):
                    target.set_display_matrix(display_matrix(sidecar))
                target.metadata.update(_carried(facts.get("metadata", {})))
                out.metadata.update(_carried(sidecar["source"].get("metadata", {})))
                shift = round(Fraction(facts.get("start", "0")) / video.time_base)
                feeds = [_packets(video_in, {video.index: target}, shift)]
                if side_in is not None:
                    feeds.append(_packets(side_in, {s.index: _copy_stream(out, s) for s in side_in.streams}, 0))
                for packet in heapq.merge(*feeds, key=lambda p: p.dts * p.time_base):
                    out.mux(packet)
    except (av.FFmpegError, OSError, ValueError) as e:  # ValueError: a codec the format cannot hold
        if is_disk_error(e):
            raise OutputError(f"cannot write {dest}: {reason(e)}") from None
        hint = " (try --to mkv)" if dest.suffix.lower() != ".mkv" else ""
        raise OutputError(f"cannot put the kept audio/subtitle streams into {dest.suffix}: {reason(e)}{hint}") from None
    finally:
        if side_in is not None:
            side_in.close()


# --- helpers ---------------------------------------------------------------------------------

_NOT_YET = object()


def _describe(s) -> dict:
    cc = s.codec_context
    d = {
        "index": s.index,
        "type": s.type,
        "codec": cc.name if cc is not None else None,
        "time_base": str(s.time_base) if s.time_base else None,
        "start": s.start_time,
        "duration": s.duration,
        "metadata": dict(s.metadata),
    }
    if s.type == "audio":
        d.update(sample_rate=cc.sample_rate, channels=cc.channels, layout=cc.layout.name)
    elif s.type == "video":
        d.update(
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt,
            **{k: str(getattr(s, k)) if getattr(s, k) else None for k in ("average_rate", "base_rate", "guessed_rate")},
        )
    return d


def _add_timing(video: dict, pts: list[int], time_base: Fraction, matrix: list[int] | None) -> None:
    """Frame count, start time and rotation; the timestamps themselves only when they are not evenly spaced."""
    steps = {b - a for a, b in zip(pts, pts[1:])}
    video.update(
        frames=len(pts),
        start=str(Fraction(pts[0]) * time_base if pts else Fraction(0)),
        display_matrix=matrix,
        rotation=_rotation(matrix),
    )
    if max(steps, default=0) - min(steps, default=0) > 1:  # a tick of rounding is still constant
        video["pts"] = pts


def _display_matrix(packet) -> list[int] | None:
    """The display matrix of the first frame this packet decodes to (None: no rotation); _NOT_YET when
    the decoder has not given a frame yet (B-frames)."""
    try:
        frames = packet.decode()
    except (av.FFmpegError, ValueError):
        return None  # unreadable: the encode itself will say so
    if not frames:
        return _NOT_YET
    for sd in frames[0].side_data:
        if sd.type.name == "DISPLAYMATRIX":
            return list(struct.unpack("<9i", bytes(sd)))
    return None


def _rotation(matrix: list[int] | None) -> float | None:
    """Degrees counter-clockwise, as FFmpeg reads a display matrix (for people; decode uses the matrix)."""
    if not matrix:
        return None
    import math

    return round(-math.degrees(math.atan2(matrix[1], matrix[0])), 3)


def _copy_stream(out, stream):
    target = out.add_stream_from_template(stream)
    target.metadata.update(_carried(stream.metadata))
    return target


def _packets(container, targets: dict, shift: int):
    """Packets of `targets`' streams, re-pointed at their output streams (flush packets left out)."""
    for packet in container.demux(*[container.streams[i] for i in targets]):
        if packet.dts is None:
            continue
        if shift:
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
        packet.stream = targets[packet.stream.index]
        yield packet


def _carried(metadata: dict) -> dict:
    return {k: v for k, v in metadata.items() if k.lower() not in _MUXER_KEYS}


def is_disk_error(e: BaseException) -> bool:
    """A full disk, a quota or a file size limit: a problem of the destination, not of the streams."""
    return getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.splitlines()[0]
