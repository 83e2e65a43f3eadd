"""Regenerate the container test vectors (bitstream_spec/SPEC.md, section 11).

    python bitstream_spec/vectors/make_vectors.py          # (re)write the files here
    python bitstream_spec/vectors/make_vectors.py --check  # exit 1 if any file differs

Everything is deterministic: tokens come from numpy's PCG64 with fixed seeds,
and the weights "hash" is sha256 of a fixed string (no real model is involved).

Valid vectors (a decoder must return exactly the tokens in the .json):
  gop2_40x24.tkc   40x24, 7 frames at 30000/1001 fps, GOP length 5: two GOPs of 5 and
                   2 frames, each a 2x3x5 token grid; BT.709, limited range.
  image_20x12.tkc  one 20x12 frame (not a multiple of the stride: grid 1x2x3),
                   GOP length 17, sRGB / BT.601 full range, a non-ASCII model name.
  disp_ext.tkc     coded 24x16, DISP record: shown at 40x27 (bicubic); 3 frames, GOP
                   length 2 (grids 2x2x3 and 1x2x3). bpp is over the display size.
  unknown_ext.tkc  gop2_40x24.tkc with two unknown extension records (XTRA of 5 bytes,
                   XNUL of 0) a decoder must skip; index and CRCs adjusted, same tokens.
Invalid vectors (each .json names the error class a decoder must report):
  bad_magic, bad_version, bad_mode, bad_header_crc  -> the whole file is rejected
  bad_ext          a record running past the header CRC (CRC valid) -> invalid header
  bad_chunk_header, bad_payload                     -> chunk 1 damaged, chunk 0 decodes
  bad_tokens_crc                                    -> chunk 1 "decoding mismatch"
  truncated                                         -> index lost; chunk 0 found by scanning
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from tokcodec.codec.container import Header, write_container  # noqa: E402


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _tokens(header: Header, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << header.token_bits, size=header.latent_shape(header.gop_frames(i)),
                         dtype=np.int64) for i in range(header.num_gops)]


def _container(header: Header, tokens: list[np.ndarray]) -> bytes:
    out = io.BytesIO()
    write_container(out, header, tokens)
    return out.getvalue()


def _describe(header: Header, tokens: list[np.ndarray], data: bytes) -> dict:
    head = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in vars(header).items()}
    head["full_range"] = int(header.full_range)
    if not header.display_width:  # no DISP record: its fields are not in the file
        for key in ("display_width", "display_height", "resampler"):
            del head[key]
    header_length = struct.unpack_from("<I", data, 12)[0]
    display_width, display_height = header.display_size
    return {
        "valid": True,
        "file_bytes": len(data),
        "header_length": header_length,
        "bpp": len(data) * 8 / (display_width * display_height * header.frame_count),
        "header": head,
        "chunks": [{"gop_index": i, "num_frames": header.gop_frames(i), "shape": list(t.shape),
                    "tokens_crc32": _crc(t.astype("<u4").tobytes()), "tokens": t.tolist()}
                   for i, t in enumerate(tokens)],
    }


def _chunk_offset(data: bytes, i: int) -> int:
    index_offset = struct.unpack_from("<Q", data, len(data) - 12)[0]
    return struct.unpack_from("<Q", data, index_offset + 8 + 24 * i)[0]


def _fix_header_crc(data: bytearray) -> None:
    length = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<I", data, length - 4, _crc(bytes(data[:length - 4])))


def _fix_index_crc(data: bytearray) -> None:
    index_offset = struct.unpack_from("<Q", data, len(data) - 12)[0]
    end = len(data) - 16
    struct.pack_into("<I", data, end, _crc(bytes(data[index_offset:end])))


def _record(tag: bytes, body: bytes) -> bytes:
    """A header extension record (SPEC 3.4)."""
    return tag + struct.pack("<I", len(body)) + body


def _with_records(data: bytes, records: bytes) -> bytes:
    """`data` with `records` appended to its header's extension area.

    Header length and CRC, index offsets, index CRC and footer are adjusted, so
    only the header differs from `data` in meaning.
    """
    length = struct.unpack_from("<I", data, 12)[0]
    out = bytearray(data[:length - 4] + records + data[length - 4:])
    struct.pack_into("<I", out, 12, length + len(records))
    _fix_header_crc(out)
    index_offset = struct.unpack_from("<Q", out, len(out) - 12)[0] + len(records)
    struct.pack_into("<Q", out, len(out) - 12, index_offset)
    for i in range(struct.unpack_from("<I", out, index_offset + 4)[0]):
        entry = index_offset + 8 + 24 * i
        struct.pack_into("<Q", out, entry, struct.unpack_from("<Q", out, entry)[0] + len(records))
    _fix_index_crc(out)
    return bytes(out)


def _invalid(base: bytes) -> dict[str, tuple[bytes, dict]]:
    """Damaged copies of gop2_40x24.tkc, with what a decoder must report."""
    out = {}

    def variant(name, expect, note, edit):
        data = bytearray(base)
        edit(data)
        out[name] = (bytes(data), {"valid": False, "derived_from": "gop2_40x24.tkc",
                                   "expect": expect, "note": note})

    def put(fmt, offset, value, fix_crc=True):
        def edit(d):
            struct.pack_into(fmt, d, offset, value)
            if fix_crc:
                _fix_header_crc(d)
        return edit

    c1 = _chunk_offset(base, 1)
    whole = "the file is rejected"
    variant("bad_magic", {"file": "bad magic"}, "byte 1 'T' -> 'X'; " + whole,
            put("<B", 1, ord("X"), fix_crc=False))
    variant("bad_version", {"file": "unsupported version"}, "version 2, header CRC fixed; "
            + whole, put("<I", 8, 2))
    variant("bad_mode", {"file": "unknown entropy mode"}, "entropy_mode 7, header CRC fixed; "
            + whole, put("<B", 48, 7))
    variant("bad_header_crc", {"file": "header CRC mismatch"}, "width byte flipped, CRC not "
            "fixed; " + whole, put("<B", 16, base[16] ^ 0x01, fix_crc=False))
    variant("bad_chunk_header", {"chunk 0": "ok", "chunk 1": "damaged (chunk header CRC)"},
            "chunk 1 num_frames byte flipped", put("<B", c1 + 8, base[c1 + 8] ^ 0x04, False))
    variant("bad_payload", {"chunk 0": "ok", "chunk 1": "damaged (payload CRC)"},
            "first payload byte of chunk 1 flipped",
            put("<B", c1 + 32, base[c1 + 32] ^ 0x80, False))

    def wrong_tokens_crc(d):  # a consistent file whose chunk 1 tokens CRC is off by one
        index_offset = struct.unpack_from("<Q", d, len(d) - 12)[0]
        crc = struct.unpack_from("<I", d, c1 + 20)[0] ^ 1
        struct.pack_into("<I", d, c1 + 20, crc)
        struct.pack_into("<I", d, c1 + 28, _crc(bytes(d[c1:c1 + 28])))
        struct.pack_into("<I", d, index_offset + 8 + 24 + 20, crc)
        _fix_index_crc(d)

    variant("bad_tokens_crc", {"chunk 0": "ok", "chunk 1": "decoding mismatch"},
            "chunk 1 tokens CRC xor 1 (chunk header and index CRCs fixed): payload intact, "
            "decoded tokens differ", wrong_tokens_crc)
    variant("truncated", {"file": "truncated (a decoder that does not scan)",
                          "chunk 0": "ok (scanning)", "chunk 1": "missing (scanning)"},
            "cut 10 bytes into chunk 1's payload; index and footer lost",
            lambda d: d.__delitem__(slice(c1 + 42, None)))

    variant("bad_ext", {"file": "invalid header"},
            "extension area of 10 bytes: record XTRA says 100 body bytes, 2 are left before "
            "the header CRC (CRC, index and footer valid); " + whole,
            lambda d: d.__setitem__(slice(None), _with_records(
                bytes(d), _record(b"XTRA", bytes(100))[:10])))
    return out


def build() -> dict[str, bytes]:
    """File name -> content of every vector file."""
    weights = hashlib.sha256(b"tokcodec test vector weights").digest()
    files = {}
    valid = {
        "gop2_40x24": (Header(width=40, height=24, frame_count=7, fps_num=30000, fps_den=1001,
                              gop_length=5, model_name="default", weights_hash=weights,
                              colour_primaries=1, transfer_characteristics=1,
                              matrix_coefficients=1), 1),
        "image_20x12": (Header(width=20, height=12, frame_count=1, fps_num=1, fps_den=1,
                               gop_length=17, model_name="test-\u00e9", weights_hash=weights,
                               colour_primaries=1, transfer_characteristics=13,
                               matrix_coefficients=6, full_range=True), 2),
        "disp_ext": (Header(width=24, height=16, frame_count=3, fps_num=25, fps_den=1,
                            gop_length=2, model_name="default", weights_hash=weights,
                            colour_primaries=1, transfer_characteristics=1,
                            matrix_coefficients=1, display_width=40, display_height=27), 3),
    }
    described = {}  # name -> (header, tokens, file content)
    for name, (header, seed) in valid.items():
        tokens = _tokens(header, seed)
        described[name] = (header, tokens, _container(header, tokens))
    header, tokens, data = described["gop2_40x24"]
    described["unknown_ext"] = (header, tokens, _with_records(
        data, _record(b"XTRA", bytes([1, 2, 3, 4, 5])) + _record(b"XNUL", b"")))
    for name, (header, tokens, data) in described.items():
        files[name + ".tkc"] = data
        files[name + ".json"] = (json.dumps(_describe(header, tokens, data)) + "\n").encode()
    for name, (data, meta) in _invalid(files["gop2_40x24.tkc"]).items():
        files[name + ".tkc"] = data
        files[name + ".json"] = (json.dumps(meta, indent=1) + "\n").encode()
    return files


def main() -> int:
    check = "--check" in sys.argv[1:]
    bad = 0
    for name, content in build().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_bytes() != content:
                print(f"differs: {path}")
                bad += 1
        else:
            path.write_bytes(content)
    print(f"{'checked' if check else 'wrote'} {len(build())} files in {HERE}" if not bad else
          f"{bad} files differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
