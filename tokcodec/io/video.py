"""Read and write video, frame folders and images as RGB uint8 frames.

PyAV (FFmpeg) demuxes, decodes and encodes; the RGB <-> Y'CbCr maths is done
by `colour.py` so that a source's colour tags are honoured, not guessed by
swscale. Readers stream: only the frame being handed out is held in memory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

import av
import numpy as np

from tokcodec.errors import InputError, OutputError
from tokcodec.io.atomic import FinishOrAbort, atomic_output
from tokcodec.io.colour import (
    BT709_LIMITED,
    ColourInfo,
    default_matrix,
    rgb_to_yuv,
    rgb_to_yuv420,
    tagged_colour,
    yuv_to_rgb,
)
from tokcodec.io.frames import resize_area

# ffmpeg renders text files as video (ANSI art, subtitles): not input a user means.
_TEXT_DEMUXERS = {"tty", "srt", "ass", "webvtt"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# What folder scans (training data, benchmarks) take for video files; open_video reads anything ffmpeg does.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".mpg", ".mpeg", ".webm", ".y4m", ".ts", ".m4v", ".flv", ".wmv")
DEFAULT_IMAGE_FPS = Fraction(25)
# Planar Y'CbCr that colour.py converts directly (4:2:0, 4:2:2, 4:4:4, 4:4:0; 8 bits
# or little-endian 9-16 bits); other Y'CbCr layouts are first repacked to yuv444p.
_PLANAR_YUV = re.compile(r"yuvj?4[24][04]p(?:(\d+)le)?")


@dataclass(frozen=True)
class VideoInfo:
    width: int  # of the frames as delivered: upright (after `rotation`)
    height: int
    fps: Fraction  # for a variable-rate source, the average rate (duration kept), see `variable_rate`
    num_frames: int | None  # None when the container does not say
    # How the frames were decoded: for Y'CbCr sources the matrix and range used
    # (untagged: BT.601 below 720 lines, BT.709 from 720, limited range), with
    # primaries/transfer as tagged (2 = unspecified); RGB sources have matrix 0.
    colour: ColourInfo
    # What the source had that the RGB frames do not carry as such:
    rotation: int = 0  # display rotation (degrees counterclockwise: 0, 90, 180, 270), already applied
    bit_depth: int = 8  # bits per sample of the source; frames are 8-bit
    alpha: bool = False  # the source had an alpha channel; frames are RGB (alpha dropped)
    variable_rate: bool = False  # irregular timestamps: frames are coded at the constant `fps`

    @property
    def notes(self) -> list[str]:
        """One line per thing the coded video loses or changes, for the user (empty: nothing)."""
        notes = []
        if self.rotation:
            notes.append(
                f"rotated {self.rotation} degrees counterclockwise to upright, as the source's "
                "display rotation asks (coded upright, the rotation tag is not kept)"
            )
        if self.variable_rate:
            notes.append(
                f"variable frame rate: coded at its average rate ({float(self.fps):.4g} fps), which keeps "
                "the duration but not each frame's timestamp"
            )
        if self.bit_depth > 8:
            notes.append(f"{self.bit_depth}-bit source: coded at 8 bits per sample")
        if self.alpha:
            notes.append("the alpha channel (transparency) is dropped: tokcodec codes RGB")
        return notes


class VideoReader:
    """Iterating yields RGB uint8 (H, W, 3) frames, once: a reader is one pass
    over a stream. Close it (or use `with`) to release the file.

    Made by open_video(); other code may wrap in-memory frames as a reader too:
    VideoReader(path_for_messages, info, frames_iterable, close=lambda: None).
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        frames: Iterable[np.ndarray],
        close: Callable[[], None] = lambda: None,
    ):
        self.path = Path(path)
        self.info = info
        self._frames = frames
        self._close = close
        self._iterated = False
        self.frames_read = 0
        self.exhausted = False  # the source has no more frames (not merely: the caller stopped)
        self._stop_reason: str | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeError(f"{self.path}: a VideoReader can be iterated only once; open it again")
        self._iterated = True
        return self._counted()

    def _counted(self) -> Iterator[np.ndarray]:
        frames = iter(self._frames)
        while True:
            try:
                frame = next(frames)
            except StopIteration as stop:
                # A frame generator returns why it stopped early (a damaged or cut file), else None.
                self._stop_reason, self.exhausted = stop.value, True
                return
            self.frames_read += 1
            yield frame

    @property
    def ended_early(self) -> str | None:
        """Why the source gave fewer frames than it announced (a cut or damaged file), or None.

        Known only once the frames have been read to the end."""
        if not self.exhausted:
            return None
        announced = self.info.num_frames
        of = f" of the {announced} it announces" if announced else ""
        if self._stop_reason:
            return f"{self.path}: {self._stop_reason}: read {self.frames_read} frames{of}"
        if announced and self.frames_read < announced:
            return (
                f"{self.path}: ended after {self.frames_read} of the {announced} frames it announces "
                "(a cut or damaged file?)"
            )
        return None

    def close(self) -> None:
        if hasattr(self._frames, "close"):
            self._frames.close()  # a generator: release what it holds now
        self._close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | os.PathLike, fps: Fraction | int | str | None = None) -> VideoReader:
    """Open a video file (anything FFmpeg reads, y4m included), a folder of image
    frames (sorted by name, numbers compared as numbers) or a single image (a
    one-frame video).

    `fps` overrides the frame rate; images and frame folders default to 25.
    Raises InputError, with a one-line message naming the file, when the input
    cannot be read.
    """
    path = Path(path)
    fps = _fraction(fps) if fps is not None else None
    if path.is_dir():
        return _open_folder(path, fps)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_file():  # FFmpeg would block on a FIFO, or read a device forever
        raise InputError(f"{path}: not a regular file (a pipe or device); save the video to a file first")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    return _open_file(path, fps)


def read_frames(
    path: str | os.PathLike,
    max_frames: int | None = None,
    size: tuple[int, int] | None = None,
    fps: Fraction | int | str | None = None,
) -> tuple[list[np.ndarray], VideoInfo]:
    """Read up to `max_frames` frames into memory, each resized to size = (W, H)
    by area averaging (`frames.resize_area`) if given. The returned info
    describes the returned frames (their size and count)."""
    with open_video(path, fps=fps) as reader:
        frames = [resize_area(f, size) if size else f for f in islice(reader, max_frames)]
    width, height = size or (reader.info.width, reader.info.height)
    return frames, replace(reader.info, width=width, height=height, num_frames=len(frames))


# --- reading -------------------------------------------------------------------


def _open_file(path: Path, fps: Fraction | None) -> VideoReader:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{path}: not a readable video or image ({_reason(e)})") from None
    try:
        if not container.streams.video or container.format.name in _TEXT_DEMUXERS:
            raise InputError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded = container.decode(stream)
        first = _next_frame(decoded, path, 0)
        if first is None:
            raise InputError(f"{path}: contains no video frames")
        colour = _frame_colour(first)
        variable = False
        if path.suffix.lower() in IMAGE_SUFFIXES:
            rate, count = fps or DEFAULT_IMAGE_FPS, 1
        else:
            count = stream.frames or None
            average = None if fps else _variable_rate(path, stream.index)
            variable = average is not None
            rate = fps or average or _stream_rate(stream)
        turns = round((first.rotation or 0) / 90) % 4  # quarter turns counterclockwise to upright
        width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
        fmt = first.format
        info = VideoInfo(
            width,
            height,
            rate,
            count,
            colour,
            rotation=90 * turns,
            bit_depth=max(c.bits for c in fmt.components),
            alpha=any(c.is_alpha for c in fmt.components),
            variable_rate=variable,
        )
    except BaseException:
        container.close()
        raise
    return VideoReader(path, info, _file_frames(path, decoded, first, colour, turns), container.close)


def _file_frames(path: Path, decoded, first: av.VideoFrame, colour: ColourInfo, turns: int = 0) -> Iterator[np.ndarray]:
    """Upright RGB frames; returns (as StopIteration's value) why it stopped early, if it did."""
    frame, index = first, 0
    while frame is not None:
        if (frame.width, frame.height) != (first.width, first.height):
            raise InputError(f"{path}: frame {index} is {frame.width}x{frame.height}, not {first.width}x{first.height}")
        rgb = _frame_to_rgb(frame, colour)
        yield np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
        index += 1
        try:
            frame = _next_frame(decoded, path, index)
        except InputError as e:  # a cut or damaged file: keep what was read, say why it stopped
            return str(e).removeprefix(f"{path}: ")
    return None


def _variable_rate(path: Path, index: int) -> Fraction | None:
    """The average frame rate of stream `index` when its timestamps are irregular (else None).

    Reads the packets' timestamps only (no decoding). The average is frames over
    duration (the last frame lasting as long as the one before it), so the
    coded video lasts as long as the source.
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams[index]
            stamps = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
            base = stream.time_base
    except (av.FFmpegError, OSError):
        return None
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    if len(steps) < 2 or min(steps) <= 0 or not base:
        return None
    if max(steps) - min(steps) <= max(1, sorted(steps)[len(steps) // 2] // 4):
        return None  # regular, up to tick rounding (e.g. 30000/1001 fps in a 1/15360 time base)
    seconds = (stamps[-1] - stamps[0] + steps[-1]) * Fraction(base)  # the last frame lasts like the one before
    return (len(stamps) / seconds).limit_denominator(100000)


def _next_frame(decoded, path: Path, index: int) -> av.VideoFrame | None:
    try:
        return next(decoded, None)
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{path}: cannot decode frame {index} ({_reason(e)})") from None


def _open_folder(path: Path, fps: Fraction | None) -> VideoReader:
    files = sorted((p for p in path.iterdir() if _is_frame_file(p)), key=_natural_key)
    if not files:
        raise InputError(f"{path}: folder has no image files ({', '.join(IMAGE_SUFFIXES)})")
    with _open_file(files[0], None) as first:
        info = replace(first.info, fps=fps or DEFAULT_IMAGE_FPS, num_frames=len(files))

    def frames() -> Iterator[np.ndarray]:
        for file in files:
            with _open_file(file, None) as image:
                if (image.info.width, image.info.height) != (info.width, info.height):
                    raise InputError(
                        f"{file}: image is {image.info.width}x{image.info.height}, "
                        f"not {info.width}x{info.height} like {files[0].name}"
                    )
                yield next(iter(image))

    return VideoReader(path, info, frames())


def _is_frame_file(path: Path) -> bool:
    # Hidden files are skipped: macOS leaves "._0001.png" next to 0001.png.
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def _natural_key(path: Path) -> list:
    # "frame2" before "frame10"; zero-padded names sort the same either way.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _is_yuv(fmt: av.VideoFormat) -> bool:
    return not (fmt.is_rgb or fmt.has_palette or fmt.is_bayer) and len(fmt.components) >= 3


def _frame_colour(frame: av.VideoFrame) -> ColourInfo:
    primaries, transfer = int(frame.color_primaries), int(frame.color_trc)
    if not _is_yuv(frame.format):
        return ColourInfo(primaries, transfer, matrix=0, full_range=True)
    # yuvj* are FFmpeg's (deprecated) full-range formats, often left untagged.
    full_range = int(frame.color_range) == 2 or frame.format.name.startswith("yuvj")
    return tagged_colour(primaries, transfer, int(frame.colorspace), full_range, frame.height)


def _frame_to_rgb(frame: av.VideoFrame, colour: ColourInfo) -> np.ndarray:
    if not colour.is_yuv:
        # RGB, palette or grey: swscale only repacks samples, no matrix involved.
        return frame.to_ndarray(format="rgb24")
    match = _PLANAR_YUV.fullmatch(frame.format.name)
    if match is None:
        # nv12, yuv411p, yuva420p, ...: resample the chroma only; the matrix stays ours.
        frame = frame.reformat(format="yuv444p")
        bits = 8
    else:
        bits = int(match.group(1) or 8)
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    y, u, v = (_plane(frame, i, dtype) for i in range(3))
    return yuv_to_rgb(y, u, v, matrix=colour.matrix, full_range=colour.full_range, bits=bits)


def _plane(frame: av.VideoFrame, index: int, dtype=np.uint8) -> np.ndarray:
    """A (height, width) view of one plane, without the row padding (writable)."""
    plane = frame.planes[index]
    dtype = np.dtype(dtype)
    strides = (plane.line_size, dtype.itemsize)
    return np.ndarray((plane.height, plane.width), dtype, buffer=plane, strides=strides)


def _stream_rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return DEFAULT_IMAGE_FPS


# --- writing -------------------------------------------------------------------


class VideoWriter(FinishOrAbort):
    """`write(frame)` RGB uint8 (height, width, 3) frames, then `close()`.

    The output appears only on a successful close(); abort(), or an exception
    inside `with open_writer(...)`, deletes the temporary.
    """

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, out):
        self.path, self.width, self.height, self.fps = path, width, height, fps
        self.frames_written = 0
        self._out = out
        self._open = True

    def write(self, frame: np.ndarray) -> None:
        if not self._open:
            raise RuntimeError(f"{self.path}: writer is closed")
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise ValueError(
                f"expected a uint8 ({self.height}, {self.width}, 3) frame, got {frame.dtype} {frame.shape}"
            )
        try:
            self._write(np.ascontiguousarray(frame))
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_reason(e)}") from None
        self.frames_written += 1

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._finish()
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_reason(e)}") from None
        except BaseException:
            self.abort()
            raise
        self._out.commit()

    def abort(self) -> None:
        self._open = False
        try:
            self._release()
        finally:
            self._out.discard()

    # Subclasses: encode one frame, flush and close, release without flushing.
    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


def open_writer(
    path: str | os.PathLike,
    width: int,
    height: int,
    fps: Fraction | int | str,
    colour: ColourInfo | None = None,
    force: bool = False,
    crf: int | None = None,
) -> VideoWriter:
    """A writer chosen by the output name:

    - `.mp4`: H.264 (libx264 crf 12, or `crf`), 4:2:0, tagged with `colour` when it names
      a Y'CbCr matrix, else BT.709 limited range. 4:2:0 needs even sizes: an odd
      width or height is padded by repeating the last column/row, so the file
      is one pixel wider/taller than the frames.
    - `.mkv`: FFV1, lossless 8-bit RGB (bit-exact, any size).
    - `.y4m`: 4:4:4 limited range; y4m cannot carry a matrix, so it is converted
      with the one readers assume for its height (BT.601 below 720 lines).
    - a PNG folder: a path ending in "/" or with no suffix (frames 00000.png,
      00001.png, ...), or a pattern such as "out/frame_%04d.png". Bit-exact. A
      folder does not record the frame rate (readers assume 25 unless told).
    - one image, `.png` (bit-exact) or `.jpg`/`.jpeg` (quality 95): exactly
      one frame (an image stays an image); a second frame is an error.

    Raises OutputError if the output exists and not `force`, or if it cannot be
    written.
    """
    fps = _fraction(fps)
    text = os.fspath(path)
    path = Path(path)
    if text.endswith(("/", os.sep)) or not path.suffix:
        return _PngWriter(path, "%05d.png", width, height, fps, force)
    if "%" in path.name and path.suffix.lower() == ".png":
        return _PngWriter(path.parent, path.name, width, height, fps, force)
    if is_image_path(path):
        return _ImageWriter(path, width, height, fps, force)
    spec = _AV_FORMATS.get(path.suffix.lower())
    if spec is None:
        raise OutputError(
            f"{path}: unknown output type '{path.suffix}' (use .mp4, .mkv, .y4m, "
            "a folder ending in / or a pattern like frames/%05d.png)"
        )
    if crf is not None:
        if path.suffix.lower() != ".mp4":
            raise OutputError(f"{path}: a crf applies to .mp4 outputs only")
        spec = replace(spec, options={**spec.options, "crf": str(int(crf))})
    return _AvWriter(path, spec, width, height, fps, colour, force)


@dataclass(frozen=True)
class _AvFormat:
    codec: str
    pix_fmt: str
    options: dict


_AV_FORMATS = {
    ".mp4": _AvFormat("libx264", "yuv420p", {"crf": "12"}),
    # FFV1 takes 8-bit RGB as bgr0 (stored losslessly with its reversible colour
    # transform); every frame a keyframe so a damaged file stays seekable.
    ".mkv": _AvFormat("ffv1", "bgr0", {"level": "3", "g": "1"}),
    ".y4m": _AvFormat("rawvideo", "yuv444p", {}),
}


class _AvWriter(VideoWriter):
    def __init__(self, path, spec: _AvFormat, width, height, fps, colour: ColourInfo | None, force):
        super().__init__(path, width, height, fps, atomic_output(path, force))
        self._pix_fmt = spec.pix_fmt
        if spec.pix_fmt == "yuv420p":
            self._stored = colour if colour is not None and colour.is_yuv else BT709_LIMITED
        elif spec.pix_fmt == "yuv444p":  # y4m
            self._stored = ColourInfo(matrix=default_matrix(height), full_range=False)
        else:
            self._stored = replace(colour or BT709_LIMITED, matrix=0, full_range=True)  # RGB
        # 4:2:0 codes whole 2x2 blocks.
        pad = 2 if spec.pix_fmt == "yuv420p" else 1
        self._coded = (width + width % pad, height + height % pad)
        try:
            self._container = av.open(str(self._out.tmp), "w")
            stream = self._container.add_stream(spec.codec, rate=fps, options=dict(spec.options))
            stream.width, stream.height = self._coded
            stream.pix_fmt = spec.pix_fmt
            cc, c = stream.codec_context, self._stored
            cc.color_primaries, cc.color_trc, cc.colorspace = c.primaries, c.transfer, c.matrix
            cc.color_range = 2 if c.full_range else 1
            self._stream = stream
        except (av.FFmpegError, OSError, ValueError, OverflowError) as e:
            self.abort()
            raise OutputError(f"cannot write {path}: {_reason(e)}") from None
        except BaseException:
            self.abort()  # no temporary left behind, whatever went wrong
            raise

    def _write(self, frame: np.ndarray) -> None:
        coded_w, coded_h = self._coded
        if (coded_w, coded_h) != (self.width, self.height):
            pad = ((0, coded_h - self.height), (0, coded_w - self.width), (0, 0))
            frame = np.pad(frame, pad, mode="edge")
        c = self._stored
        if self._pix_fmt == "bgr0":
            av_frame = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="bgr0")
        else:
            convert = rgb_to_yuv420 if self._pix_fmt == "yuv420p" else rgb_to_yuv
            av_frame = av.VideoFrame(coded_w, coded_h, self._pix_fmt)
            for i, plane in enumerate(convert(frame, matrix=c.matrix, full_range=c.full_range)):
                _plane(av_frame, i)[:] = plane
        av_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(av_frame))

    def _finish(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def _release(self) -> None:
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError):
                pass  # the file is deleted next anyway


_FRAME_PATTERN = re.compile(r"[^%/\\]*%0?\d{0,2}d[^%/\\]*")  # one %d (maybe zero-padded), no other %


class _PngWriter(VideoWriter):
    def __init__(self, folder: Path, pattern: str, width, height, fps, force):
        if not _FRAME_PATTERN.fullmatch(pattern):
            raise OutputError(f"{folder / pattern}: bad frame name pattern (use one %d, e.g. %05d.png)")
        out = atomic_output(folder, force, folder_of=pattern)
        super().__init__(folder, width, height, fps, out)
        self._pattern = pattern
        self._codec = av.CodecContext.create("png", "w")
        self._codec.width, self._codec.height, self._codec.pix_fmt = width, height, "rgb24"

    def _write(self, frame: np.ndarray) -> None:
        packets = self._codec.encode(av.VideoFrame.from_ndarray(frame, format="rgb24"))
        name = self._pattern % self.frames_written
        (self._out.tmp / name).write_bytes(b"".join(bytes(p) for p in packets))

    def _finish(self) -> None:
        pass

    def _release(self) -> None:
        pass


SINGLE_IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def is_image_path(path: str | os.PathLike) -> bool:
    """An output that holds exactly one frame: a .png/.jpg name that is not a frame pattern."""
    path = Path(path)
    return path.suffix.lower() in SINGLE_IMAGE_SUFFIXES and "%" not in path.name


class _ImageWriter(VideoWriter):
    def __init__(self, path: Path, width, height, fps, force):
        super().__init__(path, width, height, fps, atomic_output(path, force))
        self._format = SINGLE_IMAGE_SUFFIXES[path.suffix.lower()]

    def _write(self, frame: np.ndarray) -> None:
        if self.frames_written:
            raise OutputError(f"{self.path} holds one image; write more frames to a folder (out/) or a video")
        from PIL import Image

        options = {"quality": 95} if self._format == "JPEG" else {}
        Image.fromarray(frame).save(self._out.tmp, format=self._format, **options)

    def _finish(self) -> None:
        pass

    def _release(self) -> None:
        pass


def _fraction(fps: Fraction | int | str) -> Fraction:
    # str() first so that 29.97 becomes 2997/100, not the nearest binary float.
    rate = Fraction(str(fps))
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return rate


def _reason(e: BaseException) -> str:
    """A one-line reason from an FFmpeg/OS error, without errno noise."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.splitlines()[0]
