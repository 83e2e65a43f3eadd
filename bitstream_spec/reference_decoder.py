"""Reference decoder for .tkc version 1, spec revision 1.1, written from SPEC.md alone (no tokcodec import).

    python bitstream_spec/reference_decoder.py FILE.tkc   # header and tokens (or errors) as JSON

It favours plain code over speed (payloads are unpacked through one big Python
integer). `decode(data)` returns (header dict, list per GOP of either a token
array (T', H', W') or a RefError for that chunk); file-level problems raise
RefError. Every RefError carries the error's number and name from the table of
section 7.1. The header dict uses the field names of section 3.1 and has
display_width, display_height and resampler only when the file has a DISP
record. `reconstruct(...)` turns tokens into frames with the conformance model
of annex A.5. Section numbers refer to SPEC.md.
"""

import hashlib
import json
import math
import struct
import sys
import zlib
from fractions import Fraction

import numpy as np

MAGIC = b"\x89TKC\r\n\x1a\n"
ERRORS = {  # section 7.1: number -> name, in order of precedence
    1: "bad_magic", 2: "short_file", 3: "unsupported_version", 4: "bad_header_length",
    5: "short_header", 6: "header_crc", 7: "invalid_header", 8: "unknown_bit_order",
    9: "unknown_mode", 10: "limit", 11: "short_for_gops", 12: "mode_unsupported",
    13: "index_unusable", 20: "chunk_missing", 21: "chunk_header", 22: "chunk_index_mismatch",
    23: "payload_length", 24: "payload_crc", 25: "tokens_mismatch", 30: "model_unknown",
    31: "model_hash", 32: "model_mismatch",
}
TAG_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class RefError(Exception):
    def __init__(self, code, detail=""):
        super().__init__(f"error {code} {ERRORS[code]}" + (f": {detail}" if detail else ""))
        self.code, self.name = code, ERRORS[code]


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def ceil_div(a, b):
    return -(-a // b)


def parse_records(d, pos, end):  # section 3.4
    records = {}
    while pos < end:
        if pos + 8 > end:
            raise RefError(7, "partial extension record")
        tag, n = d[pos:pos + 4], struct.unpack_from("<I", d, pos + 4)[0]
        if not set(tag) <= TAG_CHARS or pos + 8 + n > end or tag in records:
            raise RefError(7, "extension record")
        records[tag] = d[pos + 8:pos + 8 + n]
        pos += 8 + n
    return records


def check_limits(h, size):  # section 3.5 (errors 10 and 11)
    w, ht = h["width"], h["height"]
    dw, dh = h.get("display_width", w), h.get("display_height", ht)
    for a, b in ((w, ht), (dw, dh)):
        if max(a, b) > 16384 or a * b > 1 << 26:
            raise RefError(10, "frame size")
    if dw > 8 * w or dh > 8 * ht:
        raise RefError(10, "display upscale")
    rate = Fraction(h["fps_num"], h["fps_den"])
    if (h["frame_count"] > 1 << 24 or max(h["fps_num"], h["fps_den"]) >= 1 << 31
            or not Fraction(1, 86400) <= rate <= 1000 or h["gop_length"] > 1024):
        raise RefError(10, "frames, rate or GOP length")
    t, hh, ww = grid(h, min(h["gop_length"], h["frame_count"]))
    if t * hh * ww > 1 << 22:
        raise RefError(10, "tokens per chunk")
    if h["frame_count"] * max(dw * dh, 4096) > (1 << 20) * size:
        raise RefError(11, "output larger than the file can hold")


def parse_header(d):  # section 3, errors 1-11 in order
    if d[:8] != MAGIC[:len(d[:8])]:
        raise RefError(1)
    if len(d) < 16:
        raise RefError(2)
    version, L = struct.unpack_from("<II", d, 8)
    if version != 1:
        raise RefError(3, f"version {version}")
    if not 124 <= L <= 1048576:
        raise RefError(4)
    if len(d) < L:
        raise RefError(5)
    if crc(d[:L - 4]) != struct.unpack_from("<I", d, L - 4)[0]:
        raise RefError(6)
    h = dict(zip(["width", "height", "frame_count", "fps_num", "fps_den"], struct.unpack_from("<5I", d, 16)))
    h.update(zip(["colour_primaries", "transfer_characteristics", "matrix_coefficients", "full_range"], d[36:40]))
    h["gop_length"] = struct.unpack_from("<I", d, 40)[0]
    h.update(zip(["token_bits", "bit_order", "temporal_stride", "spatial_stride", "entropy_mode"], d[44:49]))
    h["weights_sha256"], h["mlm_sha256"] = d[52:84].hex(), d[84:116].hex()
    pos = 116
    for key in ("model_name", "mlm_name"):
        n = struct.unpack_from("<H", d, pos)[0]
        if pos + 2 + n > L - 4:
            raise RefError(7, "names")
        try:
            h[key] = d[pos + 2:pos + 2 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise RefError(7, "names") from None
        pos += 2 + n
    records = parse_records(d, pos, L - 4)
    if b"DISP" in records:  # other tags are skipped
        if len(records[b"DISP"]) != 9:
            raise RefError(7, "DISP")
        h.update(zip(["display_width", "display_height", "resampler"], struct.unpack("<IIB", records[b"DISP"])))
        if min(h["display_width"], h["display_height"]) < 1:
            raise RefError(7, "DISP")
    for key in ("width", "height", "frame_count", "fps_num", "fps_den", "gop_length",
                "temporal_stride", "spatial_stride"):
        if h[key] < 1:
            raise RefError(7, key)
    if h["full_range"] > 1 or not 1 <= h["token_bits"] <= 32:
        raise RefError(7)
    if h["bit_order"] != 0:
        raise RefError(8)
    if h["entropy_mode"] > 1:
        raise RefError(9, f"mode {h['entropy_mode']}")
    check_limits(h, len(d))
    return h, L


def gop_frames(h, g):  # section 2
    return min(h["gop_length"], h["frame_count"] - g * h["gop_length"])


def grid(h, n):  # section 2
    return (1 + ceil_div(n - 1, h["temporal_stride"]), ceil_div(h["height"], h["spatial_stride"]),
            ceil_div(h["width"], h["spatial_stride"]))


def chunk_header(d, p):  # section 4.1; None if marker or CRC is wrong
    if p + 32 > len(d) or d[p:p + 4] != b"TKCG":
        return None
    if crc(d[p:p + 28]) != struct.unpack_from("<I", d, p + 28)[0]:
        return None
    return struct.unpack_from("<5I", d, p + 4)  # gop, frames, length, payload crc, tokens crc


def read_index(d, h, L, G):  # section 5: (offsets, entries) or None when the index is unusable
    size = len(d)
    if size < L + 12 or d[-4:] != b"TKCE":
        return None
    I = struct.unpack_from("<Q", d, size - 12)[0]
    if I + 24 * G + 24 != size or d[I:I + 8] != b"TKCI" + struct.pack("<I", G):
        return None
    if crc(d[I:I + 8 + 24 * G]) != struct.unpack_from("<I", d, I + 8 + 24 * G)[0]:
        return None
    entries = [struct.unpack_from("<QIIII", d, I + 8 + 24 * g) for g in range(G)]
    end = L
    for g, (off, frames, length, _, _) in enumerate(entries):
        if off < end or frames != gop_frames(h, g) or off + 32 + length > I:
            return None
        end = off + 32 + length
    return [e[0] for e in entries], [e[1:] for e in entries]


def scan(d, h, L, G):  # section 7.2, step 2
    offsets, p = [None] * G, L
    while 0 <= p and p + 32 <= len(d):
        c = chunk_header(d, p)
        if (c and c[0] < G and c[1] == gop_frames(h, c[0]) and p + 32 + c[2] <= len(d)
                and offsets[c[0]] is None):
            offsets[c[0]] = p
            p += 32 + c[2]
        else:
            p = d.find(b"TKCG", p + 1)
    return offsets


def unpack(payload, count, bits):  # section 6.1
    v, total = int.from_bytes(payload, "big"), 8 * len(payload)
    return [(v >> (total - (k + 1) * bits)) & ((1 << bits) - 1) for k in range(count)]


def decode_chunk(d, h, g, off, entry):  # section 7.2, step 3: errors 20-25 in order
    if off is None:
        return RefError(20)
    c = chunk_header(d, off)
    if c is None:
        return RefError(21)
    if c[0] != g or (entry is not None and tuple(c[1:]) != tuple(entry)):
        return RefError(22)
    frames, length, payload_crc, tokens_crc = c[1:]
    shape = grid(h, frames)
    count = shape[0] * shape[1] * shape[2]
    if length > 1 << 24 or length != ceil_div(count * h["token_bits"], 8):
        return RefError(23)
    payload = d[off + 32:off + 32 + length]
    if crc(payload) != payload_crc:
        return RefError(24)
    tokens = np.array(unpack(payload, count, h["token_bits"]), dtype=np.int64).reshape(shape)
    if crc(tokens.astype("<u4").tobytes()) != tokens_crc:  # section 4.2
        return RefError(25)
    return tokens


def decode(data, scan_index=True):
    """(header, per-GOP tokens or RefError); `scan_index=False`: stop with error 13 on an unusable index."""
    d = bytes(data)
    h, L = parse_header(d)
    G = ceil_div(h["frame_count"], h["gop_length"])
    if not scan_index and L + 32 * G > len(d):
        raise RefError(11, "file shorter than its chunk headers")
    if h["entropy_mode"] == 1:
        raise RefError(12, "this decoder does not decode mode 1")
    index = read_index(d, h, L, G)
    if index is None and not scan_index:
        raise RefError(13)
    offsets, entries = index if index is not None else (scan(d, h, L, G), None)
    return h, [decode_chunk(d, h, g, offsets[g], entries and entries[g]) for g in range(G)]


# -- annex A: tokens -> frames ------------------------------------------------------------

def token_values(token, quantizer, bits_or_levels):  # A.2
    """The decoder input values of one token: LFQ (bits) or FSQ (levels)."""
    if quantizer == "lfq":
        return [2.0 * ((token >> i) & 1) - 1.0 for i in range(bits_or_levels)]
    values, radix = [], 1
    for L in bits_or_levels:
        digit = (token // radix) % L
        values.append((digit - L // 2) / (L // 2))
        radix *= L
    return values


def conformance_weights(ts, ss, channels):  # A.5: W[j, k, dy, dx, c] and b[j, k, dy, dx]
    j, k, dy, dx, c = np.meshgrid(*(np.arange(n) for n in (ts, 3, ss, ss, channels)), indexing="ij")
    W = ((j * 131 + k * 71 + dy * 37 + dx * 17 + c * 29) % 23 - 11) / 64.0
    b = (((j * 7 + k * 5 + dy * 3 + dx) % 9 - 4) / 16.0)[..., 0]
    return W.astype("<f4"), b.astype("<f4")


def conformance_sha256(ts, ss, channels):  # A.5: the weights file is W then b, float32 little-endian
    W, b = conformance_weights(ts, ss, channels)
    return hashlib.sha256(W.tobytes() + b.tobytes()).hexdigest()


def conformance_network(values, ts, ss):  # A.5: (T', H', W', C) values -> (3, 1 + ts(T'-1), H'ss, W'ss)
    T, H, Wd, C = values.shape
    W, b = (a.astype(np.float64) for a in conformance_weights(ts, ss, C))
    out = np.zeros((3, 1 + ts * (T - 1), H * ss, Wd * ss))
    for t in range(T):
        frames = [0] if t == 0 else range(1 + ts * (t - 1), 1 + ts * t)
        for j, f in enumerate(frames):
            patch = np.einsum("kyxc,hwc->khywx", W[j], values[t]) + b[j][:, None, :, None, :]
            out[:, f] = patch.reshape(3, H * ss, Wd * ss)
    return out


def keys(t, a=-0.5):  # section 3.4, resampler 1
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0


def resize_axis(x, m, axis):  # section 3.4: n -> m samples along `axis`, antialiased bicubic
    n = x.shape[axis]
    s = n / m
    support = max(s, 1.0)
    weights = np.zeros((m, n))
    for o in range(m):
        centre = (o + 0.5) * s
        for j in range(max(0, math.floor(centre - 2 * support)), min(n, math.ceil(centre + 2 * support) + 1)):
            weights[o, j] = keys((j + 0.5 - centre) / support)
        weights[o] /= weights[o].sum()
    return np.moveaxis(np.tensordot(weights, np.moveaxis(x, axis, 0), axes=1), 0, axis)


KNOWN_MODELS = {  # A.4: model name -> network, quantizer and the SHA-256 of its weights
    "conformance-linear": {"network": "conformance", "quantizer": "fsq", "levels": [8] * 6,
                           "temporal_stride": 4, "spatial_stride": 8, "token_bits": 18,
                           "weights_sha256": conformance_sha256(4, 8, 6)},
}


def resolve_model(h):  # A.4: errors 30-32
    model = KNOWN_MODELS.get(h["model_name"])
    if model is None:
        raise RefError(30, h["model_name"])
    if model["weights_sha256"] != h["weights_sha256"]:
        raise RefError(31)
    if any(model[k] != h[k] for k in ("temporal_stride", "spatial_stride", "token_bits")):
        raise RefError(32)
    return model


def reconstruct(h, tokens, frames, quantizer, bits_or_levels):  # A.3: one GOP's tokens -> uint8 frames
    """(frames, display height, display width, 3) uint8 RGB with the conformance model."""
    T, H, W = tokens.shape
    values = np.array([token_values(int(t), quantizer, bits_or_levels) for t in tokens.reshape(-1)])
    x = conformance_network(values.reshape(T, H, W, -1), h["temporal_stride"], h["spatial_stride"])
    x = x[:, :frames, :h["height"], :h["width"]]
    dw, dh = h.get("display_width", h["width"]), h.get("display_height", h["height"])
    if (dw, dh) != (h["width"], h["height"]):
        x = resize_axis(resize_axis(x, dh, 2), dw, 3)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        try:
            header, chunks = decode(f.read())
        except RefError as e:
            print(json.dumps({"error": {"code": e.code, "name": e.name}}))
            sys.exit(1)
    out = [{"error": {"code": c.code, "name": c.name}} if isinstance(c, RefError) else {"tokens": c.tolist()}
           for c in chunks]
    print(json.dumps({"header": header, "chunks": out}))
