"""Reference parser for .tkc version 1, written from SPEC.md alone (no tokcodec import).

    python bitstream_spec/reference_decoder.py FILE.tkc   # prints header and tokens as JSON

It favours plain code over speed (payloads are unpacked through one big Python
integer). `decode(data)` returns (header dict, list per GOP of either a token
array (T', H', W') or an error string for that chunk); file-level problems
raise RefError. The header dict has display_width, display_height and resampler
only when the file has a DISP record (otherwise the display size is width x
height). Section numbers refer to SPEC.md.
"""

import json
import struct
import sys
import zlib

import numpy as np

MAGIC = b"\x89TKC\r\n\x1a\n"


class RefError(Exception):
    pass


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def ceil_div(a, b):
    return -(-a // b)


def parse_header(d):  # section 3
    if d[:8] != MAGIC[:len(d[:8])]:
        raise RefError("not a tokcodec file")
    if len(d) < 16:
        raise RefError("truncated")
    version, L = struct.unpack_from("<II", d, 8)
    if version != 1:
        raise RefError(f"unsupported version {version}")
    if not 124 <= L <= 1048576:
        raise RefError("damaged header (header_length)")
    if len(d) < L:
        raise RefError("truncated")
    if crc(d[:L - 4]) != struct.unpack_from("<I", d, L - 4)[0]:
        raise RefError("damaged header (CRC)")
    h = {}
    names = ["width", "height", "frame_count", "fps_num", "fps_den"]
    h.update(zip(names, struct.unpack_from("<5I", d, 16)))
    names = ["colour_primaries", "transfer_characteristics", "matrix_coefficients", "full_range"]
    h.update(zip(names, d[36:40]))
    h["gop_length"] = struct.unpack_from("<I", d, 40)[0]
    names = ["token_bits", "bit_order", "temporal_stride", "spatial_stride", "entropy_mode"]
    h.update(zip(names, d[44:49]))
    h["weights_hash"], h["mlm_hash"] = d[52:84].hex(), d[84:116].hex()
    pos = 116
    for key in ("model_name", "mlm_name"):
        n = struct.unpack_from("<H", d, pos)[0]
        if pos + 2 + n > L - 4:
            raise RefError("damaged header (names)")
        try:
            h[key] = d[pos + 2:pos + 2 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise RefError("damaged header (names)") from None
        pos += 2 + n
    records = {}
    while pos < L - 4:  # section 3.4: tag, length, body, back to back up to the CRC
        n = struct.unpack_from("<I", d, pos + 4)[0] if pos + 8 <= L - 4 else None
        if n is None or pos + 8 + n > L - 4 or d[pos:pos + 4] in records:
            raise RefError("invalid header (extension records)")
        records[d[pos:pos + 4]] = d[pos + 8:pos + 8 + n]
        pos += 8 + n
    if b"DISP" in records:  # other tags are skipped
        if len(records[b"DISP"]) != 9:
            raise RefError("invalid header (DISP)")
        names = ["display_width", "display_height", "resampler"]
        h.update(zip(names, struct.unpack("<IIB", records[b"DISP"])))
        if min(h["display_width"], h["display_height"]) < 1:
            raise RefError("invalid header (DISP)")
    for key in ("width", "height", "frame_count", "fps_num", "fps_den", "gop_length",
                "temporal_stride", "spatial_stride"):
        if h[key] < 1:
            raise RefError(f"invalid header ({key})")
    if h["full_range"] > 1 or not 1 <= h["token_bits"] <= 32:
        raise RefError("invalid header")
    if h["bit_order"] != 0:
        raise RefError(f"unknown bit order {h['bit_order']}")
    if h["entropy_mode"] != 0:
        raise RefError(f"unknown mode {h['entropy_mode']}")
    return h, L


def gop_frames(h, g):  # section 2
    return min(h["gop_length"], h["frame_count"] - g * h["gop_length"])


def grid(h, n):  # section 2
    return (1 + ceil_div(n - 1, h["temporal_stride"]), ceil_div(h["height"], h["spatial_stride"]),
            ceil_div(h["width"], h["spatial_stride"]))


def chunk_header(d, p):  # section 4.1; None if not plausible
    if p + 32 > len(d) or d[p:p + 4] != b"TKCG":
        return None
    if crc(d[p:p + 28]) != struct.unpack_from("<I", d, p + 28)[0]:
        return None
    return struct.unpack_from("<5I", d, p + 4)  # gop, frames, length, payload crc, tokens crc


def locate(d, h, L, G):  # section 5, else the scan of section 7 step 2
    size = len(d)
    if size >= L + 12 and d[-4:] == b"TKCE":
        I = struct.unpack_from("<Q", d, size - 12)[0]
        if (I + 24 * G + 24 == size and d[I:I + 8] == b"TKCI" + struct.pack("<I", G)
                and crc(d[I:I + 8 + 24 * G]) == struct.unpack_from("<I", d, I + 8 + 24 * G)[0]):
            entries = [struct.unpack_from("<QIIII", d, I + 8 + 24 * g) for g in range(G)]
            end, ok = L, True
            for g, (off, frames, length, _, _) in enumerate(entries):
                ok = ok and off >= end and frames == gop_frames(h, g) and off + 32 + length <= I
                end = off + 32 + length
            if ok:
                return [e[0] for e in entries], [e[1:] for e in entries]
    offsets, p = [None] * G, L
    while 0 <= p and p + 32 <= size:
        c = chunk_header(d, p)
        if (c and c[0] < G and c[1] == gop_frames(h, c[0]) and p + 32 + c[2] <= size
                and offsets[c[0]] is None):
            offsets[c[0]] = p
            p += 32 + c[2]
        else:
            p = d.find(b"TKCG", p + 1)
    return offsets, None


def unpack(payload, count, bits):  # section 6.1
    v, total = int.from_bytes(payload, "big"), 8 * len(payload)
    return [(v >> (total - (k + 1) * bits)) & ((1 << bits) - 1) for k in range(count)]


def decode_chunk(d, h, g, off, entry):  # section 7 step 3
    if off is None:
        return "missing (truncated or damaged file)"
    c = chunk_header(d, off)
    if c is None:
        return "damaged (chunk header)"
    if c[0] != g or (entry is not None and tuple(c[1:]) != tuple(entry)):
        return "damaged (chunk header disagrees with the index)"
    frames, length, payload_crc, tokens_crc = c[1:]
    payload = d[off + 32:off + 32 + length]
    if len(payload) != length:
        return "missing (truncated)"
    if crc(payload) != payload_crc:
        return "damaged (payload)"
    shape = grid(h, frames)
    count = shape[0] * shape[1] * shape[2]
    if length != ceil_div(count * h["token_bits"], 8):
        return "damaged (payload length)"
    tokens = np.array(unpack(payload, count, h["token_bits"]), dtype=np.int64).reshape(shape)
    if crc(tokens.astype("<u4").tobytes()) != tokens_crc:  # section 4.2
        return "decoding mismatch"
    return tokens


def decode(data):
    d = bytes(data)
    h, L = parse_header(d)
    G = ceil_div(h["frame_count"], h["gop_length"])
    if L + 32 * G > len(d):
        raise RefError("truncated")
    offsets, entries = locate(d, h, L, G)
    return h, [decode_chunk(d, h, g, offsets[g], entries and entries[g]) for g in range(G)]


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        try:
            header, chunks = decode(f.read())
        except RefError as e:
            sys.exit(f"error: {e}")
    out = [c if isinstance(c, str) else c.tolist() for c in chunks]
    print(json.dumps({"header": header, "chunks": out}))
