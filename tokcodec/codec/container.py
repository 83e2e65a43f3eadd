"""The .tkc container, version 1: header, one chunk per GOP, chunk index, footer.

The normative description is bitstream_spec/SPEC.md; section numbers below refer
to it. Everything is little-endian. In short:

    header   magic, version, header_length, video and model fields,
             extension records (e.g. DISP, the display size), CRC32          (3)
    chunk    32-byte chunk header (marker, GOP index, sizes, CRCs, colour
             offset) + payload                                               (4)
    ...      one chunk per GOP, in GOP order
    index    "TKCI", count, one 24-byte entry per chunk, CRC32               (5)
    footer   u64 offset of the index, "TKCE"                                 (5)

Writing: `ContainerWriter(dest, header)`, then `write_chunk(...)` per GOP, then
`close()`; or `write_container(dest, header, tokens_per_gop)`.
Reading: `ContainerReader(src)`: `.header`, `.chunks`, `.read_tokens(i)`.
Problems in a file raise `ContainerError("<file>: <problem>", code)`, `code`
being the error's number in SPEC 7.1 (`Err`); misuse of the writer (wrong
shapes, out-of-range tokens, values past the limits of SPEC 3.5) raises
ValueError.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import math
import os
import stat
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Callable, Iterable, Sequence

import numpy as np

from tokcodec.codec.packing import pack_tokens, packed_size, unpack_tokens
from tokcodec.errors import ContainerError, OutputError
from tokcodec.io.atomic import FinishOrAbort, atomic_output  # temp name + rename; OutputError

VERSION = 1
MAGIC = b"\x89TKC\r\n\x1a\n"
CHUNK_MARKER = b"TKCG"
INDEX_MARKER = b"TKCI"
FOOTER_MARKER = b"TKCE"
ENTROPY_MODES = {0: "bit-packed", 1: "MLM range coded"}  # SPEC 6.1, 6.2
RESAMPLERS = {1: "bicubic"}  # DISP resampler codes (SPEC 3.4)
DISP_TAG = b"DISP"
QUAN_TAG = b"QUAN"
QUANTIZERS = {1: "lfq", 2: "fsq"}  # QUAN record kinds (SPEC 3.4, A.2)

_PREFIX = struct.Struct("<8sII")  # magic, version, header_length: the same in every version
_FIXED = struct.Struct("<8sIIIIIII4BIBBBBB3x32s32s")  # bytes 0..115 of the v1 header
_CHUNK = struct.Struct("<4sIIIII3bx")  # chunk header without its trailing CRC (28 bytes)
_ENTRY = struct.Struct("<QIIII")  # index entry: offset, num_frames, payload_length, 2 CRCs
_FOOTER = struct.Struct("<Q4s")
_RECORD = struct.Struct("<4sI")  # header extension record head: tag, body length (SPEC 3.4)
_DISP = struct.Struct("<IIB")  # DISP body: display width, display height, resampler
CHUNK_HEADER_SIZE = _CHUNK.size + 4  # 32
INDEX_ENTRY_SIZE = _ENTRY.size  # 24
INDEX_OVERHEAD = 8 + 4  # index marker and count, index CRC: the index without its entries
FOOTER_SIZE = _FOOTER.size  # 12
MIN_HEADER_SIZE = _FIXED.size + 2 + 2 + 4  # 124: fixed part, two empty names, CRC
MAX_HEADER_SIZE = 1 << 20

# Limits (SPEC 3.5): a writer stays within them, a decoder rejects a file past them
# (Err.LIMIT), so that no header can make a decoder allocate or loop without bound.
MAX_DIMENSION = 16384  # width, height, display_width, display_height
MAX_PIXELS = 1 << 26  # width * height, and display_width * display_height (8K UHD is 2^25)
MAX_UPSCALE = 8  # display_width <= 8 * width, display_height <= 8 * height
MAX_FRAMES = 1 << 24  # frame_count
MAX_GOP_LENGTH = 1024
MAX_RATE_TERM = (1 << 31) - 1  # fps_num, fps_den (they fit a signed 32-bit rational, as FFmpeg's)
MIN_FPS, MAX_FPS = Fraction(1, 86400), Fraction(1000)  # one frame a day .. 1000 frames a second
MAX_TOKENS_PER_CHUNK = 1 << 22  # T' * H' * W' of a GOP
MAX_PAYLOAD = 1 << 24  # payload_length of a chunk, every mode (mode 0 at 32 bits needs 2^24)
# A file's output, frame_count * max(display pixels, 4096), is at most 2^20 per file byte.
# Complete files stay below 2^17 (a token of >= 1 bit codes <= 4 * 8 * 8 pixels, shown
# <= 8 * 8 times larger); real ones near 2^10, so a file cut to a thousandth still
# decodes, while a few hundred bytes cannot ask for terabytes of frozen frames.
MAX_OUTPUT_PER_BYTE = 1 << 20
MIN_FRAME_UNITS = 4096  # a frame counts as at least this many pixels (per-frame work)
# Entropy mode 1's decode work (SPEC 3.5, revision 1.4): the token prior runs once per group of a latent
# frame, on the whole frame, so a GOP costs T' * 4 * max(H' * W', 256) "prior positions" (4: the most
# groups a schedule has; 256: a pass over fewer positions costs as much per position, measured), and a
# file may announce at most 64 of them per byte. Real clips need 2-30 (a black 640x360 clip under
# tc-2.1 and mlm-tc-2.1: 28), so only near-empty payloads are padded; the costliest legal file takes
# ~4.5 s per KB on a 2-core CPU (tools/mode1_work.py, SPEC 3.5), an unbounded one hours per KB.
PRIOR_PASSES_PER_FRAME = 4
MIN_PASS_POSITIONS = 256
MAX_PRIOR_WORK_PER_BYTE = 64
TAG_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class Err(enum.IntEnum):
    """The numbered errors of SPEC 7.1, in order of precedence (the first that applies is reported).

    1-13 concern the whole file, 20-25 one chunk, 30-32 the model a file names (and, in entropy
    mode 1, its token prior: then they stop the file, SPEC 7.2).
    """

    BAD_MAGIC = 1  # not a tokcodec file
    SHORT_FILE = 2  # shorter than the 16 bytes of magic, version and header_length
    UNSUPPORTED_VERSION = 3
    BAD_HEADER_LENGTH = 4  # header_length outside 124..1048576
    SHORT_HEADER = 5  # the file is shorter than header_length
    HEADER_CRC = 6  # damaged header
    INVALID_HEADER = 7  # CRC valid, but a field, a name or the extension area is not
    UNKNOWN_BIT_ORDER = 8
    UNKNOWN_MODE = 9  # entropy_mode 2..255
    LIMIT = 10  # a field past the limits of SPEC 3.5
    SHORT_FOR_GOPS = 11  # shorter than the header plus one chunk header per GOP
    MODE_UNSUPPORTED = 12  # a known entropy mode (1) this decoder cannot decode
    INDEX_UNUSABLE = 13  # index or footer missing or damaged (a decoder that does not scan stops here)
    CHUNK_MISSING = 20  # the GOP's chunk was not found (scanning)
    CHUNK_HEADER = 21  # chunk header marker or CRC wrong
    CHUNK_INDEX_MISMATCH = 22  # chunk header disagrees with the index entry
    PAYLOAD_LENGTH = 23  # past the limit, or not the length the grid needs (mode 0), or not 1 + 4k (mode 1)
    PAYLOAD_CRC = 24  # damaged payload
    TOKENS_MISMATCH = 25  # payload intact, but it does not decode (mode 1) or to tokens != tokens_crc32
    MODEL_UNKNOWN = 30  # no network of that model name
    MODEL_HASH = 31  # weights whose SHA-256 differs from weights_sha256
    MODEL_MISMATCH = 32  # the header's strides or token bits differ from the model's


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, as zlib and PNG compute it (polynomial 0x04C11DB7, reflected)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def tokens_crc32(tokens: np.ndarray) -> int:
    """CRC32 of tokens as little-endian uint32, raster order (t, y, x) (SPEC 4.2)."""
    return crc32(np.ascontiguousarray(tokens).astype("<u4").tobytes())


def quantizer_problem(quantizer: str, levels: tuple[int, ...], token_bits: int) -> str | None:
    """Why a QUAN record's contents are invalid (SPEC 3.4), or None."""
    if quantizer in ("", "lfq"):
        return None if not levels else f"{quantizer or 'no'} quantizer with FSQ levels"
    if quantizer != "fsq":
        return f"unknown quantizer {quantizer!r}"
    if not 1 <= len(levels) <= 255 or not all(2 <= v <= 255 for v in levels) or math.prod(levels) != 2**token_bits:
        return f"FSQ levels {list(levels)} do not make {token_bits}-bit tokens"
    return None


@dataclass
class Header:
    """The header fields (SPEC 3). `frame_count=0` given to a writer means "set at close"."""

    width: int
    height: int
    frame_count: int
    fps_num: int
    fps_den: int
    gop_length: int
    model_name: str
    weights_hash: bytes  # sha256 of the tokenizer weights, 32 bytes
    colour_primaries: int = 2  # H.273 code points; 2 = unspecified
    transfer_characteristics: int = 2
    matrix_coefficients: int = 2
    full_range: bool = False
    token_bits: int = 18
    bit_order: int = 0  # 0: token bit i = sign of latent channel i
    temporal_stride: int = 4
    spatial_stride: int = 8
    entropy_mode: int = 0  # 0: bit-packed; 1: range coded under the token prior mlm_name (SPEC 6.2)
    mlm_name: str = ""
    mlm_hash: bytes = bytes(32)
    # DISP record (SPEC 3.4): frames are decoded at width x height, then resized to this
    # size. 0 x 0 = no record: shown at the coded size.
    display_width: int = 0
    display_height: int = 0
    resampler: int = 1  # 1: bicubic (RESAMPLERS)
    # QUAN record (SPEC 3.4): how a token maps to latent values (A.2), for readers without the
    # model. "" = no record; "lfq", or "fsq" with its levels (product 2^token_bits).
    quantizer: str = ""
    fsq_levels: tuple[int, ...] = ()

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) the decoded frames are shown at: the DISP size, else the coded size."""
        if self.display_width:
            return self.display_width, self.display_height
        return self.width, self.height

    @property
    def num_gops(self) -> int:
        return -(-self.frame_count // self.gop_length)

    def gop_frames(self, i: int) -> int:
        """Number of frames in GOP `i` (the last GOP may be shorter)."""
        return min(self.gop_length, self.frame_count - i * self.gop_length)

    def latent_shape(self, num_frames: int) -> tuple[int, int, int]:
        """Token grid (T', H', W') of a GOP of `num_frames` frames (SPEC 2)."""
        ts, ss = self.temporal_stride, self.spatial_stride
        return (1 + -(-(num_frames - 1) // ts), -(-self.height // ss), -(-self.width // ss))

    def _extension_records(self) -> bytes:
        """The header's extension area (SPEC 3.4): DISP when the display size differs, QUAN when known."""
        area = b""
        if self.display_size != (self.width, self.height):  # SPEC 3.4: no DISP for the coded size
            area += _RECORD.pack(DISP_TAG, _DISP.size) + _DISP.pack(
                self.display_width, self.display_height, self.resampler
            )
        if self.quantizer:
            kind = {v: k for k, v in QUANTIZERS.items()}[self.quantizer]
            channels = len(self.fsq_levels) if self.quantizer == "fsq" else self.token_bits
            body = bytes([kind, channels, *self.fsq_levels])
            area += _RECORD.pack(QUAN_TAG, len(body)) + body
        return area

    def to_bytes(self) -> bytes:
        model, mlm = self.model_name.encode("utf-8"), self.mlm_name.encode("utf-8")
        extension = self._extension_records()
        size = MIN_HEADER_SIZE + len(model) + len(mlm) + len(extension)
        body = (
            _FIXED.pack(
                MAGIC,
                VERSION,
                size,
                self.width,
                self.height,
                self.frame_count,
                self.fps_num,
                self.fps_den,
                self.colour_primaries,
                self.transfer_characteristics,
                self.matrix_coefficients,
                int(self.full_range),
                self.gop_length,
                self.token_bits,
                self.bit_order,
                self.temporal_stride,
                self.spatial_stride,
                self.entropy_mode,
                bytes(self.weights_hash),
                bytes(self.mlm_hash),
            )
            + struct.pack("<H", len(model))
            + model
            + struct.pack("<H", len(mlm))
            + mlm
            + extension
        )
        return body + struct.pack("<I", crc32(body))

    def problem(self) -> str | None:
        """What makes these values invalid for a v1 file, or None (SPEC 3.2, 3.5)."""
        found = self.check()
        return None if found is None else found[1]

    def check(self) -> tuple[Err, str] | None:
        """The first rule of SPEC 3.2 / 3.5 these values break, as (error, message), or None."""
        positive = (
            "width",
            "height",
            "frame_count",
            "fps_num",
            "fps_den",
            "gop_length",
            "temporal_stride",
            "spatial_stride",
        )
        limits = {name: 2**32 - 1 for name in positive[:6]}
        limits.update(
            temporal_stride=255,
            spatial_stride=255,
            colour_primaries=255,
            transfer_characteristics=255,
            matrix_coefficients=255,
            display_width=2**32 - 1,
            display_height=2**32 - 1,
            resampler=255,
        )
        for name, top in limits.items():
            value = getattr(self, name)
            if not (1 if name in positive else 0) <= value <= top:
                return Err.INVALID_HEADER, f"{name} {value} out of range"
        if (self.display_width == 0) != (self.display_height == 0):
            return Err.INVALID_HEADER, (f"display size {self.display_width}x{self.display_height}: set both or neither")
        if not 1 <= self.token_bits <= 32:
            return Err.INVALID_HEADER, f"token bits {self.token_bits} out of range 1..32"
        if (problem := quantizer_problem(self.quantizer, self.fsq_levels, self.token_bits)) is not None:
            return Err.INVALID_HEADER, problem
        if len(self.weights_hash) != 32 or len(self.mlm_hash) != 32:
            return Err.INVALID_HEADER, "hashes must be 32 bytes"
        if max(len(self.model_name.encode()), len(self.mlm_name.encode())) > 0xFFFF:
            return Err.INVALID_HEADER, "model name longer than 65535 bytes"
        if self.bit_order != 0:
            return Err.UNKNOWN_BIT_ORDER, f"unknown bit order {self.bit_order} (this decoder knows 0)"
        if self.entropy_mode not in ENTROPY_MODES:
            known = ", ".join(f"{k} = {v}" for k, v in ENTROPY_MODES.items())
            return Err.UNKNOWN_MODE, (f"unknown entropy mode {self.entropy_mode} (this decoder knows {known})")
        problem = self.limit_problem()
        return None if problem is None else (Err.LIMIT, problem)

    def limit_problem(self) -> str | None:
        """Which limit of SPEC 3.5 these (otherwise valid) values exceed, or None."""
        sizes = [("", self.width, self.height)]
        if self.display_width:
            sizes.append(("display ", self.display_width, self.display_height))
        for what, w, h in sizes:
            if max(w, h) > MAX_DIMENSION or w * h > MAX_PIXELS:
                return (
                    f"{what}size {w}x{h} exceeds the limit ({MAX_DIMENSION} pixels a side, {MAX_PIXELS} pixels a frame)"
                )
        if self.display_width and (
            self.display_width > MAX_UPSCALE * self.width or self.display_height > MAX_UPSCALE * self.height
        ):
            return (
                f"display size {self.display_width}x{self.display_height} is more than "
                f"{MAX_UPSCALE} times the coded size {self.width}x{self.height}"
            )
        if self.frame_count > MAX_FRAMES:
            return f"{self.frame_count} frames exceed the limit of {MAX_FRAMES}"
        if max(self.fps_num, self.fps_den) > MAX_RATE_TERM or not MIN_FPS <= self.fps <= MAX_FPS:
            return (
                f"frame rate {self.fps_num}/{self.fps_den} outside the limits (1/86400 to 1000 "
                f"frames a second, numerator and denominator below 2^31)"
            )
        if self.gop_length > MAX_GOP_LENGTH:
            return f"GOP length {self.gop_length} exceeds the limit of {MAX_GOP_LENGTH} frames"
        frames = min(self.gop_length, self.frame_count or self.gop_length)
        if (tokens := math.prod(self.latent_shape(frames))) > MAX_TOKENS_PER_CHUNK:
            return (
                f"a GOP of {frames} frames at {self.width}x{self.height} is {tokens} tokens, "
                f"more than the limit of {MAX_TOKENS_PER_CHUNK} (use a shorter GOP)"
            )
        return None

    def output_units(self) -> int:
        """frame_count * max(display pixels, MIN_FRAME_UNITS): what decoding the file produces (SPEC 3.5)."""
        width, height = self.display_size
        return self.frame_count * max(width * height, MIN_FRAME_UNITS)

    def gop_prior_work(self, num_frames: int) -> int:
        """Prior positions (SPEC 3.5) decoding a mode 1 GOP of `num_frames` frames costs; 0 in mode 0."""
        if self.entropy_mode != 1:
            return 0
        t, h, w = self.latent_shape(num_frames)
        return t * PRIOR_PASSES_PER_FRAME * max(h * w, MIN_PASS_POSITIONS)

    def prior_work(self) -> int:
        """The whole file's prior positions: every GOP the header announces (SPEC 3.5, error 11)."""
        full, rest = divmod(self.frame_count, self.gop_length)
        return full * self.gop_prior_work(self.gop_length) + (self.gop_prior_work(rest) if rest else 0)

    def payload_problem(self, num_frames: int, payload_length: int) -> str | None:
        """Why a chunk of `num_frames` cannot have `payload_length` bytes, or None (SPEC 3.5, 6.1)."""
        if payload_length > MAX_PAYLOAD:
            return f"payload of {payload_length} bytes exceeds the limit of {MAX_PAYLOAD}"
        if self.entropy_mode == 0:
            shape = self.latent_shape(num_frames)
            need = packed_size(math.prod(shape), self.token_bits)
            if payload_length != need:
                return f"payload has {payload_length} bytes, a {shape} grid needs {need}"
        elif self.entropy_mode == 1 and (payload_length < 1 or (payload_length - 1) % 4):
            return f"payload of {payload_length} bytes is not 1 + 4k (SPEC 6.2)"
        return None


@dataclass(frozen=True)
class Chunk:
    """Where one GOP's chunk lies and what it holds (a chunk index entry, SPEC 5)."""

    index: int  # GOP index
    offset: int  # of the chunk header, from the first byte of the container
    num_frames: int
    payload_length: int
    payload_crc32: int
    tokens_crc32: int
    # R'G'B' colour offset in quarter levels (SPEC 4.1, 1.3): in the chunk header, not the index,
    # so None until the header is read (ContainerReader.colour_offset reads it)
    colour_offset: tuple[int, int, int] | None = dataclasses.field(default=None, compare=False)

    @property
    def size(self) -> int:
        return CHUNK_HEADER_SIZE + self.payload_length


def _chunk_header(c: Chunk) -> bytes:
    body = _CHUNK.pack(
        CHUNK_MARKER, c.index, c.num_frames, c.payload_length, c.payload_crc32, c.tokens_crc32, *c.colour_offset
    )
    return body + struct.pack("<I", crc32(body))


class ContainerWriter(FinishOrAbort):
    """Streams a container: header now, a chunk per `write_chunk`, index on `close()`.

    `dest` is an open binary file (the caller handles atomicity) or a path, which
    is written under a temporary name and renamed on a successful `close()`.
    """

    def __init__(self, dest: str | os.PathLike | BinaryIO, header: Header, *, force: bool = False):
        probe = dataclasses.replace(header, frame_count=max(header.frame_count, 1))
        if (problem := probe.problem()) is not None:
            raise ValueError(f"invalid header: {problem}")
        self.header = dataclasses.replace(header)
        self.chunks: list[Chunk] = []
        self._frames = 0
        self._prior_work = 0  # of the chunks written (SPEC 3.5)
        self._atomic = None
        self._name = os.fspath(dest) if isinstance(dest, (str, os.PathLike)) else getattr(dest, "name", "<stream>")
        if isinstance(dest, (str, os.PathLike)):
            self._atomic = atomic_output(dest, force=force)
            try:
                self._f = open(self._atomic.tmp, "wb")
            except OSError as e:
                self._atomic.discard()
                raise OutputError(f"cannot write {dest}: {e.strerror}") from None
            except BaseException:  # a signal (Terminated) before `with` owns the temporary
                self._atomic.discard()
                raise
        else:
            self._f = dest
        try:
            if header.frame_count == 0 and not self._f.seekable():
                raise ValueError("frame_count 0 (unknown) needs a seekable output")
            self._base = self._f.tell() if self._f.seekable() else 0
            self._pos = 0
            self._write(self.header.to_bytes())
        except BaseException:  # no `with` yet to clean up: a path output's temporary goes now
            self.abort()
            raise

    def _write(self, data: bytes) -> None:
        try:
            self._f.write(data)
        except OSError as e:  # a full disk (ENOSPC, EFBIG): the caller's `with` removes the temporary
            raise OutputError(f"cannot write {self._name}: {e.strerror or e}") from None
        self._pos += len(data)

    def write_chunk(
        self,
        gop_index: int,
        num_frames: int,
        tokens: np.ndarray,
        payload: bytes | None = None,
        colour_offset: tuple[int, int, int] = (0, 0, 0),
    ) -> Chunk:
        """Append GOP `gop_index` (0, 1, 2, ...): `tokens` of shape latent_shape(num_frames).

        Mode 0 packs `tokens` itself; other modes need the coded `payload`
        (tokens are still needed for the tokens CRC). `colour_offset`: R'G'B'
        quarter levels in -128..127 (SPEC 4.1, codec.colour_offset).
        """
        h = self.header
        if gop_index != len(self.chunks):
            raise ValueError(f"expected GOP {len(self.chunks)}, got {gop_index}")
        if self.chunks and self.chunks[-1].num_frames != h.gop_length:
            raise ValueError("only the last GOP may be shorter than gop_length")
        if not 1 <= num_frames <= h.gop_length:
            raise ValueError(f"GOP of {num_frames} frames, gop_length is {h.gop_length}")
        if h.frame_count and self._frames + num_frames > h.frame_count:
            raise ValueError(f"more than the header's {h.frame_count} frames")
        tokens = np.asarray(tokens)
        if tokens.shape != h.latent_shape(num_frames):
            raise ValueError(
                f"tokens of shape {tokens.shape}, expected {h.latent_shape(num_frames)} for {num_frames} frames"
            )
        if h.entropy_mode == 0:
            if payload is not None:
                raise ValueError("entropy mode 0 packs the tokens itself; payload must be None")
            payload = pack_tokens(tokens, h.token_bits)
        elif payload is None:
            raise ValueError(f"entropy mode {h.entropy_mode} needs the coded payload")
        elif (problem := h.payload_problem(num_frames, len(payload))) is not None:
            raise ValueError(f"GOP {gop_index}: {problem}")  # a reader would reject it (error 23)
        else:
            payload += bytes(4 * self._padding_words(num_frames, len(payload)))
        if len(colour_offset) != 3 or not all(-128 <= v <= 127 for v in colour_offset):
            raise ValueError(f"colour offset {colour_offset}: three values in -128..127")
        chunk = Chunk(
            gop_index,
            self._pos,
            num_frames,
            len(payload),
            crc32(payload),
            tokens_crc32(tokens),
            tuple(int(v) for v in colour_offset),
        )
        self._write(_chunk_header(chunk))
        self._write(payload)
        self.chunks.append(chunk)
        self._frames += num_frames
        self._prior_work += h.gop_prior_work(num_frames)
        return chunk

    def _padding_words(self, num_frames: int, payload_length: int) -> int:
        """Zero words a mode 1 payload needs to keep the file within 3.5's output and prior work per byte.

        A mode 1 token can cost far less than a bit, so a near-static clip could
        announce more output, or more prior passes, than its bytes allow (error
        11). The spec lets the writer append zero words (the decoder reads them
        as the zeros it reads past the end anyway). Checked on the file up to
        and including this chunk, so the finished file, and a file cut after
        any chunk, is within the limits.
        """
        width, height = self.header.display_size
        units = (self._frames + num_frames) * max(width * height, MIN_FRAME_UNITS)
        work = self._prior_work + self.header.gop_prior_work(num_frames)
        need = max(-(-units // MAX_OUTPUT_PER_BYTE), -(-work // MAX_PRIOR_WORK_PER_BYTE))
        short = need - (self._pos + CHUNK_HEADER_SIZE + payload_length)
        return max(0, -(-short // 4))

    def close(self) -> None:
        """Write the index and footer; patch frame_count if it was 0; rename a path into place."""
        if self._f is None:
            return
        try:
            self._finish()
        except OSError as e:  # a full disk while seeking, flushing or syncing
            self.abort()
            raise OutputError(f"cannot write {self._name}: {e.strerror or e}") from None
        except BaseException:
            self.abort()
            raise

    def _finish(self) -> None:
        h = self.header
        if h.frame_count == 0 and self._frames:
            h.frame_count = self._frames
            end = self._f.tell()
            self._f.seek(self._base)
            self._f.write(h.to_bytes())  # same length: only frame_count and the CRC change
            self._f.seek(end)
        if self._frames == 0 or self._frames != h.frame_count:
            raise ValueError(f"wrote {self._frames} frames, the header says {h.frame_count}")
        index_offset = self._pos
        body = (
            INDEX_MARKER
            + struct.pack("<I", len(self.chunks))
            + b"".join(
                _ENTRY.pack(c.offset, c.num_frames, c.payload_length, c.payload_crc32, c.tokens_crc32)
                for c in self.chunks
            )
        )
        self._write(body + struct.pack("<I", crc32(body)) + _FOOTER.pack(index_offset, FOOTER_MARKER))
        self._f.flush()
        if self._atomic is not None:
            os.fsync(self._f.fileno())
            self._f.close()
            self._atomic.commit()
            self._atomic = None
        self._f = None

    def abort(self) -> None:
        """Give up: a path output is deleted (an open file given by the caller is left alone)."""
        if self._atomic is not None:
            try:
                self._f.close()
            except OSError:
                pass  # buffered bytes a full disk refuses: the temporary is deleted next anyway
            self._atomic.discard()
            self._atomic = None
        self._f = None


def write_container(
    dest: str | os.PathLike | BinaryIO,
    header: Header,
    tokens_per_gop: Iterable[np.ndarray],
    *,
    force: bool = False,
    colour_offsets: Sequence[tuple[int, int, int]] = (),
) -> list[Chunk]:
    """Write a mode-0 container in one call; GOP i has `header.gop_frames(i)` frames
    and colour offset `colour_offsets[i]` (zeros where not given)."""
    if header.frame_count == 0:
        raise ValueError("write_container needs the frame count")
    with ContainerWriter(dest, header, force=force) as w:
        for i, tokens in enumerate(tokens_per_gop):
            offset = colour_offsets[i] if i < len(colour_offsets) else (0, 0, 0)
            w.write_chunk(i, header.gop_frames(i), tokens, colour_offset=offset)
    return w.chunks


class ContainerReader:
    """Reads a container from a path, bytes, or a seekable binary file.

    Opening parses and checks the header and locates the chunks through the chunk
    index; any problem raises ContainerError. A damaged chunk only fails its own
    `read_tokens`. With `recover=True`, a missing or damaged index (truncated
    file) is not an error: chunks are then located by scanning for chunk headers
    (SPEC 7) and `index_ok` is False. `chunks[i]` is GOP i's `Chunk`, or None when
    the scan did not find it (reading it then raises).
    """

    def __init__(self, src: str | os.PathLike | bytes | BinaryIO, *, recover: bool = False):
        self._own = isinstance(src, (str, os.PathLike))
        if isinstance(src, (bytes, bytearray, memoryview)):
            self.name, self._f = "<bytes>", io.BytesIO(bytes(src))
        elif self._own:
            self.name = os.fspath(src)
            self._f = _open_regular(self.name)
        else:
            self.name, self._f = str(getattr(src, "name", "<stream>")), src
        try:
            self._base = self._f.tell()
            self._size = self._f.seek(0, io.SEEK_END) - self._base
            self._recover = recover
            self.header, self.header_length = self._read_header()
            self.index_ok = self._read_index()
            if not self.index_ok and not recover:
                raise self._error(Err.INDEX_UNUSABLE, "truncated or damaged file: chunk index missing or damaged")
            if not self.index_ok:
                self._scan()
        except BaseException:
            self.close()
            raise

    # -- helpers -------------------------------------------------------------

    def _error(self, code: Err, problem: str) -> ContainerError:
        return ContainerError(f"{self.name}: {problem}", code)

    def _read(self, offset: int, n: int) -> bytes:
        """Exactly n bytes at offset (from the container start), or b"" past the end."""
        if offset < 0 or n < 0 or offset + n > self._size:
            return b""
        self._f.seek(self._base + offset)
        data = self._f.read(n)
        return data if len(data) == n else b""

    def _read_header(self) -> tuple[Header, int]:
        """Parse and check the header, raising the errors 1-11 of SPEC 7.1 in their order."""
        head = self._read(0, _PREFIX.size)
        if self._read(0, min(self._size, 8)) != MAGIC[: min(self._size, 8)]:
            raise self._error(Err.BAD_MAGIC, "not a tokcodec container (bad magic)")
        if not head:
            raise self._error(Err.SHORT_FILE, f"truncated file ({self._size} bytes, shorter than a header)")
        _, version, length = _PREFIX.unpack(head)
        if version != VERSION:
            raise self._error(
                Err.UNSUPPORTED_VERSION,
                f"unsupported container version {version} (this decoder reads version {VERSION})",
            )
        if not MIN_HEADER_SIZE <= length <= MAX_HEADER_SIZE:
            raise self._error(
                Err.BAD_HEADER_LENGTH,
                f"damaged file: header length {length} is invalid ({MIN_HEADER_SIZE}..{MAX_HEADER_SIZE})",
            )
        data = self._read(0, length)
        if not data:
            raise self._error(Err.SHORT_HEADER, f"truncated file ({self._size} bytes, the header alone needs {length})")
        if crc32(data[:-4]) != struct.unpack_from("<I", data, length - 4)[0]:
            raise self._error(Err.HEADER_CRC, "damaged file: header CRC mismatch")
        h = self._parse_fields(data)
        if (found := h.check()) is not None:
            code, problem = found
            raise self._error(code, problem if code != Err.INVALID_HEADER else f"invalid header: {problem}")
        if h.output_units() > MAX_OUTPUT_PER_BYTE * self._size:
            raise self._error(
                Err.SHORT_FOR_GOPS,
                f"truncated or invalid file: {self._size} bytes "
                f"cannot hold {h.frame_count} frames of {h.display_size[0]}x"
                f"{h.display_size[1]}",
            )
        if h.prior_work() > MAX_PRIOR_WORK_PER_BYTE * self._size:
            raise self._error(
                Err.SHORT_FOR_GOPS,
                f"truncated or invalid file: {self._size} bytes cannot "
                f"pay for the token prior's work on {h.frame_count} frames of {h.width}x"
                f"{h.height} (entropy mode 1 allows {MAX_PRIOR_WORK_PER_BYTE} prior "
                f"positions per byte, SPEC 3.5)",
            )
        if length + h.num_gops * CHUNK_HEADER_SIZE > self._size and not self._recover:
            raise self._error(Err.SHORT_FOR_GOPS, f"truncated file: {self._size} bytes cannot hold {h.num_gops} GOPs")
        return h, length

    def _parse_fields(self, data: bytes) -> Header:
        """The Header of CRC-checked header bytes; names and extension records must be well formed."""
        length = len(data)
        f = _FIXED.unpack_from(data)
        try:
            pos, names = _FIXED.size, []
            for _ in range(2):
                (n,) = struct.unpack_from("<H", data, pos)
                if pos + 2 + n > length - 4:
                    raise ValueError
                names.append(data[pos + 2 : pos + 2 + n].decode("utf-8"))
                pos += 2 + n
        except (ValueError, struct.error):
            raise self._error(
                Err.INVALID_HEADER, "invalid header: model names do not fit the header or are not UTF-8"
            ) from None
        records = self._read_records(data, pos)
        display = (0, 0, 1)  # no DISP record: the display size is the coded size
        if DISP_TAG in records:
            if len(records[DISP_TAG]) != _DISP.size:
                raise self._error(
                    Err.INVALID_HEADER,
                    f"invalid header: DISP record of {len(records[DISP_TAG])} bytes (expected {_DISP.size})",
                )
            display = _DISP.unpack(records[DISP_TAG])
            if min(display[:2]) < 1:
                raise self._error(Err.INVALID_HEADER, f"invalid header: display size {display[0]}x{display[1]}")
        quantizer, levels = self._parse_quan(records[QUAN_TAG], f[13]) if QUAN_TAG in records else ("", ())
        if f[11] > 1:
            raise self._error(Err.INVALID_HEADER, f"invalid header: full_range flag {f[11]}")
        return Header(
            width=f[3],
            height=f[4],
            frame_count=f[5],
            fps_num=f[6],
            fps_den=f[7],
            colour_primaries=f[8],
            transfer_characteristics=f[9],
            matrix_coefficients=f[10],
            full_range=bool(f[11]),
            gop_length=f[12],
            token_bits=f[13],
            bit_order=f[14],
            temporal_stride=f[15],
            spatial_stride=f[16],
            entropy_mode=f[17],
            weights_hash=f[18],
            mlm_hash=f[19],
            model_name=names[0],
            mlm_name=names[1],
            display_width=display[0],
            display_height=display[1],
            resampler=display[2],
            quantizer=quantizer,
            fsq_levels=levels,
        )

    def _parse_quan(self, body: bytes, token_bits: int) -> tuple[str, tuple[int, ...]]:
        """A QUAN record's (quantizer, FSQ levels) (SPEC 3.4); a reserved kind reads as no record."""
        if len(body) < 2:
            raise self._error(Err.INVALID_HEADER, f"invalid header: QUAN record of {len(body)} bytes")
        kind, channels, levels = body[0], body[1], tuple(body[2:])
        if kind not in QUANTIZERS:
            return "", ()
        quantizer = QUANTIZERS[kind]
        wrong = quantizer_problem(quantizer, levels, token_bits)
        if quantizer == "lfq" and channels != token_bits:
            wrong = f"LFQ record for {channels} channels, the tokens have {token_bits} bits"
        if quantizer == "fsq" and channels != len(levels):
            wrong = f"FSQ record for {channels} channels with {len(levels)} levels"
        if wrong:
            raise self._error(Err.INVALID_HEADER, f"invalid header: QUAN record: {wrong}")
        return quantizer, levels

    def _read_records(self, data: bytes, pos: int) -> dict[bytes, bytes]:
        """Tag -> body of the extension records from `pos` up to the header CRC (SPEC 3.4).

        Unknown tags are kept too (and ignored by the caller); records that do not
        exactly fill the area, a tag outside [A-Za-z0-9], or a repeated tag make the
        header invalid.
        """
        end, records = len(data) - 4, {}
        while pos < end:
            if pos + _RECORD.size > end:
                raise self._error(
                    Err.INVALID_HEADER,
                    f"invalid header: header extension area ends in a partial record ({end - pos} bytes)",
                )
            tag, length = _RECORD.unpack_from(data, pos)
            name = tag.decode("latin-1")
            if not TAG_BYTES.issuperset(tag):
                raise self._error(
                    Err.INVALID_HEADER,
                    f"invalid header: extension record tag {tag.hex()} is not 4 ASCII letters or digits",
                )
            if pos + _RECORD.size + length > end:
                raise self._error(
                    Err.INVALID_HEADER,
                    f"invalid header: extension record {name!r} of {length} bytes runs past the header CRC",
                )
            if tag in records:
                raise self._error(Err.INVALID_HEADER, f"invalid header: extension record {name!r} appears twice")
            records[tag] = data[pos + _RECORD.size : pos + _RECORD.size + length]
            pos += _RECORD.size + length
        return records

    def _valid_chunk(self, c: Chunk, end: int) -> bool:
        return (
            c.index < self.header.num_gops
            and c.num_frames == self.header.gop_frames(c.index)
            and self.header_length <= c.offset
            and c.offset + c.size <= end
        )

    def _read_index(self) -> bool:
        """Load `chunks` from the index; False if the index is missing or damaged."""
        footer = self._read(self._size - _FOOTER.size, _FOOTER.size)
        if not footer:
            return False
        offset, marker = _FOOTER.unpack(footer)
        count = self.header.num_gops
        length = INDEX_OVERHEAD + INDEX_ENTRY_SIZE * count
        if marker != FOOTER_MARKER or offset + length + FOOTER_SIZE != self._size:
            return False
        data = self._read(offset, length)
        if (
            data[:8] != INDEX_MARKER + struct.pack("<I", count)
            or crc32(data[:-4]) != struct.unpack_from("<I", data, length - 4)[0]
        ):
            return False
        chunks, end = [], self.header_length
        for i in range(count):
            c = Chunk(i, *_ENTRY.unpack_from(data, 8 + _ENTRY.size * i))
            if c.offset < end or not self._valid_chunk(c, offset):
                return False
            chunks.append(c)
            end = c.offset + c.size
        self.chunks: list[Chunk | None] = chunks
        return True

    def _parse_chunk_header(self, offset: int) -> Chunk | None:
        data = self._read(offset, CHUNK_HEADER_SIZE)
        if not data or crc32(data[:-4]) != struct.unpack_from("<I", data, _CHUNK.size)[0]:
            return None
        marker, index, frames, length, pcrc, tcrc, *colour = _CHUNK.unpack_from(data)
        return Chunk(index, offset, frames, length, pcrc, tcrc, tuple(colour)) if marker == CHUNK_MARKER else None

    def _find(self, needle: bytes, start: int) -> int:
        """Offset of the next `needle` at or after `start`, or -1 (reads 64 KiB blocks)."""
        block = 1 << 16
        while start + len(needle) <= self._size:
            n = min(block, self._size - start)
            self._f.seek(self._base + start)
            hit = self._f.read(n).find(needle)
            if hit >= 0:
                return start + hit
            start += n - len(needle) + 1
        return -1

    def _scan(self) -> None:
        """Locate chunks by walking chunk headers, resynchronising on the marker (SPEC 7)."""
        self.chunks = [None] * self.header.num_gops
        pos = self.header_length
        while pos >= 0 and pos + CHUNK_HEADER_SIZE <= self._size:
            c = self._parse_chunk_header(pos)
            if c is not None and self._valid_chunk(c, self._size) and self.chunks[c.index] is None:
                self.chunks[c.index] = c
                pos += c.size
            else:
                pos = self._find(CHUNK_MARKER, pos + 1)

    # -- public --------------------------------------------------------------

    @property
    def missing(self) -> list[int]:
        """GOP indices whose chunk could not be located."""
        return [i for i, c in enumerate(self.chunks) if c is None]

    def require_decodable(self) -> None:
        """Raise Err.MODE_UNSUPPORTED unless this reader decodes the payloads by itself (mode 0).

        Mode 1 needs the file's token prior: `codec.entropy.coder_for_header(header).unpack`
        (errors 30-32), passed to `read_tokens`; without it a reader is a decoder without mode 1."""
        h = self.header
        if h.entropy_mode != 0:
            raise self._error(
                Err.MODE_UNSUPPORTED,
                f"entropy mode {h.entropy_mode} ({ENTROPY_MODES[h.entropy_mode]}) is not supported by this decoder",
            )

    def _checked_chunk(self, i: int) -> Chunk:
        """GOP i's chunk as its header says, after checking the header against the index (errors 20-22)."""
        if not 0 <= i < len(self.chunks):
            raise IndexError(f"GOP {i} out of range 0..{len(self.chunks) - 1}")
        c = self.chunks[i]
        if c is None:
            raise self._error(Err.CHUNK_MISSING, f"truncated or damaged file: chunk {i} not found")
        found = self._parse_chunk_header(c.offset)
        if found is None:
            raise self._error(Err.CHUNK_HEADER, f"damaged file: chunk {i} header damaged (CRC mismatch)")
        if found != c:
            raise self._error(
                Err.CHUNK_INDEX_MISMATCH, f"damaged file: chunk {i} header disagrees with the chunk index"
            )
        self.chunks[i] = found  # the index has no colour offset; the checked header does
        return found

    def colour_offset(self, i: int) -> tuple[int, int, int]:
        """GOP i's colour offset (SPEC 4.1): R'G'B' quarter levels, read from its checked chunk header."""
        c = self.chunks[i] if 0 <= i < len(self.chunks) else None
        return (
            c.colour_offset if c is not None and c.colour_offset is not None else self._checked_chunk(i).colour_offset
        )

    def read_payload(self, i: int) -> bytes:
        """GOP i's payload, after checking the chunk header, its length and the payload CRC."""
        c = self._checked_chunk(i)
        # Before the payload is read or any grid allocated (SPEC 7.1, error 23).
        if (problem := self.header.payload_problem(c.num_frames, c.payload_length)) is not None:
            raise self._error(Err.PAYLOAD_LENGTH, f"damaged file: chunk {i} {problem}")
        payload = self._read(c.offset + CHUNK_HEADER_SIZE, c.payload_length)
        if len(payload) != c.payload_length:  # not reached: located chunks end inside the file
            raise self._error(Err.CHUNK_MISSING, f"truncated file: chunk {i} payload cut off")
        if crc32(payload) != c.payload_crc32:
            raise self._error(Err.PAYLOAD_CRC, f"damaged file: chunk {i} payload CRC mismatch")
        return payload

    def read_tokens(
        self, i: int, unpack: Callable[[bytes, tuple[int, int, int]], np.ndarray] | None = None
    ) -> np.ndarray:
        """GOP i's tokens, int64 of shape latent_shape(num_frames), all CRCs checked.

        Mode 0 unpacks itself; other modes need `unpack(payload, shape) -> tokens`.
        """
        if unpack is None:
            self.require_decodable()
        h, payload = self.header, self.read_payload(i)
        shape = h.latent_shape(self.chunks[i].num_frames)
        if unpack is not None:
            try:
                tokens = np.asarray(unpack(payload, shape), dtype=np.int64).reshape(shape)
            except ValueError as e:  # intact payload the decoder's model cannot decode: SPEC 6.2
                raise self._error(
                    Err.TOKENS_MISMATCH, f"decoding mismatch in chunk {i}: payload intact but it does not decode ({e})"
                ) from None
        else:
            tokens = unpack_tokens(payload, math.prod(shape), h.token_bits).reshape(shape)
        got = tokens_crc32(tokens)
        if got != self.chunks[i].tokens_crc32:
            raise self._error(
                Err.TOKENS_MISMATCH,
                f"decoding mismatch in chunk {i}: payload intact but decoded tokens differ "
                f"(tokens CRC {got:08x}, expected {self.chunks[i].tokens_crc32:08x})",
            )
        return tokens

    def close(self) -> None:
        if self._own and self._f is not None:
            self._f.close()
        self._f = None

    def __enter__(self) -> "ContainerReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_regular(path: str) -> BinaryIO:
    """Open a container file for reading; a pipe or device is refused (opening a FIFO blocks)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ContainerError(f"{path}: not a regular file (a pipe, device or folder); give a .tkc file")
        return open(path, "rb")
    except OSError as e:
        raise ContainerError(f"{path}: cannot open ({e.strerror})") from None


def read_container(src: str | os.PathLike | bytes | BinaryIO) -> tuple[Header, list[np.ndarray]]:
    """Header and every GOP's tokens (mode 0), all checks applied (no recovery)."""
    with ContainerReader(src) as r:
        return r.header, [r.read_tokens(i) for i in range(r.header.num_gops)]
