"""Reference decoder for .tkc version 1, spec revision 1.5, written from SPEC.md alone (no tokcodec import).

    python bitstream_spec/reference_decoder.py FILE.tkc [--prior NAME=PATH ...]
        # header and tokens (or errors) as JSON; --prior: the weights file of a token prior (mode 1)

numpy and the standard library only, plus `range_coder.py` next to it (the
range decoder of annex C, written from that annex). It favours plain code over
speed (mode 0 payloads are unpacked through one big Python integer; the mode 1
prior runs on int64 arrays, a window and a head at a time). `decode(data,
priors=...)` returns (header dict, list per GOP of either a `Gop` (the token
array (T', H', W') and the chunk's colour offset) or a RefError for that
chunk); file-level problems raise RefError.
`priors` maps a token prior's name (mlm_name, section 3.3) to the path of its
weights file (annex B.2); a mode 1 file whose prior is not there is error 30.
Every RefError carries the error's number and name from the table of
section 7.1. The header dict uses the field names of section 3.1 and has
display_width, display_height and resampler only when the file has a DISP
record. `reconstruct(...)` turns a GOP into frames with the conformance model
of annex A.5. Section numbers refer to SPEC.md.
"""

import hashlib
import json
import math
import os
import struct
import sys
import zlib
from fractions import Fraction
from typing import NamedTuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from range_coder import RangeDecoder  # noqa: E402  (annex C)

MAGIC = b"\x89TKC\r\n\x1a\n"
ERRORS = {  # section 7.1: number -> name, in order of precedence
    1: "bad_magic",
    2: "short_file",
    3: "unsupported_version",
    4: "bad_header_length",
    5: "short_header",
    6: "header_crc",
    7: "invalid_header",
    8: "unknown_bit_order",
    9: "unknown_mode",
    10: "limit",
    11: "short_for_gops",
    12: "mode_unsupported",
    13: "index_unusable",
    20: "chunk_missing",
    21: "chunk_header",
    22: "chunk_index_mismatch",
    23: "payload_length",
    24: "payload_crc",
    25: "tokens_mismatch",
    30: "model_unknown",
    31: "model_hash",
    32: "model_mismatch",
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
        tag, n = d[pos : pos + 4], struct.unpack_from("<I", d, pos + 4)[0]
        if not set(tag) <= TAG_CHARS or pos + 8 + n > end or tag in records:
            raise RefError(7, "extension record")
        records[tag] = d[pos + 8 : pos + 8 + n]
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
    if (
        h["frame_count"] > 1 << 24
        or max(h["fps_num"], h["fps_den"]) >= 1 << 31
        or not Fraction(1, 86400) <= rate <= 1000
        or h["gop_length"] > 1024
    ):
        raise RefError(10, "frames, rate or GOP length")
    t, hh, ww = grid(h, min(h["gop_length"], h["frame_count"]))
    if t * hh * ww > 1 << 22:
        raise RefError(10, "tokens per chunk")
    if h["frame_count"] * max(dw * dh, 4096) > (1 << 20) * size:
        raise RefError(11, "output larger than the file can hold")
    if h["entropy_mode"] == 1:  # prior work, revision 1.4

        def gop_work(n):
            t, hh, ww = grid(h, n)
            return t * 4 * max(hh * ww, 256)

        full, rest = divmod(h["frame_count"], h["gop_length"])
        work = full * gop_work(h["gop_length"]) + (gop_work(rest) if rest else 0)
        if work > 64 * size:
            raise RefError(11, "more prior work than the file can pay for")


def parse_header(d):  # section 3, errors 1-11 in order
    if d[:8] != MAGIC[: len(d[:8])]:
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
    if crc(d[: L - 4]) != struct.unpack_from("<I", d, L - 4)[0]:
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
            h[key] = d[pos + 2 : pos + 2 + n].decode("utf-8")
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
    quan = records.get(b"QUAN")
    if quan is not None:  # 3.4: kinds 1 (LFQ) and 2 (FSQ); other kinds are skipped
        if len(quan) < 2:
            raise RefError(7, "QUAN")
        kind, channels, levels = quan[0], quan[1], list(quan[2:])
        if kind == 1 and (len(quan) != 2 or channels != d[44]):
            raise RefError(7, "QUAN")
        if kind == 2 and (
            channels != len(levels) or channels < 1 or min(levels) < 2 or math.prod(levels) != 1 << d[44]
        ):
            raise RefError(7, "QUAN")
        if kind in (1, 2):
            h["quantizer"] = {1: "lfq", 2: "fsq"}[kind]
            h["fsq_levels"] = levels
    for key in (
        "width",
        "height",
        "frame_count",
        "fps_num",
        "fps_den",
        "gop_length",
        "temporal_stride",
        "spatial_stride",
    ):
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
    return (
        1 + ceil_div(n - 1, h["temporal_stride"]),
        ceil_div(h["height"], h["spatial_stride"]),
        ceil_div(h["width"], h["spatial_stride"]),
    )


def chunk_header(d, p):  # section 4.1; None if marker or CRC is wrong
    if p + 32 > len(d) or d[p : p + 4] != b"TKCG":
        return None
    if crc(d[p : p + 28]) != struct.unpack_from("<I", d, p + 28)[0]:
        return None
    return struct.unpack_from("<5I3b", d, p + 4)  # gop, frames, length, payload crc, tokens crc, colour offset


class Gop(NamedTuple):  # a decoded chunk
    tokens: np.ndarray  # (T', H', W') int64
    colour_offset: tuple  # R'G'B' in quarter levels (4.1), for annex A.3


def read_index(d, h, L, G):  # section 5: (offsets, entries) or None when the index is unusable
    size = len(d)
    if size < L + 12 or d[-4:] != b"TKCE":
        return None
    I = struct.unpack_from("<Q", d, size - 12)[0]  # noqa: E741  (the spec's name for the index offset)
    if I + 24 * G + 24 != size or d[I : I + 8] != b"TKCI" + struct.pack("<I", G):
        return None
    if crc(d[I : I + 8 + 24 * G]) != struct.unpack_from("<I", d, I + 8 + 24 * G)[0]:
        return None
    entries = [struct.unpack_from("<QIIII", d, I + 8 + 24 * g) for g in range(G)]
    end = L
    for g, (off, frames, length, _, _) in enumerate(entries):
        if off < end or frames != gop_frames(h, g) or off + 32 + length > I:
            return None
        end = off + 32 + length
    return [e[0] for e in entries], [e[1:] for e in entries]


def scan(d, h, L, G):  # section 7.2, step 3
    offsets, p = [None] * G, L
    while 0 <= p and p + 32 <= len(d):
        c = chunk_header(d, p)
        if c and c[0] < G and c[1] == gop_frames(h, c[0]) and p + 32 + c[2] <= len(d) and offsets[c[0]] is None:
            offsets[c[0]] = p
            p += 32 + c[2]
        else:
            p = d.find(b"TKCG", p + 1)
    return offsets


def unpack(payload, count, bits):  # section 6.1
    v, total = int.from_bytes(payload, "big"), 8 * len(payload)
    return [(v >> (total - (k + 1) * bits)) & ((1 << bits) - 1) for k in range(count)]


def decode_chunk(d, h, g, off, entry, prior):  # section 7.2, step 5: errors 20-25 in order
    if off is None:
        return RefError(20)
    c = chunk_header(d, off)
    if c is None:
        return RefError(21)
    if c[0] != g or (entry is not None and tuple(c[1:5]) != tuple(entry)):
        return RefError(22)
    frames, length, payload_crc, tokens_crc = c[1:5]
    shape = grid(h, frames)
    count = shape[0] * shape[1] * shape[2]
    if length > 1 << 24:
        return RefError(23)
    if h["entropy_mode"] == 0 and length != ceil_div(count * h["token_bits"], 8):  # 6.1
        return RefError(23)
    if h["entropy_mode"] == 1 and (length < 1 or (length - 1) % 4):  # 6.2: 1 + 4k bytes
        return RefError(23)
    payload = d[off + 32 : off + 32 + length]
    if crc(payload) != payload_crc:
        return RefError(24)
    if h["entropy_mode"] == 0:
        tokens = np.array(unpack(payload, count, h["token_bits"]), dtype=np.int64).reshape(shape)
    else:
        try:
            tokens = decode_mode1(payload, shape, prior)
        except RefError as e:  # a payload no encoder writes (schedule byte, range decoder state)
            return e
    if crc(tokens.astype("<u4").tobytes()) != tokens_crc:  # section 4.2
        return RefError(25)
    return Gop(tokens, tuple(c[5:8]))


def decode(data, scan_index=True, priors=None):
    """(header, per-GOP `Gop` or RefError); `scan_index=False`: stop with error 13 on an unusable index.

    `priors`: token prior name -> path of its weights file, for entropy mode 1 (section 3.3)."""
    d = bytes(data)
    h, L = parse_header(d)
    G = ceil_div(h["frame_count"], h["gop_length"])
    if not scan_index and L + 32 * G > len(d):
        raise RefError(11, "file shorter than its chunk headers")
    # Error 12 (7.2 step 2) is for decoders without mode 1; this one decodes modes 0 and 1.
    index = read_index(d, h, L, G)
    if index is None and not scan_index:
        raise RefError(13)
    offsets, entries = index if index is not None else (scan(d, h, L, G), None)
    prior = resolve_prior(h, priors) if h["entropy_mode"] == 1 else None  # 7.2 step 4: errors 30-32
    return h, [decode_chunk(d, h, g, offsets[g], entries and entries[g], prior) for g in range(G)]


# -- section 6.2: entropy mode 1; annex B: the integer token prior -------------------------------

SCHEDULES = {  # 6.2: steps -> group of position (y, x), indexed [y mod 2][x mod 2]
    1: ((0, 0), (0, 0)),
    2: ((0, 1), (1, 0)),
    4: ((0, 2), (3, 1)),
}
ACT_LIMIT = 1 << 17  # B.1: activations are clamped to [-2^17, 2^17]
NORM_EPS = 68719  # B.4: round(10^-6 * 2^36)
PRECISION = 24  # B.7 and annex C: frequency tables sum to 2^24


def read_safetensors(data):  # B.2: (metadata dict, name -> int64 array)
    n = struct.unpack_from("<Q", data, 0)[0]
    if 8 + n > len(data) or n > 1 << 20:
        raise ValueError("safetensors header runs past the file or past 2^20 bytes")
    head = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = head.pop("__metadata__", {})
    tensors = {}
    for name, info in head.items():
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if (
            info["dtype"] != "I32"
            or not 0 <= begin <= end
            or end - begin != 4 * math.prod(shape)
            or 8 + n + end > len(data)
        ):
            raise ValueError(f"tensor {name}: not int32 data of shape {shape}")
        raw = np.frombuffer(data, dtype="<i4", count=math.prod(shape), offset=8 + n + begin)
        tensors[name] = raw.astype(np.int64).reshape(shape)
    return metadata, tensors


def prior_problem(config, tensors):  # B.2 bounds and B.8 (revision 1.4): None when the file is a prior
    bounds = {
        "dim": (1, 8192),
        "depth": (1, 64),
        "heads": (1, 8192),
        "mlp": (1, 16),
        "window": (2, 256),
        "sub_bits": (1, 16),
        "max_time": (1, 1024),
    }
    for key, (low, high) in bounds.items():
        if type(config.get(key)) is not int or not low <= config[key] <= high:
            return f"configuration {key}"
    d, w, v = config["dim"], config["window"], 1 << config["sub_bits"]
    if d % config["heads"] or w % 2 or not isinstance(config.get("tokenizer_sha256"), str):
        return "configuration"
    shapes = {n: (v + 1, d) for n in ("embed_lo", "embed_hi", "prev_lo", "prev_hi")}
    shapes.update(time=(config["max_time"], d), exp_attn=(768,), exp_out=(1536,))
    linears = {"head_lo": (v, d), "head_hi": (v, d)}
    for i in range(config["depth"]):
        m = config["mlp"] * d
        linears.update(
            {
                f"blocks.{i}.attn.qkv": (3 * d, d),
                f"blocks.{i}.attn.proj": (d, d),
                f"blocks.{i}.fc1": (m, d),
                f"blocks.{i}.fc2": (d, m),
            }
        )
        shapes[f"blocks.{i}.attn.rel_bias"] = (config["heads"], (2 * w - 1) ** 2)
    for name, (n, k) in linears.items():
        shapes[name + ".weight"], shapes[name + ".bias"] = (n, k), (n,)
    for name, shape in shapes.items():
        if name not in tensors or tensors[name].shape != shape:
            return f"tensor {name}"
    if tensors["exp_attn"][0] != 1 << 16 or tensors["exp_out"][0] != 1 << 20:
        return "exponential tables"
    for name, (_n, k) in linears.items():  # B.8
        weight, bias = tensors[name + ".weight"], tensors[name + ".bias"]
        if k * (1 << 17) * int(np.abs(weight).max()) + int(np.abs(bias).max()) + (1 << 15) > 1 << 53:
            return f"{name} past the bounds of B.8"
    return None


def resolve_prior(h, priors):  # 3.3: errors 30, 31, 32 in this order; the file is read as data
    path = (priors or {}).get(h["mlm_name"])
    if path is None:
        raise RefError(30, f"no token prior named {h['mlm_name']!r}")
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != h["mlm_sha256"]:
        raise RefError(31, f"token prior {h['mlm_name']!r} has another SHA-256")
    try:
        metadata, tensors = read_safetensors(data)
        config = json.loads(metadata["config"])
        problem = prior_problem(config, tensors)
    except (ValueError, KeyError, TypeError, AttributeError, struct.error) as e:
        problem = f"unreadable ({e})"
    if problem:
        raise RefError(30, f"token prior {h['mlm_name']!r} is not a prior: {problem}")
    if config["tokenizer_sha256"] != h["weights_sha256"]:
        raise RefError(32, f"token prior {h['mlm_name']!r} models another tokenizer's tokens")
    if h["token_bits"] > 2 * config["sub_bits"]:  # 6.2, revision 1.4
        raise RefError(32, f"tokens of {h['token_bits']} bits, more than two sub-tokens hold")
    return IntegerPrior(config, tensors)


def round_shift(a, k):  # B.1: a / 2^k rounded half up (>> is a floor on int64)
    return (a + (1 << (k - 1))) >> k


def clamp(a):  # B.1
    return np.clip(a, -ACT_LIMIT, ACT_LIMIT)


def linear(x, weight, bias):  # B.3: (..., K) -> (..., N)
    return clamp(round_shift(np.matmul(x, weight.T) + bias, 12))


def rms_norm(x):  # B.4, over the last axis
    mean_square = (x * x).sum(-1) // x.shape[-1]
    rms = np.array([math.isqrt(int(v)) for v in (mean_square * (1 << 16) + NORM_EPS).ravel()], dtype=np.int64).reshape(
        mean_square.shape
    )
    return (x * (1 << 18)) // rms[..., None]


def frequencies(logits, table):  # B.7: (n, V) integer logits -> (n, V) tables summing to 2^24
    n, v = logits.shape
    z = np.minimum(logits.max(1, keepdims=True) - logits, len(table) - 1)
    e = table[z]
    total = e.sum(1, keepdims=True)
    f = 1 + e * ((1 << PRECISION) - v) // total
    f[np.arange(n), e.argmax(1)] += (1 << PRECISION) - f.sum(1)  # argmax: the first maximal e
    return f


class IntegerPrior:
    """The network of annex B, on int64 numpy arrays."""

    def __init__(self, config, tensors):
        self.c, self.w = config, tensors
        self.vocab = 1 << config["sub_bits"]

    def attention(self, u, i):  # B.5: u (H, W, D), normalised
        c, w = self.c, self.w
        p = f"blocks.{i}.attn."
        win = c["window"]
        shift = (i % 2) * (win // 2)
        height, width, dim = u.shape
        hd = dim // c["heads"]
        qkv = linear(u, w[p + "qkv.weight"], w[p + "qkv.bias"]).reshape(height * width, 3 * dim)
        ys, xs = np.divmod(np.arange(height * width), width)
        window_of = ((ys + shift) // win) * (width + win) + (xs + shift) // win
        out = np.zeros((height * width, dim), dtype=np.int64)
        for window in np.unique(window_of):
            m = np.flatnonzero(window_of == window)  # the keys: every position of the window
            rel = (ys[m, None] - ys[None, m] + win - 1) * (2 * win - 1) + (xs[m, None] - xs[None, m] + win - 1)
            for head in range(c["heads"]):
                q = qkv[m, head * hd : (head + 1) * hd]
                k = qkv[m, dim + head * hd : dim + (head + 1) * hd]
                v = qkv[m, 2 * dim + head * hd : 2 * dim + (head + 1) * hd]
                a = round_shift(q @ k.T, 14) + w[p + "rel_bias"][head][rel]
                z = np.minimum(a.max(1, keepdims=True) - a, len(w["exp_attn"]) - 1)
                e = w["exp_attn"][z]
                total = e.sum(1, keepdims=True)
                out[m, head * hd : (head + 1) * hd] = (2 * (e @ v) + total) // (2 * total)
        return linear(out, w[p + "proj.weight"], w[p + "proj.bias"]).reshape(height, width, dim)

    def features(self, frame, known, prev, t):  # B.3-B.6: (H, W, D) final normalised features
        c, w, v = self.c, self.w, self.vocab
        lo, hi = np.where(known, frame % v, v), np.where(known, frame // v, v)  # v: [MASK]
        if prev is None:  # latent frame 0: "none" everywhere
            plo = phi = np.full(frame.shape, v)
        else:
            plo, phi = prev % v, prev // v
        x = w["embed_lo"][lo] + w["embed_hi"][hi] + w["prev_lo"][plo] + w["prev_hi"][phi]
        x = clamp(x + w["time"][min(t, c["max_time"] - 1)])
        for i in range(c["depth"]):
            x = clamp(x + self.attention(rms_norm(x), i))
            p = f"blocks.{i}."
            h = np.maximum(linear(rms_norm(x), w[p + "fc1.weight"], w[p + "fc1.bias"]), 0)
            x = clamp(x + linear(h, w[p + "fc2.weight"], w[p + "fc2.bias"]))
        return rms_norm(x)

    def tables(self, f):  # B.7: features (n, D) -> low and high sub-token tables (n, V) each
        w = self.w
        return [
            frequencies(round_shift(f @ w[head + ".weight"].T + w[head + ".bias"], 16), w["exp_out"])
            for head in ("head_lo", "head_hi")
        ]


def decode_mode1(payload, shape, prior):  # 6.2: one GOP's payload -> (T', H', W') tokens
    steps = payload[0]
    if steps not in SCHEDULES:
        raise RefError(25, f"schedule byte {steps}")
    decoder = RangeDecoder(payload[1:])  # annex C: u32 little-endian words
    T, H, W = shape
    group = np.array(SCHEDULES[steps])[np.arange(H)[:, None] % 2, np.arange(W)[None, :] % 2]
    tokens = np.zeros(shape, dtype=np.int64)
    for t in range(T):
        for g in range(steps):
            positions = np.flatnonzero(group == g)  # raster order
            if not positions.size:
                continue
            f = prior.features(tokens[t], group < g, tokens[t - 1] if t else None, t)
            lo_tables, hi_tables = prior.tables(f.reshape(H * W, -1)[positions])
            try:
                lo = [decoder.decode(table) for table in lo_tables]
                hi = [decoder.decode(table) for table in hi_tables]
            except ValueError as e:  # C.3: q >= 2^24
                raise RefError(25, str(e)) from None
            tokens[t].reshape(-1)[positions] = np.array(hi) * prior.vocab + np.array(lo)
    return tokens


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


def conformance_weights(ts, ss, channels, alt=False):  # A.5: W[j, k, dy, dx, c] and b[j, k, dy, dx]
    j, k, dy, dx, c = np.meshgrid(*(np.arange(n) for n in (ts, 3, ss, ss, channels)), indexing="ij")
    mod = 19 if alt else 23  # alt: the decoder entry conformance-linear-alt (A.5, revision 1.5)
    W = ((j * 131 + k * 71 + dy * 37 + dx * 17 + c * 29) % mod - (mod - 1) // 2) / 64.0
    b = (((j * 7 + k * 5 + dy * 3 + dx) % 9 - 4) / 16.0)[..., 0]
    return W.astype("<f4"), b.astype("<f4")


def conformance_sha256(ts, ss, channels, alt=False):  # A.5: the weights file is W then b, float32 LE
    W, b = conformance_weights(ts, ss, channels, alt)
    return hashlib.sha256(W.tobytes() + b.tobytes()).hexdigest()


def conformance_network(values, ts, ss, alt=False):  # A.5: (T', H', W', C) -> (3, 1 + ts(T'-1), H'ss, W'ss)
    T, H, Wd, C = values.shape
    W, b = (a.astype(np.float64) for a in conformance_weights(ts, ss, C, alt))
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
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a if t < 2 else 0.0


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
    "conformance-linear": {
        "network": "conformance",
        "quantizer": "fsq",
        "levels": [8] * 6,
        "temporal_stride": 4,
        "spatial_stride": 8,
        "token_bits": 18,
        "weights_sha256": conformance_sha256(4, 8, 6),
    },
}


KNOWN_DECODERS = {  # A.4 (revision 1.5): decoder entry -> its network and the weights_sha256 it is bound to
    "conformance-linear-alt": {"network": "conformance-alt", "base_sha256": conformance_sha256(4, 8, 6)},
}


def resolve_decoder(h, name):  # A.4, revision 1.5: a decoder for the same tokens, by the reader's choice
    decoder = KNOWN_DECODERS.get(name)
    if decoder is None:
        raise RefError(30, name)
    if decoder["base_sha256"] != h["weights_sha256"]:
        raise RefError(31, f"{name} decodes other tokens")
    base = next(m for m in KNOWN_MODELS.values() if m["weights_sha256"] == decoder["base_sha256"])
    if any(base[k] != h[k] for k in ("temporal_stride", "spatial_stride", "token_bits")):
        raise RefError(32)
    return decoder


def resolve_model(h):  # A.4: errors 30-32
    model = KNOWN_MODELS.get(h["model_name"])
    if model is None:
        raise RefError(30, h["model_name"])
    if model["weights_sha256"] != h["weights_sha256"]:
        raise RefError(31)
    if any(model[k] != h[k] for k in ("temporal_stride", "spatial_stride", "token_bits")):
        raise RefError(32)
    if "quantizer" in h and (h["quantizer"], h["fsq_levels"]) != (model["quantizer"], model.get("levels", [])):
        raise RefError(32)  # the QUAN record disagrees with the named network (3.4)
    return model


def reconstruct(h, gop, frames, quantizer, bits_or_levels, alt=False):  # A.3: one GOP -> uint8 frames
    """(frames, display height, display width, 3) uint8 RGB with the conformance model (`alt`: with the
    decoder entry conformance-linear-alt)."""
    T, H, W = gop.tokens.shape
    values = np.array([token_values(int(t), quantizer, bits_or_levels) for t in gop.tokens.reshape(-1)])
    x = conformance_network(values.reshape(T, H, W, -1), h["temporal_stride"], h["spatial_stride"], alt)
    x = x[:, :frames, : h["height"], : h["width"]]
    x = x + np.array(gop.colour_offset, dtype=np.float64).reshape(3, 1, 1, 1) / (4 * 127.5)
    dw, dh = h.get("display_width", h["width"]), h.get("display_height", h["height"])
    if (dw, dh) != (h["width"], h["height"]):
        x = resize_axis(resize_axis(x, dh, 2), dw, 3)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)


if __name__ == "__main__":
    args, priors = sys.argv[1:], {}
    while "--prior" in args:
        i = args.index("--prior")
        name, _, path = args[i + 1].partition("=")
        priors[name] = path
        del args[i : i + 2]
    with open(args[0], "rb") as f:
        try:
            header, chunks = decode(f.read(), priors=priors)
        except RefError as e:
            print(json.dumps({"error": {"code": e.code, "name": e.name}}))
            sys.exit(1)
    out = [
        {"error": {"code": c.code, "name": c.name}}
        if isinstance(c, RefError)
        else {"tokens": c.tokens.tolist(), "colour_offset": list(c.colour_offset)}
        for c in chunks
    ]
    print(json.dumps({"header": header, "chunks": out}))
