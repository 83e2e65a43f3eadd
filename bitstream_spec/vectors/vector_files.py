"""The vectors' shared pieces (make_vectors.py, annex.py, mode1.py): a valid file's description as SPEC
section 11 writes it, and consistent edits of a container's bytes (a chunk field with its index copy and
CRCs, a longer payload)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from tokcodec.codec.container import Err, Header


def crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


SPEC_NAMES = {"weights_hash": "weights_sha256", "mlm_hash": "mlm_sha256"}  # Header -> SPEC 3.1


def header_fields(header: Header) -> dict:
    """The header as SPEC 3.1 names it: hashes in hex, full_range 0/1, DISP fields only with a record."""
    head = {SPEC_NAMES.get(k, k): (v.hex() if isinstance(v, bytes) else v) for k, v in vars(header).items()}
    head["full_range"] = int(header.full_range)
    if not header.display_width:  # no DISP record: its fields are not in the file
        for key in ("display_width", "display_height", "resampler"):
            del head[key]
    if not header.quantizer:  # no QUAN record
        del head["quantizer"], head["fsq_levels"]
    else:
        head["fsq_levels"] = list(header.fsq_levels)
    return head


def error_entry(code: int) -> dict:
    return {"code": code, "name": Err(code).name.lower()}


def chunk_entry(header: Header, i: int, t: np.ndarray, colour_offset: tuple[int, int, int] = (0, 0, 0)) -> dict:
    return {
        "gop_index": i,
        "num_frames": header.gop_frames(i),
        "shape": list(t.shape),
        "tokens_crc32": crc(t.astype("<u4").tobytes()),
        "colour_offset": list(colour_offset),
        "tokens": t.tolist(),
    }


def describe_valid(header: Header, tokens: list[np.ndarray], data: bytes) -> dict:
    header_length = struct.unpack_from("<I", data, 12)[0]
    display_width, display_height = header.display_size
    return {
        "valid": True,
        "file_bytes": len(data),
        "header_length": header_length,
        "bpp": len(data) * 8 / (display_width * display_height * header.frame_count),
        "header": header_fields(header),
        "error": None,
        "chunks": [chunk_entry(header, i, t) for i, t in enumerate(tokens)],
    }


def chunk_offset(data: bytes, i: int) -> int:
    index_offset = struct.unpack_from("<Q", data, len(data) - 12)[0]
    return struct.unpack_from("<Q", data, index_offset + 8 + 24 * i)[0]


def fix_index_crc(data: bytearray) -> None:
    index_offset = struct.unpack_from("<Q", data, len(data) - 12)[0]
    end = len(data) - 16
    struct.pack_into("<I", data, end, crc(bytes(data[index_offset:end])))


def set_chunk_field(d: bytearray, c: int, field: int, value: int, gop: int) -> None:
    """Chunk header field at `c + field` (and its index entry's copy) set to `value`, CRCs fixed."""
    struct.pack_into("<I", d, c + field, value)
    struct.pack_into("<I", d, c + 28, crc(bytes(d[c : c + 28])))
    index_offset = struct.unpack_from("<Q", d, len(d) - 12)[0]
    struct.pack_into("<I", d, index_offset + 8 + 24 * gop + 8 + (field - 8), value)
    fix_index_crc(d)


def longer_payload(d: bytearray, c: int, gop: int) -> None:
    """The chunk at `c` (the last one) one zero byte longer, consistently (CRCs, index, footer)."""
    end = c + 32 + struct.unpack_from("<I", d, c + 12)[0]
    grown = bytearray(d[:end] + b"\x00" + d[end:])
    struct.pack_into("<Q", grown, len(grown) - 12, struct.unpack_from("<Q", grown, len(grown) - 12)[0] + 1)
    set_chunk_field(grown, c, 12, end + 1 - c - 32, gop)
    set_chunk_field(grown, c, 16, crc(bytes(grown[c + 32 : end + 1])), gop)
    d[:] = grown
