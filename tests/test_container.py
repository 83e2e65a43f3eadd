"""Container v1 (tokcodec.codec.container / packing) against bitstream_spec/SPEC.md."""

import dataclasses
import importlib.util
import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from tokcodec.codec.container import (
    ContainerReader,
    ContainerWriter,
    Err,
    Header,
    read_container,
    tokens_crc32,
    write_container,
)
from tokcodec.codec.packing import pack_tokens, packed_size, unpack_tokens
from tokcodec.errors import ContainerError, OutputError

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec"
VECTORS = SPEC / "vectors"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load(SPEC / "reference_decoder.py", "reference_decoder")


def make_header(**kw) -> Header:
    base = dict(
        width=40,
        height=24,
        frame_count=7,
        fps_num=30000,
        fps_den=1001,
        gop_length=5,
        model_name="default",
        weights_hash=bytes(range(32)),
    )
    return Header(**{**base, **kw})


def random_tokens(header: Header, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 1 << header.token_bits, size=header.latent_shape(header.gop_frames(i)))
        for i in range(header.num_gops)
    ]


def container_bytes(header: Header, tokens) -> bytes:
    out = io.BytesIO()
    write_container(out, header, tokens)
    return out.getvalue()


def read_all(data: bytes, recover: bool = False) -> list[np.ndarray]:
    with ContainerReader(data, recover=recover) as r:
        return [r.read_tokens(i) for i in range(r.header.num_gops)]


def fix_header_crc(data: bytearray) -> bytes:
    length = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<I", data, length - 4, zlib.crc32(bytes(data[: length - 4])))
    return bytes(data)


def record(tag: bytes, body: bytes) -> bytes:
    """A header extension record (SPEC 3.4)."""
    return tag + struct.pack("<I", len(body)) + body


def with_extension(data: bytes, area: bytes) -> bytes:
    """`data` with `area` appended to its header extension area, header CRC fixed.

    The chunk index still holds the old offsets, so the chunks are found by scanning.
    """
    length = struct.unpack_from("<I", data, 12)[0]
    grown = bytearray(data[: length - 4] + area + data[length - 4 :])
    struct.pack_into("<I", grown, 12, length + len(area))
    return fix_header_crc(grown)


def ref_result(data: bytes) -> list | int:
    """The reference decoder's verdict: "ok" or an error number (SPEC 7.1) per chunk, or the file's error number."""
    try:
        _, chunks = ref.decode(data)
    except ref.RefError as e:
        return e.code
    return ["ok" if isinstance(c, ref.Gop) else c.code for c in chunks]


@pytest.fixture(scope="module")
def small():
    header = make_header()
    tokens = random_tokens(header)
    return header, tokens, container_bytes(header, tokens)


# -- packing -------------------------------------------------------------------------------


def test_pack_worked_example():
    assert pack_tokens(np.array([0x2A5C3, 0x00001]), 18) == bytes.fromhex("A970C00010")
    assert unpack_tokens(bytes.fromhex("A970C00010"), 2, 18).tolist() == [0x2A5C3, 1]


@pytest.mark.parametrize("bits", [1, 7, 8, 13, 18, 31, 32])
@pytest.mark.parametrize("count", [0, 1, 3, 7, 9, 1001])
def test_pack_round_trip(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    tokens = rng.integers(0, 1 << bits, size=count, dtype=np.int64)
    if count:
        tokens[0] = (1 << bits) - 1  # all bits set
    payload = pack_tokens(tokens, bits)
    assert len(payload) == packed_size(count, bits)
    assert np.array_equal(unpack_tokens(payload, count, bits), tokens)
    # matches the spec's bit-stream definition, bit by bit
    stream = "".join(format(int(t), f"0{bits}b") for t in tokens)
    stream += "0" * (-len(stream) % 8)
    assert payload == bytes(int(stream[i : i + 8], 2) for i in range(0, len(stream), 8))


def test_pack_across_blocks():
    # 3.6M tokens: more than one of the packer's internal blocks (its speed is the benchmark's business)
    tokens = np.random.default_rng(1).integers(0, 1 << 18, size=(1000, 45, 80))  # 640x360
    back = unpack_tokens(pack_tokens(tokens, 18), tokens.size, 18)
    assert np.array_equal(back.reshape(tokens.shape), tokens)


def test_pack_rejects_bad_tokens():
    for bad in (np.array([1 << 18]), np.array([-1]), np.array([0.5])):
        with pytest.raises(ValueError):
            pack_tokens(bad, 18)
    with pytest.raises(ValueError):
        unpack_tokens(b"\x00" * 4, 2, 18)  # needs 5 bytes


# -- container round trip -----------------------------------------------------------------


def test_tokens_crc_definition():
    assert tokens_crc32(np.array([[[0x2A5C3, 1]]])) == zlib.crc32(bytes.fromhex("C3A5020001000000"))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(width=37, height=21, frame_count=1, gop_length=17),  # single image, odd size
        dict(frame_count=18, gop_length=17, token_bits=13, spatial_stride=16, temporal_stride=2),
        dict(frame_count=10, gop_length=5, model_name="mod\u00e8le", colour_primaries=9, full_range=True),
    ],
)
def test_container_round_trip(kw):
    header = make_header(**kw)
    tokens = random_tokens(header, seed=3)
    data = container_bytes(header, tokens)
    got_header, got = read_container(data)
    assert got_header == header
    assert all(np.array_equal(a, b) and b.dtype == np.int64 for a, b in zip(tokens, got))
    with ContainerReader(data) as r:
        assert r.index_ok and not r.missing
        assert [c.num_frames for c in r.chunks] == [header.gop_frames(i) for i in range(header.num_gops)]


def test_latent_shape():
    h = make_header(width=640, height=360, frame_count=20, gop_length=17)
    assert h.latent_shape(17) == (5, 45, 80)
    assert h.latent_shape(3) == (2, 45, 80)
    assert h.latent_shape(1) == (1, 45, 80)
    assert [h.gop_frames(i) for i in range(h.num_gops)] == [17, 3]


def test_writer_path_atomic_and_frame_count_patch(tmp_path):
    header = make_header(frame_count=0)  # unknown: set at close
    tokens = random_tokens(make_header(), seed=4)
    path = tmp_path / "out.tkc"
    with ContainerWriter(path, header) as w:
        w.write_chunk(0, 5, tokens[0])
        assert not path.exists()  # still under a temporary name
        w.write_chunk(1, 2, tokens[1])
    assert [p.name for p in tmp_path.iterdir()] == ["out.tkc"]
    h, got = read_container(path)
    assert h.frame_count == 7 and all(np.array_equal(a, b) for a, b in zip(tokens, got))
    with pytest.raises(OutputError):
        ContainerWriter(path, header)
    with pytest.raises(RuntimeError):  # an exception inside `with` leaves no file behind
        with ContainerWriter(tmp_path / "b.tkc", header) as w:
            w.write_chunk(0, 5, tokens[0])
            raise RuntimeError
    assert [p.name for p in tmp_path.iterdir()] == ["out.tkc"]
    write_container(path, make_header(), tokens, force=True)


def test_writer_misuse():
    header = make_header()
    tokens = random_tokens(header)
    w = ContainerWriter(io.BytesIO(), header)
    with pytest.raises(ValueError):
        w.write_chunk(1, 5, tokens[0])  # GOPs start at 0
    with pytest.raises(ValueError):
        w.write_chunk(0, 5, tokens[0][:1])  # wrong grid
    with pytest.raises(ValueError):
        w.write_chunk(0, 5, tokens[0] + (1 << 18))  # out of range
    w.write_chunk(0, 5, tokens[0])
    with pytest.raises(ValueError):
        w.close()  # 5 of 7 frames
    with pytest.raises(ValueError):
        ContainerWriter(io.BytesIO(), make_header(entropy_mode=9))
    with pytest.raises(ValueError):
        ContainerWriter(io.BytesIO(), make_header(weights_hash=b"short"))


def test_mode1_payload_is_opaque():
    header = make_header(entropy_mode=1, mlm_name="mlm-small", mlm_hash=b"\x07" * 32)
    tokens = random_tokens(header)
    out = io.BytesIO()
    with ContainerWriter(out, header) as w:
        for i, t in enumerate(tokens):
            w.write_chunk(i, header.gop_frames(i), t, payload=b"\x04" + t.astype("<u4").tobytes())  # 1 + 4k bytes
    with ContainerReader(out.getvalue()) as r:
        assert r.header == header
        with pytest.raises(ContainerError, match="entropy mode 1 .* is not supported by this decoder"):
            r.read_tokens(0)
        raw = lambda payload, shape: np.frombuffer(payload, "<u4", offset=1).reshape(shape)  # noqa: E731
        assert np.array_equal(r.read_tokens(1, unpack=raw), tokens[1])
        with pytest.raises(ContainerError, match="decoding mismatch in chunk 1"):
            r.read_tokens(1, unpack=lambda p, s: raw(p, s) ^ 1)


@pytest.mark.parametrize("case", ["output", "prior work"])
def test_mode1_writer_pads_payloads_to_the_per_byte_limits(monkeypatch, case):
    # A mode 1 token can cost far less than a bit. "output": a static clip shown 8x larger than coded
    # announces 2^26 displayed pixels per frame; "prior work": 1024 frames of 8 x 8 are one GOP of 257
    # prior passes of one window each. A few payload bytes would break SPEC 3.5's limits (error 11).
    if case == "output":
        header = make_header(
            width=1024,
            height=1024,
            display_width=8192,
            display_height=8192,
            frame_count=64,
            gop_length=8,
            entropy_mode=1,
            mlm_name="mlm-small",
            mlm_hash=b"\x07" * 32,
        )
    else:
        header = make_header(
            width=8,
            height=8,
            frame_count=2048,
            gop_length=1024,
            entropy_mode=1,
            mlm_name="mlm-small",
            mlm_hash=b"\x07" * 32,
        )
    gop = header.gop_length
    tokens = [np.zeros(header.latent_shape(gop), np.int64)] * header.num_gops

    def write() -> tuple[bytes, list]:
        out = io.BytesIO()
        with ContainerWriter(out, header) as w:
            chunks = [w.write_chunk(i, gop, t, payload=b"\x04") for i, t in enumerate(tokens)]
        return out.getvalue(), chunks

    def need(gops: int) -> int:  # bytes the first `gops` GOPs must be held in, by both rules
        w, h = header.display_size
        output = -(-gops * gop * max(w * h, 4096) // (1 << 20))
        t, hh, ww = header.latent_shape(gop)
        return max(output, -(-gops * t * 4 * max(hh * ww, 256) // 64))

    data, chunks = write()
    assert len(data) >= need(header.num_gops)
    for i, c in enumerate(chunks):  # every prefix ending after a chunk is within the limits too
        assert c.offset + c.size >= need(i + 1) > c.offset + c.size - 4  # and no word more than needed
    with ContainerReader(data) as r:  # the padding is zero words after the steps byte
        assert r.read_payload(0)[:1] == b"\x04" and len(r.read_payload(0)) > 1 and not any(r.read_payload(0)[1:])
    monkeypatch.setattr(ContainerWriter, "_padding_words", lambda *_: 0)
    with pytest.raises(
        ContainerError, match="prior positions per byte" if case == "prior work" else "cannot hold"
    ) as unpadded:  # what the padding prevents
        ContainerReader(write()[0])
    assert unpadded.value.code == Err.SHORT_FOR_GOPS


# -- test vectors and the reference decoder ----------------------------------------------


def test_vectors_are_reproducible():
    make = _load(VECTORS / "make_vectors.py", "make_vectors")
    built = make.build()
    shipped = [p.name for p in VECTORS.iterdir() if p.suffix in (".tkc", ".json", ".rgb", ".safetensors")]
    assert sorted(built) == sorted(shipped)
    for name, content in built.items():
        assert (VECTORS / name).read_bytes() == content, name


# What every vector decodes to, in tokcodec and in the reference decoder: tests/test_spec.py.


def test_extension_vectors_hold_the_base_tokens():
    """unknown_ext is gop2_40x24 plus records: same tokens, its index still usable."""
    _, base = read_container((VECTORS / "gop2_40x24.tkc").read_bytes())
    data = (VECTORS / "unknown_ext.tkc").read_bytes()
    with ContainerReader(data) as r:
        assert r.index_ok and r.header.display_size == (40, 24)
        assert all(np.array_equal(r.read_tokens(i), t) for i, t in enumerate(base))


def test_error_names_the_file(tmp_path):
    path = tmp_path / "clip.tkc"
    path.write_bytes((VECTORS / "bad_payload.tkc").read_bytes())
    with ContainerReader(path) as r:
        with pytest.raises(ContainerError, match=r"^.*clip\.tkc: damaged file: chunk 1 payload"):
            r.read_tokens(1)
    with pytest.raises(ContainerError, match="cannot open"):
        ContainerReader(tmp_path / "nope.tkc")


# -- damage --------------------------------------------------------------------------------


def test_header_byte_flips(small):
    header, _, data = small
    length = struct.unpack_from("<I", data, 12)[0]
    for pos in range(length):
        damaged = bytearray(data)
        damaged[pos] ^= 0x10
        with pytest.raises(ContainerError) as info:
            ContainerReader(bytes(damaged))
        msg = str(info.value)
        if pos < 8:
            assert "bad magic" in msg
        elif pos < 12:
            assert "unsupported container version" in msg
        elif pos < 16:
            assert "header length" in msg or "truncated" in msg or "CRC" in msg
        else:
            assert "header CRC mismatch" in msg


def test_chunk_byte_flips(small):
    header, tokens, data = small
    with ContainerReader(data) as r:
        c = r.chunks[1]
    for pos in range(c.offset, c.offset + c.size):
        damaged = bytearray(data)
        damaged[pos] ^= 0x01
        with ContainerReader(bytes(damaged)) as r:
            assert r.index_ok
            assert np.array_equal(r.read_tokens(0), tokens[0])  # the other GOP still decodes
            part = "header damaged" if pos < c.offset + 32 else "payload CRC mismatch"
            with pytest.raises(ContainerError, match=f"damaged file: chunk 1 {part}"):
                r.read_tokens(1)


def test_index_damage_falls_back_to_scan(small):
    header, tokens, data = small
    index_offset = struct.unpack_from("<Q", data, len(data) - 12)[0]
    for pos in range(index_offset, len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x01
        with pytest.raises(ContainerError, match="chunk index missing or damaged"):
            ContainerReader(bytes(damaged))
        with ContainerReader(bytes(damaged), recover=True) as r:
            assert not r.index_ok
            assert all(np.array_equal(r.read_tokens(i), t) for i, t in enumerate(tokens))


def test_scan_resynchronises_after_damaged_chunk(small):
    header, tokens, data = small
    tokens3 = random_tokens(make_header(frame_count=15), seed=5)
    data = container_bytes(make_header(frame_count=15), tokens3)
    with ContainerReader(data) as r:
        c0 = r.chunks[0]
    damaged = bytearray(data[:-20])  # index gone
    damaged[c0.offset + 12] ^= 0x40  # chunk 0's payload_length now wrong (header CRC fails)
    with ContainerReader(bytes(damaged), recover=True) as r:
        assert r.missing == [0]
        assert np.array_equal(r.read_tokens(1), tokens3[1])
        assert np.array_equal(r.read_tokens(2), tokens3[2])


def test_truncation_at_every_position(small):
    header, tokens, data = small
    image = (VECTORS / "image_20x12.tkc").read_bytes()
    for whole in (data, image):
        for cut in range(len(whole)):
            with pytest.raises(ContainerError):
                ContainerReader(whole[:cut])
            # recovery: it opens whenever the header is whole; then whole chunks before the cut
            # decode (an error there fails the test) and the rest raise
            header_length = struct.unpack_from("<I", whole, 12)[0]
            if cut < header_length:
                with pytest.raises(ContainerError):
                    ContainerReader(whole[:cut], recover=True)
                continue
            with ContainerReader(whole[:cut], recover=True) as r:
                for i, c in enumerate(r.chunks):
                    if c is not None and c.offset + c.size <= cut:
                        r.read_tokens(i)
                    else:
                        with pytest.raises(ContainerError):
                            r.read_tokens(i)


def test_corrupt_lengths_are_bounded(small):
    header, tokens, data = small
    huge = bytearray(data)
    struct.pack_into("<II", huge, 24, 2**32 - 1, 1)  # frame_count, fps_num
    struct.pack_into("<I", huge, 40, 1)  # gop_length 1: 4 billion GOPs
    with pytest.raises(ContainerError, match="frames exceed the limit"):
        ContainerReader(fix_header_crc(huge))
    struct.pack_into("<I", huge, 24, 1 << 20)  # within the limit, but not within the file
    with pytest.raises(ContainerError, match="cannot hold"):
        ContainerReader(fix_header_crc(huge))
    long_header = bytearray(data)
    struct.pack_into("<I", long_header, 12, 2**32 - 1)
    with pytest.raises(ContainerError, match="header length"):
        ContainerReader(bytes(long_header))
    names = bytearray(data)
    struct.pack_into("<H", names, 116, 60000)  # model name longer than the header
    with pytest.raises(ContainerError, match="names"):
        ContainerReader(fix_header_crc(names))


def test_unknown_version_mode_bit_order(small):
    _, _, data = small
    for offset, fmt, value, words in [
        (8, "<I", 2, "unsupported container version 2"),
        (48, "<B", 2, "unknown entropy mode 2"),
        (45, "<B", 1, "unknown bit order 1"),
    ]:
        damaged = bytearray(data)
        struct.pack_into(fmt, damaged, offset, value)
        with pytest.raises(ContainerError, match=words):
            ContainerReader(fix_header_crc(damaged))


# -- header extension records (SPEC 3.4) ---------------------------------------------------


def test_disp_round_trip():
    header = make_header(width=240, height=136, frame_count=5, gop_length=5, display_width=640, display_height=360)
    assert header.display_size == (640, 360)
    assert header.latent_shape(5) == (2, 17, 30)  # the grid follows the coded size
    tokens = random_tokens(header, seed=6)
    data = container_bytes(header, tokens)
    plain = make_header(width=240, height=136, frame_count=5, gop_length=5).to_bytes()
    length = len(plain) + 17
    assert struct.unpack_from("<I", data, 12)[0] == length
    assert data[length - 21 : length - 4] == b"DISP" + struct.pack("<IIIB", 9, 640, 360, 1)
    with ContainerReader(data) as r:
        assert r.header == header and r.header_length == length and r.index_ok
        assert r.header.display_size == (640, 360) and r.header.resampler == 1
        assert all(np.array_equal(r.read_tokens(i), t) for i, t in enumerate(tokens))
    ref_header, ref_tokens = ref.decode(data)
    assert (ref_header["display_width"], ref_header["display_height"], ref_header["resampler"]) == (640, 360, 1)
    assert all(np.array_equal(a, b.tokens) for a, b in zip(tokens, ref_tokens))
    out = io.BytesIO()  # frame_count patched at close: the header keeps its length
    with ContainerWriter(out, dataclasses.replace(header, frame_count=0)) as w:
        w.write_chunk(0, 5, tokens[0])
    assert read_container(out.getvalue())[0] == header


def test_writer_omits_disp_for_the_coded_size():
    same = make_header(display_width=40, display_height=24)
    assert same.to_bytes() == make_header().to_bytes()
    assert b"DISP" not in same.to_bytes()
    assert make_header().display_size == (40, 24)
    got, _ = read_container(container_bytes(same, random_tokens(same)))
    assert (got.display_width, got.display_height, got.display_size) == (0, 0, (40, 24))


@pytest.mark.parametrize(
    "kw,words",
    [
        (dict(display_width=640), "display size 640x0: set both or neither"),
        (dict(display_width=2**32, display_height=360), "display_width 4294967296 out of range"),
        (dict(display_width=640, display_height=360, resampler=256), "resampler 256 out of range"),
    ],
)
def test_disp_field_checks(kw, words):
    assert make_header(**kw).problem() == words
    with pytest.raises(ValueError, match=words):
        ContainerWriter(io.BytesIO(), make_header(**kw))


def test_unknown_records_are_skipped(small):
    header, tokens, data = small
    disp = record(b"DISP", struct.pack("<IIB", 64, 36, 7))  # resampler 7: reserved, kept
    grown = with_extension(data, record(b"XTRA", b"abc") + disp + record(b"XNUL", b""))
    with ContainerReader(grown, recover=True) as r:  # stale index offsets: found by scanning
        assert r.header == dataclasses.replace(header, display_width=64, display_height=36, resampler=7)
        assert r.header_length == len(header.to_bytes()) + 11 + 17 + 8
        assert all(np.array_equal(r.read_tokens(i), t) for i, t in enumerate(tokens))
    ref_header, ref_tokens = ref.decode(grown)
    assert (ref_header["display_width"], ref_header["display_height"]) == (64, 36)
    assert all(np.array_equal(a, b.tokens) for a, b in zip(tokens, ref_tokens))


def test_quantizer_record_round_trips_and_reserved_kinds_are_skipped(small):
    header, tokens, data = small
    fsq = dataclasses.replace(header, quantizer="fsq", fsq_levels=(8,) * 6)
    out = io.BytesIO()
    write_container(out, fsq, tokens)
    assert ContainerReader(out.getvalue()).header == fsq
    assert ref.decode(out.getvalue())[0]["fsq_levels"] == [8] * 6
    reserved = with_extension(data, record(b"QUAN", bytes([9, 1, 2, 3])))  # kind 9: reserved
    assert ContainerReader(reserved, recover=True).header.quantizer == ""
    assert "quantizer" not in ref.decode(reserved)[0]


@pytest.mark.parametrize(
    "area,words",
    [
        (b"XTR", "header extension area ends in a partial record (3 bytes)"),
        (record(b"XTRA", b"ab") + b"\x00", "partial record (1 bytes)"),
        (record(b"XTRA", bytes(100))[:10], "record 'XTRA' of 100 bytes runs past the header CRC"),
        (record(b"XTRA", b"") + record(b"XTRA", b"1"), "record 'XTRA' appears twice"),
        (record(b"DISP", struct.pack("<IIB", 64, 36, 1)) * 2, "record 'DISP' appears twice"),
        (record(b"DISP", struct.pack("<II", 64, 36)), "DISP record of 8 bytes (expected 9)"),
        (record(b"DISP", struct.pack("<IIB", 0, 0, 1)), "display size 0x0"),
        (record(b"DISP", struct.pack("<IIB", 64, 0, 1)), "display size 64x0"),
        (record(b"QUAN", b"\x01"), "QUAN record of 1 bytes"),
        (record(b"QUAN", bytes([1, 16])), "LFQ record for 16 channels, the tokens have 18 bits"),
        (record(b"QUAN", bytes([1, 18, 2])), "lfq quantizer with FSQ levels"),
        (record(b"QUAN", bytes([2, 6, 8, 8, 8, 8, 8])), "FSQ record for 6 channels with 5 levels"),
        (record(b"QUAN", bytes([2, 3, 64, 64, 1])), "FSQ levels [64, 64, 1] do not make 18-bit tokens"),
    ],
)
def test_malformed_extension_area(small, area, words):
    grown = with_extension(small[2], area)
    for recover in (False, True):
        with pytest.raises(ContainerError, match=f"^<bytes>: invalid header: .*{re.escape(words)}"):
            ContainerReader(grown, recover=recover)
    assert ref_result(grown) == 7  # invalid header (SPEC 7.1)


def test_random_damage_never_crashes(small):
    _, _, data = small
    rng = np.random.default_rng(9)
    for _ in range(300):
        damaged = bytearray(data)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 6)):
            damaged[pos] = rng.integers(0, 256)
        for recover in (False, True):
            try:
                read_all(bytes(damaged), recover)
            except ContainerError:
                pass
    for n in (0, 1, 50, 500):
        with pytest.raises(ContainerError):
            read_all(rng.integers(0, 256, size=n, dtype=np.uint8).tobytes())


def test_header_dataclass_helpers():
    h = make_header()
    assert h.fps == dataclasses.replace(h).fps and float(h.fps) == pytest.approx(29.97, 1e-3)
    assert h.num_gops == 2 and h.gop_frames(1) == 2
