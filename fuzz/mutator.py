"""A .tkc-aware mutator for the fuzzers: byte mutations plus field edits, then CRCs fixed.

Plain byte mutations almost never get past the header CRC, so after mutating,
`fix_crcs` recomputes every CRC it can find (header, chunk headers, payloads,
index) and the mutation reaches the parser's and decoder's later checks. A
tenth of the time the CRCs are left as they are, so the CRC checks stay
covered. Field edits set header and chunk fields to the values that break
things: 0, 1, huge, 2^31, 2^32 - 1, off-by-one; wrong versions and modes;
inflated lengths and counts. Standard library only, no tokcodec import (the
fuzzers import tokcodec under instrumentation).
"""

from __future__ import annotations

import random
import struct
import zlib

# (offset, struct format) of the header fields (SPEC 3.1)
HEADER_FIELDS = [
    (8, "<I"),
    (12, "<I"),
    (16, "<I"),
    (20, "<I"),
    (24, "<I"),
    (28, "<I"),
    (32, "<I"),
    (36, "<B"),
    (37, "<B"),
    (38, "<B"),
    (39, "<B"),
    (40, "<I"),
    (44, "<B"),
    (45, "<B"),
    (46, "<B"),
    (47, "<B"),
    (48, "<B"),
    (116, "<H"),
]
CHUNK_FIELDS = [(4, "<I"), (8, "<I"), (12, "<I"), (20, "<I")]  # gop_index, num_frames, payload_length, tokens CRC
SPECIAL = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    9,
    16,
    17,
    18,
    31,
    32,
    33,
    255,
    256,
    1023,
    1024,
    1025,
    16384,
    16385,
    65535,
    65536,
    1 << 20,
    1 << 22,
    1 << 24,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
]


def crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _put(d: bytearray, offset: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if 0 <= offset and offset + size <= len(d):
        struct.pack_into(fmt, d, offset, value & ((1 << (8 * size)) - 1))


def _header_length(d: bytes) -> int | None:
    if len(d) < 16:
        return None
    length = struct.unpack_from("<I", d, 12)[0]
    return length if 124 <= length <= len(d) else None


def _chunk_offsets(d: bytes, start: int) -> list[int]:
    offsets, pos = [], d.find(b"TKCG", start)
    while pos >= 0 and len(offsets) < 64:
        offsets.append(pos)
        pos = d.find(b"TKCG", pos + 4)
    return offsets


def fix_crcs(data: bytes) -> bytes:
    """`data` with the header, chunk header, payload and index CRCs recomputed where they can be found."""
    d = bytearray(data)
    length = _header_length(d)
    if length is None:
        return bytes(d)
    for off in _chunk_offsets(d, length):
        if off + 32 > len(d):
            break
        payload_length = struct.unpack_from("<I", d, off + 12)[0]
        if off + 32 + payload_length <= len(d):
            struct.pack_into("<I", d, off + 16, crc(bytes(d[off + 32 : off + 32 + payload_length])))
        struct.pack_into("<I", d, off + 28, crc(bytes(d[off : off + 28])))
    if len(d) >= length + 12 and d[-4:] == b"TKCE":
        index = struct.unpack_from("<Q", d, len(d) - 12)[0]
        if length <= index and index + 12 <= len(d) - 12:
            count = struct.unpack_from("<I", d, index + 4)[0]
            end = index + 8 + 24 * count
            if end + 4 <= len(d) - 12:
                struct.pack_into("<I", d, end, crc(bytes(d[index:end])))
    struct.pack_into("<I", d, length - 4, crc(bytes(d[: length - 4])))
    return bytes(d)


def edit_field(data: bytes, rng: random.Random) -> bytes:
    """Set one header, chunk or index field to a special (or nearby) value."""
    d = bytearray(data)
    value = rng.choice(SPECIAL)
    if rng.random() < 0.3:
        value += rng.choice((-1, 1))
    where = rng.random()
    if where < 0.6 or len(d) < 160:
        offset, fmt = rng.choice(HEADER_FIELDS)
    elif where < 0.85:
        chunks = _chunk_offsets(d, 124)
        if not chunks:
            return bytes(d)
        field, fmt = rng.choice(CHUNK_FIELDS)
        offset = rng.choice(chunks) + field
    else:  # the footer's index offset, or the index count
        offset, fmt = (len(d) - 12, "<Q") if rng.random() < 0.5 else (len(d) - 16 - 24 - 4, "<I")
    _put(d, offset, fmt, value)
    return bytes(d)


def structural(data: bytes, rng: random.Random) -> bytes:
    """Truncate, insert an extension record, or duplicate / drop a range of bytes."""
    choice = rng.random()
    if choice < 0.4 and data:
        return data[: rng.randrange(len(data))]
    length = _header_length(data)
    if choice < 0.7 and length is not None:  # an extension record before the header CRC
        tag = rng.choice([b"DISP", b"XTRA", b"\x1b[2J", b"disp"])
        body = rng.choice(
            [
                struct.pack("<IIB", *(rng.choice(SPECIAL) for _ in range(2)), rng.randrange(3)),
                b"",
                bytes(rng.randrange(12)),
            ]
        )
        record = tag + struct.pack("<I", rng.choice([len(body), len(body), rng.choice(SPECIAL)])) + body
        grown = bytearray(data[: length - 4] + record + data[length - 4 :])
        _put(grown, 12, "<I", length + len(record))
        return bytes(grown)
    if len(data) > 2:
        a = rng.randrange(len(data))
        b = min(len(data), a + rng.randrange(1, 64))
        return data[:a] + data[a:b] * rng.choice((0, 2)) + data[b:]
    return data


def mutate(data: bytes, max_size: int, seed: int, byte_mutate) -> bytes:
    """One fuzzer mutation: byte-level (libFuzzer's `byte_mutate`), a field edit or a structural change,
    then the CRCs fixed (nine times in ten)."""
    rng = random.Random(seed)
    choice = rng.random()
    if choice < 0.4:
        data = byte_mutate(data, max_size)
    elif choice < 0.8:
        for _ in range(rng.randint(1, 3)):
            data = edit_field(data, rng)
    else:
        data = structural(data, rng)
    data = data[:max_size]
    return fix_crcs(data) if rng.random() < 0.9 else data
