"""Regenerate the container test vectors (bitstream_spec/SPEC.md, section 11).

    python bitstream_spec/vectors/make_vectors.py          # (re)write the files here (and the zoo's prior)
    python bitstream_spec/vectors/make_vectors.py --check  # exit 1 if any file differs

Everything is deterministic: tokens come from numpy's PCG64 with fixed seeds,
and the weights "hash" is sha256 of a fixed string (no real model is involved),
except for the annex A vectors, which use the conformance model of A.5, and
the mode 1 vectors, which use the conformance prior (annex B.9).

Every .tkc has a .json of the same name (section 11): the header (field names
of 3.1), then either a file-level "error" {code, name} (section 7.1) or one
entry per GOP holding its tokens or its error. "error_without_scan" is what a
decoder that does not scan reports, where that differs; "error_without_mode1"
what a decoder that does not implement entropy mode 1 reports.
  valid:   gop2_40x24, image_20x12, disp_ext, unknown_ext, quan_ext
  errors:  one file (at least) per error number of section 7.1, derived from
           gop2_40x24.tkc; see ERROR_VECTORS below and the table in section 11
  annex A: model_latents.json (token -> decoder input values, LFQ and FSQ);
           model_fsq_20x12.tkc/.json/.rgb (frames of the conformance model) and
           model_offset_20x12 (the same with colour offsets, two GOPs);
           model_unknown, model_hash, model_mismatch, model_quantizer (errors 30-32)
  mode 1:  conformance-prior.safetensors (the prior, also registered in
           tokcodec's zoo as `conformance-prior`: byte-identical file);
           mode1_gop2, mode1_image_steps1, mode1_steps2, mode_unsupported
           (valid; 12 without mode 1) and mode1_* errors derived from
           mode_unsupported.tkc (23, 25, 30-32)
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))
import annex  # noqa: E402  (vectors/annex.py: the annex A vectors)
import mode1  # noqa: E402  (vectors/mode1.py: the conformance prior and the mode 1 vectors)
from tokcodec.codec.container import Header, write_container  # noqa: E402
from vector_files import (  # noqa: E402
    chunk_entry,
    chunk_offset,
    crc,
    describe_valid,
    error_entry,
    fix_index_crc,
    longer_payload,
    set_chunk_field,
)


def _tokens(header: Header, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 1 << header.token_bits, size=header.latent_shape(header.gop_frames(i)), dtype=np.int64)
        for i in range(header.num_gops)
    ]


def _container(header: Header, tokens: list[np.ndarray]) -> bytes:
    out = io.BytesIO()
    write_container(out, header, tokens)
    return out.getvalue()


def _fix_header_crc(data: bytearray) -> None:
    length = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<I", data, length - 4, crc(bytes(data[: length - 4])))


def _record(tag: bytes, body: bytes) -> bytes:
    """A header extension record (SPEC 3.4)."""
    return tag + struct.pack("<I", len(body)) + body


def _with_records(data: bytes, records: bytes) -> bytes:
    """`data` with `records` appended to its header's extension area.

    Header length and CRC, index offsets, index CRC and footer are adjusted, so
    only the header differs from `data` in meaning.
    """
    length = struct.unpack_from("<I", data, 12)[0]
    out = bytearray(data[: length - 4] + records + data[length - 4 :])
    struct.pack_into("<I", out, 12, length + len(records))
    _fix_header_crc(out)
    index_offset = struct.unpack_from("<Q", out, len(out) - 12)[0] + len(records)
    struct.pack_into("<Q", out, len(out) - 12, index_offset)
    for i in range(struct.unpack_from("<I", out, index_offset + 4)[0]):
        entry = index_offset + 8 + 24 * i
        struct.pack_into("<Q", out, entry, struct.unpack_from("<Q", out, entry)[0] + len(records))
    fix_index_crc(out)
    return bytes(out)


def _invalid(base: bytes, header: Header, tokens: list[np.ndarray]) -> dict[str, tuple[bytes, dict]]:
    """Broken copies of gop2_40x24.tkc: one (at least) per error of SPEC 7.1, with what a decoder reports."""
    out = {}
    c1 = chunk_offset(base, 1)
    ok0 = chunk_entry(header, 0, tokens[0])

    def variant(name, code, note, edit, chunk1=None, without_scan=None):
        """`code`: the file's error; else chunk 0 decodes and `chunk1` is chunk 1's error (or None: ok)."""
        data = bytearray(base)
        edit(data)
        meta = {
            "valid": False,
            "derived_from": "gop2_40x24.tkc",
            "note": note,
            "file_bytes": len(data),
            "error": error_entry(code) if code else None,
        }
        if without_scan:
            meta["error_without_scan"] = error_entry(without_scan)
        if not code:  # a valid header: described as a valid file's, chunk 1 as it decodes
            meta.update({k: v for k, v in describe_valid(header, tokens, bytes(data)).items() if k != "valid"})
            meta["chunks"] = [
                ok0,
                chunk_entry(header, 1, tokens[1]) if chunk1 is None else {"gop_index": 1, "error": error_entry(chunk1)},
            ]
        out[name] = (bytes(data), meta)

    def put(fmt, offset, value, fix_crc=True):
        def edit(d):
            struct.pack_into(fmt, d, offset, value)
            if fix_crc:
                _fix_header_crc(d)

        return edit

    def cut(n):
        return lambda d: d.__delitem__(slice(n, None))

    def records(area):
        return lambda d: d.__setitem__(slice(None), _with_records(bytes(d), area))

    length = struct.unpack_from("<I", base, 12)[0]
    variant("bad_magic", 1, "byte 1 'T' -> 'X'", put("<B", 1, ord("X"), fix_crc=False))
    variant("short_file", 2, "the first 12 bytes only", cut(12))
    variant("bad_version", 3, "version 2, header CRC fixed", put("<I", 8, 2))
    variant("bad_header_length", 4, "header_length 100", put("<I", 12, 100, fix_crc=False))
    variant("short_header", 5, f"cut to {length - 1} bytes, one less than header_length", cut(length - 1))
    variant("bad_header_crc", 6, "width byte flipped, CRC not fixed", put("<B", 16, base[16] ^ 0x01, False))
    variant(
        "bad_ext",
        7,
        "extension area of 10 bytes: record XTRA says 100 body bytes, 2 are left "
        "before the header CRC (CRC, index and footer valid)",
        records(_record(b"XTRA", bytes(100))[:10]),
    )
    variant(
        "bad_tag",
        7,
        "an extension record whose tag is ESC [ 2 J (not letters or digits)",
        records(_record(b"\x1b[2J", b"")),
    )
    variant(
        "bad_quan",
        7,
        "a QUAN record for FSQ with levels [8, 8, 8, 8, 8]: 2^15 codes, the header says 18-bit tokens",
        records(_record(b"QUAN", bytes([2, 5, 8, 8, 8, 8, 8]))),
    )
    variant("bad_bit_order", 8, "bit_order 1, header CRC fixed", put("<B", 45, 1))
    variant("bad_mode", 9, "entropy_mode 7, header CRC fixed", put("<B", 48, 7))
    variant(
        "limit_display",
        10,
        "a DISP record asking for 16384x4096 frames (coded 40x24): past the size and upscale limits",
        records(_record(b"DISP", struct.pack("<IIB", 16384, 4096, 1))),
    )
    variant("limit_fps", 10, "fps_num 2^31 (fps_den 1001)", put("<I", 28, 1 << 31))
    variant(
        "short_for_gops",
        11,
        f"frame_count 1000000: 1000000 frames of 40x24 cannot come from {len(base)} bytes (3.5, output per file byte)",
        put("<I", 24, 1000000),
    )
    variant(
        "bad_index",
        0,
        "index CRC damaged: a scanning decoder finds both chunks; one that does not scan stops",
        lambda d: d.__setitem__(len(d) - 16, d[len(d) - 16] ^ 0xFF),
        without_scan=13,
    )
    variant(
        "truncated",
        0,
        "cut 10 bytes into chunk 1's payload; index and footer lost",
        cut(c1 + 42),
        chunk1=20,
        without_scan=13,
    )
    variant(
        "bad_chunk_header",
        0,
        "chunk 1 num_frames byte flipped",
        put("<B", c1 + 8, base[c1 + 8] ^ 0x04, False),
        chunk1=21,
    )
    variant(
        "index_mismatch",
        0,
        "chunk 1's index entry has another tokens CRC than its chunk header (index CRC fixed)",
        lambda d: (
            struct.pack_into("<I", d, struct.unpack_from("<Q", d, len(d) - 12)[0] + 8 + 24 + 20, 0x12345678),
            fix_index_crc(d),
        ),
        chunk1=22,
    )

    variant(
        "payload_length",
        0,
        "chunk 1's payload one byte longer than its grid needs (all CRCs, index and footer consistent)",
        lambda d: longer_payload(d, c1, 1),
        chunk1=23,
    )
    variant(
        "bad_payload",
        0,
        "first payload byte of chunk 1 flipped",
        put("<B", c1 + 32, base[c1 + 32] ^ 0x80, False),
        chunk1=24,
    )
    variant(
        "bad_tokens_crc",
        0,
        "chunk 1 tokens CRC xor 1 (chunk header and index CRCs fixed): payload intact, decoded tokens differ",
        lambda d: set_chunk_field(d, c1, 20, struct.unpack_from("<I", d, c1 + 20)[0] ^ 1, 1),
        chunk1=25,
    )
    return out


def build() -> dict[str, bytes]:
    """File name -> content of every vector file."""
    weights = hashlib.sha256(b"tokcodec test vector weights").digest()
    files = {}
    valid = {
        "gop2_40x24": (
            Header(
                width=40,
                height=24,
                frame_count=7,
                fps_num=30000,
                fps_den=1001,
                gop_length=5,
                model_name="default",
                weights_hash=weights,
                colour_primaries=1,
                transfer_characteristics=1,
                matrix_coefficients=1,
            ),
            1,
        ),
        "image_20x12": (
            Header(
                width=20,
                height=12,
                frame_count=1,
                fps_num=1,
                fps_den=1,
                gop_length=17,
                model_name="test-\u00e9",
                weights_hash=weights,
                colour_primaries=1,
                transfer_characteristics=13,
                matrix_coefficients=6,
                full_range=True,
            ),
            2,
        ),
        "disp_ext": (
            Header(
                width=24,
                height=16,
                frame_count=3,
                fps_num=25,
                fps_den=1,
                gop_length=2,
                model_name="default",
                weights_hash=weights,
                colour_primaries=1,
                transfer_characteristics=1,
                matrix_coefficients=1,
                display_width=40,
                display_height=27,
            ),
            3,
        ),
        "quan_ext": (
            Header(
                width=40,
                height=24,
                frame_count=5,
                fps_num=25,
                fps_den=1,
                gop_length=5,
                model_name="default",
                weights_hash=weights,
                quantizer="fsq",
                fsq_levels=(8, 8, 8, 8, 8, 8),
            ),
            4,
        ),
    }
    described = {}  # name -> (header, tokens, file content)
    for name, (header, seed) in valid.items():
        tokens = _tokens(header, seed)
        described[name] = (header, tokens, _container(header, tokens))
    header, tokens, data = described["gop2_40x24"]
    described["unknown_ext"] = (
        header,
        tokens,
        _with_records(data, _record(b"XTRA", bytes([1, 2, 3, 4, 5])) + _record(b"XNUL", b"")),
    )
    for name, (header, tokens, data) in described.items():
        files[name + ".tkc"] = data
        files[name + ".json"] = (json.dumps(describe_valid(header, tokens, data)) + "\n").encode()
    header, tokens, data = described["gop2_40x24"]
    broken = _invalid(data, header, tokens)
    for name, (content, meta) in broken.items():
        meta.setdefault("file_bytes", len(content))
        files[name + ".tkc"] = content
        files[name + ".json"] = (json.dumps(meta, indent=1) + "\n").encode()
    files.update(annex.build())
    files.update(mode1.build())
    return files


def main() -> int:
    check = "--check" in sys.argv[1:]
    bad = 0
    files = build()
    for name, content in files.items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_bytes() != content:
                print(f"differs: {path}")
                bad += 1
        else:
            path.write_bytes(content)
    for problem in mode1.sync_zoo(files[mode1.PRIOR_FILE], check):  # the zoo's copy of the prior
        print(problem)
        bad += 1
    print(
        f"{'checked' if check else 'wrote'} {len(files)} files in {HERE} and the zoo's {mode1.PRIOR_NAME}"
        if not bad
        else f"{bad} files differ"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
