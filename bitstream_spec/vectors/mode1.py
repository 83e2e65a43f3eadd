"""The entropy mode 1 vectors (SPEC.md 6.2, annexes B and C) and the conformance prior they use.

Built by make_vectors.py. The conformance prior (annex B.9) is a float
`TokenMLM` with seeded random weights, exported to its integer network by
tokcodec's own `integer_tensors` and saved as tokcodec saves a prior
(`zoo.priors.register_prior`): `conformance-prior.safetensors` here, and the
same bytes in tokcodec's zoo under the name `conformance-prior`, so the
vectors' mlm_sha256 resolves in both. It is bound to the conformance model of
annex A.5 (its tokenizer_sha256), so no encoder ever picks it for real video.
The payloads are tokcodec's encoder output (`codec.mlm_coding.encode_gop`);
the reference decoder decodes them from the text of the spec alone.

The weights are drawn with numpy's PCG64 (`Generator.random`, bit-exact on
every platform) rather than torch's normal sampler, whose vectorised paths
may differ in the last bit between CPUs; every later step (float64 products,
rounding) is correctly rounded IEEE arithmetic, so the tensors are the same
everywhere; the committed file is kept while it holds exactly these tensors
(another safetensors version may serialise the same content differently).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from annex import NAME as CONFORMANCE_MODEL, ConformanceLinear  # noqa: E402  (the tokenizer of the prior, A.5)
from tokcodec.codec.container import ContainerWriter, Err, Header  # noqa: E402
from tokcodec.codec.mlm_coding import encode_gop  # noqa: E402
from tokcodec.models.mlm import MLMConfig, TokenMLM  # noqa: E402
from tokcodec.models.mlm_int import IntegerMLM, integer_tensors  # noqa: E402
from vector_files import (  # noqa: E402
    chunk_entry,
    chunk_offset,
    crc,
    describe_valid,
    error_entry,
    header_fields,
    longer_payload,
    set_chunk_field,
)

PRIOR_NAME = "conformance-prior"
PRIOR_FILE = PRIOR_NAME + ".safetensors"
PRIOR_SEED = 2024
PRIOR_CARD = {
    "stage": "conformance",
    "note": "not trained: seeded random weights, the conformance prior of bitstream_spec/SPEC.md "
    "annex B.9 (entropy mode 1 test vectors); bound to the conformance model "
    "conformance-linear (annex A.5), so no real video is ever coded with it",
    "generator": "bitstream_spec/vectors/make_vectors.py",
}
FAVOURED_LO = [3, 17, 100, 255, 300, 511]  # sub-tokens the prior's output biases favour
FAVOURED_HI = [0, 1, 42, 200, 511]
UNLIKELY = slice(480, 500)  # sub-tokens the prior all but excludes: frequency 1 (B.7)


@functools.lru_cache(maxsize=None)
def prior() -> tuple[MLMConfig, dict, bytes]:
    """(config, int32 tensors, weights file bytes) of the conformance prior."""
    cfg = MLMConfig(
        dim=16, depth=2, heads=2, mlp=2, max_time=4, tokenizer_sha256=ConformanceLinear.weights_sha256().hex()
    )
    model = TokenMLM(cfg)
    rng = np.random.default_rng(PRIOR_SEED)

    def uniform(shape, scale):  # uniform in [-scale, scale)
        return scale * (2 * rng.random(shape) - 1)

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            shape = tuple(p.shape)
            if name.endswith("gain"):  # RMSNorm gains (folded into the next layer at export)
                value = 1 + uniform(shape, 0.3)
            elif name.endswith("rel_bias"):  # strong enough that some keys fall off the exp table
                value = uniform(shape, 6.0)
            elif name.startswith("blocks.") and name.endswith(".weight"):
                value = uniform(shape, 1.7 / np.sqrt(shape[1]))
            elif name.startswith("blocks.") and name.endswith(".bias"):
                value = uniform(shape, 0.3)
            elif name in ("bias_lo", "bias_hi"):
                value = uniform(shape, 1.0)
            else:  # embeddings: current frame, previous frame, time
                value = uniform(shape, 0.9)
            p.copy_(torch.from_numpy(value.astype(np.float32)))
        model.bias_lo[FAVOURED_LO] += 4.0
        model.bias_hi[FAVOURED_HI] += 4.0
        model.bias_lo[UNLIKELY] -= 40.0
        model.bias_hi[UNLIKELY] -= 40.0
    tensors = integer_tensors(model)
    from safetensors.torch import load, save  # what zoo.priors.register_prior writes, as bytes

    committed = Path(__file__).with_name(PRIOR_FILE)
    if committed.exists():  # the committed file, if it holds these very tensors and config: another
        old = committed.read_bytes()  # safetensors version may lay the same content out differently
        same = load(old)
        config = json.loads(json.loads(old[8 : 8 + struct.unpack("<Q", old[:8])[0]])["__metadata__"]["config"])
        if (
            config == cfg.to_dict()
            and same.keys() == tensors.keys()
            and all(torch.equal(same[k], tensors[k]) for k in tensors)
        ):
            return cfg, tensors, old
    data = save({k: v.contiguous() for k, v in tensors.items()}, metadata={"config": json.dumps(cfg.to_dict())})
    return cfg, tensors, data


def structured_tokens(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Tokens with structure (a palette the prior favours, copies of the previous latent frame) and
    without (uniform ones, and sub-tokens the prior gives frequency 1), extremes included."""
    palette = np.array([hi * 512 + lo for hi in FAVOURED_HI for lo in FAVOURED_LO[::2]])
    t, h, w = shape
    tokens = np.where(
        rng.random(shape) < 0.55, palette[rng.integers(0, len(palette), shape)], rng.integers(0, 1 << 18, shape)
    )
    for k in range(1, t):
        tokens[k] = np.where(rng.random((h, w)) < 0.4, tokens[k - 1], tokens[k])
    flat = tokens.reshape(-1)
    picks = rng.choice(flat.size, size=min(3, flat.size), replace=False)
    flat[picks] = [0, (1 << 18) - 1, 485 * 512 + 490][: len(picks)]
    return tokens.astype(np.int64)


def _encode(header: Header, tokens: list[np.ndarray], steps: int) -> tuple[bytes, list[bytes]]:
    cfg, tensors, _ = prior()
    integer = IntegerMLM(cfg, tensors)
    payloads = [encode_gop(integer, t, steps) for t in tokens]
    return _write(header, tokens, payloads), payloads


def _write(header: Header, tokens: list[np.ndarray], payloads: list[bytes], pad: bool = True) -> bytes:
    """The file; without `pad`, as a writer that ignores the prior work limit (3.5) would write it."""
    out = io.BytesIO()
    with ContainerWriter(out, header) as w:
        if not pad:
            w._padding_words = lambda *_: 0
        for i, (t, p) in enumerate(zip(tokens, payloads)):
            w.write_chunk(i, header.gop_frames(i), t, payload=p)
    return out.getvalue()


def _header(**fields) -> Header:
    """A mode 1 header under the conformance model (A.5) and the conformance prior."""
    base = dict(
        fps_num=25,
        fps_den=1,
        model_name=CONFORMANCE_MODEL,
        weights_hash=ConformanceLinear.weights_sha256(),
        colour_primaries=1,
        transfer_characteristics=1,
        matrix_coefficients=1,
        entropy_mode=1,
        mlm_name=PRIOR_NAME,
        mlm_hash=hashlib.sha256(prior()[2]).digest(),
    )
    return Header(**{**base, **fields})


def build() -> dict[str, bytes]:

    files = {PRIOR_FILE: prior()[2]}

    def put(name: str, meta: dict, data: bytes) -> None:  # valid files' JSON on one line, as make_vectors'
        meta.setdefault("file_bytes", len(data))
        if meta["error"] is None or meta["error"]["code"] > Err.MODE_UNSUPPORTED:  # header passes 1-11 (6.4)
            meta["error_without_mode1"] = error_entry(Err.MODE_UNSUPPORTED)
        files[name + ".tkc"] = data
        files[name + ".json"] = (json.dumps(meta, indent=None if meta["valid"] else 1) + "\n").encode()

    valid = {  # name: (header, steps, seed, what it tests)
        "mode1_gop2": (
            _header(width=100, height=76, frame_count=14, gop_length=9),
            4,
            21,
            "two GOPs (T' = 3 and 2), grid 10 x 13 (several windows, shifted layers pad both ways), 4 steps",
        ),
        "mode1_image_steps1": (
            _header(
                width=72,
                height=40,
                frame_count=1,
                gop_length=17,
                full_range=True,
                fps_num=1,
                transfer_characteristics=13,
            ),
            1,
            22,
            "one frame, grid 5 x 9, 1 step: every position coded from nothing",
        ),
        "mode1_steps2": (
            _header(width=40, height=24, frame_count=17, gop_length=17),
            2,
            23,
            "one GOP of 17 frames: T' = 5, so latent frames 3 and 4 share time index 3; checkerboard schedule",
        ),
        "mode_unsupported": (
            _header(width=40, height=24, frame_count=7, gop_length=5),
            4,
            24,
            "two GOPs (T' = 2, grid 3 x 5), 4 steps; a decoder without mode 1 reports "
            "error 12 (6.4); the base of the mode1_* error vectors",
        ),
        "mode1_padded": (
            _header(width=8, height=8, frame_count=1024, gop_length=1024),
            4,
            None,
            "one GOP of 1024 frames of 8 x 8 (T' = 257, grid 1 x 1), every token the one the "
            "prior favours: the coded words fall short of the prior work limit (3.5: 257 x 4 "
            "x 256 positions need 4112 bytes), so the writer appended zero words",
        ),
    }
    base = None
    for name, (header, steps, seed, note) in valid.items():
        shapes = [header.latent_shape(header.gop_frames(i)) for i in range(header.num_gops)]
        if seed is None:  # one token throughout: the cheapest payload there is
            tokens = [np.full(shape, FAVOURED_HI[0] * 512 + FAVOURED_LO[0], dtype=np.int64) for shape in shapes]
        else:
            rng = np.random.default_rng(seed)
            tokens = [structured_tokens(rng, shape) for shape in shapes]
        data, payloads = _encode(header, tokens, steps)
        meta = {"note": note, "steps": steps, "prior_file": PRIOR_FILE, **describe_valid(header, tokens, data)}
        if name == "mode1_padded":
            unpadded = _write(header, tokens, payloads, pad=False)
            assert len(unpadded) < len(data), "mode1_padded needs no padding: make its payload cheaper"
            put(
                "mode1_work",
                {
                    "valid": False,
                    "derived_from": "mode1_padded.tkc",
                    "note": f"mode1_padded without its zero words ({len(unpadded)} bytes): 263168 "
                    f"prior positions are more than 64 per byte (3.5)",
                    "header": header_fields(header),
                    "error": error_entry(Err.SHORT_FOR_GOPS),
                },
                unpadded,
            )
        if name == "mode_unsupported":
            base = (header, tokens, payloads, data)
        put(name, meta, data)

    header, tokens, payloads, data = base
    ok0 = chunk_entry(header, 0, tokens[0])
    c1 = chunk_offset(data, 1)

    def chunk_variant(name, note, edit):  # chunk 0 decodes, chunk 1 is error `code`
        d = bytearray(data)
        edit(d)
        code = Err.PAYLOAD_LENGTH if name == "mode1_payload_length" else Err.TOKENS_MISMATCH
        put(
            name,
            {
                **describe_valid(header, tokens, bytes(d)),
                "valid": False,
                "derived_from": "mode_unsupported.tkc",
                "note": note,
                "chunks": [ok0, {"gop_index": 1, "error": error_entry(code)}],
            },
            bytes(d),
        )

    def payload_bytes(offset: int, new: bytes):  # chunk 1's payload bytes at `offset` replaced, CRCs fixed
        def edit(d):
            start = c1 + 32 + offset
            d[start : start + len(new)] = new
            length = struct.unpack_from("<I", d, c1 + 12)[0]
            set_chunk_field(d, c1, 16, crc(bytes(d[c1 + 32 : c1 + 32 + length])), 1)

        return edit

    chunk_variant(
        "mode1_bad_steps",
        "chunk 1's schedule byte 3 (payload CRC, chunk header and index consistent): a payload no encoder writes",
        payload_bytes(0, b"\x03"),
    )
    chunk_variant(
        "mode1_bad_data",
        "chunk 1's first two range coder words FFFFFFFF (CRCs consistent): "
        "the range decoder's first quantile is >= 2^24 (C.3)",
        payload_bytes(1, b"\xff" * 8),
    )
    chunk_variant(
        "mode1_payload_length",
        "chunk 1's payload one byte longer, 1 + 4k + 1 bytes (CRCs, index and footer consistent)",
        lambda d: longer_payload(d, c1, 1),
    )

    other_tokenizer = hashlib.sha256(b"tokcodec test vector weights").digest()
    for name, fields, code, note in (
        ("mode1_unknown_prior", {"mlm_name": "no-such-prior"}, Err.MODEL_UNKNOWN, "names a token prior no decoder has"),
        (
            "mode1_prior_hash",
            {"mlm_hash": hashlib.sha256(b"another conformance prior").digest()},
            Err.MODEL_HASH,
            f"names {PRIOR_NAME} with another mlm_sha256 (another version of the prior)",
        ),
        (
            "mode1_prior_tokenizer",
            {"model_name": "default", "weights_hash": other_tokenizer},
            Err.MODEL_MISMATCH,
            f"names {PRIOR_NAME}, whose tokenizer_sha256 is the conformance model's, "
            "with the weights_sha256 of another tokenizer",
        ),
        (
            "mode1_token_bits",
            {"token_bits": 19},
            Err.MODEL_MISMATCH,
            f"token_bits 19 under {PRIOR_NAME}, whose two sub-tokens of 9 bits hold 18 (6.2, revision 1.4)",
        ),
    ):
        h = dataclasses.replace(header, **fields)
        put(
            name,
            {
                "valid": False,
                "derived_from": "mode_unsupported.tkc",
                "note": note + ": the prior is resolved before any chunk, so no tokens are read",
                "header": header_fields(h),
                "error": error_entry(code),
            },
            _write(h, tokens, payloads),
        )
    return files


def sync_zoo(content: bytes, check: bool) -> list[str]:
    """Register the prior in tokcodec's shipped zoo (or, with `check`, compare): the zoo's file SHALL be
    byte-identical to vectors/conformance-prior.safetensors. Returns the problems found."""
    from tokcodec.errors import ModelError
    from tokcodec.zoo import selected_zoo, use_zoo
    from tokcodec.zoo.priors import get_prior, register_prior

    cfg, tensors, _ = prior()
    saved = selected_zoo()
    use_zoo(None)  # the shipped registry, whatever the caller selected
    try:
        if not check:
            register_prior(PRIOR_NAME, cfg, tensors, PRIOR_CARD, replace=True)  # the same bytes each time
        try:
            entry = get_prior(PRIOR_NAME)
        except ModelError:
            return [f"differs: the zoo has no prior {PRIOR_NAME}"]
        problems = []
        if not entry.file.exists() or entry.file.read_bytes() != content:
            problems.append(f"differs: {entry.file}")
        if entry.sha256 != hashlib.sha256(content).hexdigest() or entry.config != cfg or entry.card != PRIOR_CARD:
            problems.append(f"differs: the zoo registry's entry {PRIOR_NAME}")
        return problems
    finally:
        use_zoo(saved)
