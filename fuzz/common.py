"""What both fuzzers and the corpus replay share: the tiny model's zoo, the targets, and what counts as a bug.

A target gets bytes and must end in a TokcodecError (a clean, one-line error)
or in success; any other exception, a hang (libFuzzer -timeout) or a memory
blow-up (-rss_limit_mb) is a finding. Outputs go to one scratch folder; a
target that leaves anything else there (a temporary, a partial output) is a
finding too.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"  # the committed, minimised corpora: corpus/container, corpus/decode


def make_tiny_zoo(folder: Path) -> Path:
    """The tests' tiny random tokenizer (tests/conftest.py `tiny_zoo`, same seed and config) as the
    default model of a zoo in `folder`; returns the registry path (for TOKCODEC_ZOO)."""
    import torch

    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model

    registry = Path(folder) / "registry.json"
    os.environ["TOKCODEC_ZOO"] = str(registry)
    if not registry.exists():
        torch.manual_seed(0)
        model = Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)))
        register_model("tiny", model.config, model.state_dict(), {"stage": "test"}, make_default=True)
    return registry


def parse(data: bytes) -> int | None:
    """The parser target: open (strict and recovering), read every GOP's tokens.

    Returns the first error code met (SPEC 7.1), None when everything decoded."""
    from tokcodec.codec.container import ContainerReader
    from tokcodec.errors import ContainerError

    first = None
    for recover in (False, True):
        try:
            with ContainerReader(data, recover=recover) as reader:
                for i in range(reader.header.num_gops):
                    try:
                        reader.read_tokens(i)
                    except ContainerError as e:
                        first = first or e.code
        except ContainerError as e:
            first = first or e.code
    return first


def decode(data: bytes, scratch: Path, on_damage: str = "freeze") -> int | None:
    """The decode-path target: the .tkc file decoded to a .y4m with the zoo's model, as `tokcodec decode` does.

    Returns the error code (SPEC 7.1) of a refused file, 0 for a clean error without one, None on success.
    Raises AssertionError when the scratch folder holds anything but the input and a complete output."""
    from tokcodec.codec.pipeline import decode_container
    from tokcodec.errors import TokcodecError

    src, out = scratch / "in.tkc", scratch / "out.y4m"
    src.write_bytes(data)
    code = None
    try:
        decode_container(src, out, force=True, quiet=True, on_damage=on_damage)
    except TokcodecError as e:
        code = getattr(e, "code", None) or 0
    left = sorted(p.name for p in scratch.iterdir())
    expected = ["in.tkc", "out.y4m"] if (code is None or out.exists()) else ["in.tkc"]
    assert left == expected, f"scratch folder holds {left}"
    return code


def sidecar(data: bytes) -> str | None:
    """The sidecar target: parse, then everything the decode side reads. Returns the clean error, or None."""
    from tokcodec.batch import streams
    from tokcodec.errors import TokcodecError

    try:
        d = streams.parse_sidecar(data)
    except TokcodecError as e:
        return str(e)
    streams.needs_remux(d)
    streams.display_matrix(d)
    streams.kept_packets(d)
    streams.notes(d)
    return None


def state(data: bytes, folder: Path) -> str | None:
    """The batch-state target: `data` as DST's database, opened and read as a run would (reconcile, the
    rows, a lookup, a write). Returns the clean error, or None."""
    from tokcodec.batch.state import DB_NAME, BatchState
    from tokcodec.errors import TokcodecError

    db = folder / DB_NAME
    for leftover in folder.glob(DB_NAME + "*"):  # a journal of the last input must not replay into this one
        leftover.unlink()
    db.write_bytes(data)
    try:
        st = BatchState(folder)
        try:
            st.reconcile()
            rows = st.rows()
            for row in rows[:3]:
                st.get(row["output"] if isinstance(row["output"], str) else "x")
            st.plan([("fuzz.tkc", "/nowhere/fuzz.mp4")])
            st.finish("fuzz.tkc", status="failed", error="fuzz")
        finally:
            st.close()
    except TokcodecError as e:
        return str(e)
    return None


# Two latent frames of 16 x 16: 256 positions, the smallest pass SPEC 1.4 charges for; 4 passes each.
MODE1_SHAPE = (2, 16, 16)


def mode1(data: bytes, prior) -> str | None:
    """The mode 1 payload target: `data` as one GOP's payload (schedule byte, range coder words), decoded
    under `prior` (an IntegerMLM: the shipped one in fuzz_mode1.py) into a (2, 16, 16) grid, as a reader
    does after the payload CRC passed. It must give tokens in range or fail with ValueError (the reader's
    error 25, "payload intact but it does not decode"). Returns that error, or None."""
    from tokcodec.codec.mlm_coding import decode_gop

    try:
        tokens = decode_gop(prior, data, MODE1_SHAPE)
    except ValueError as e:
        return str(e)
    assert tokens.shape == MODE1_SHAPE and tokens.dtype.kind == "i", (tokens.shape, tokens.dtype)
    assert 0 <= tokens.min() and tokens.max() < 1 << (2 * prior.config.sub_bits), (tokens.min(), tokens.max())
    return None


def mode1_seeds(prior, count: int = 8) -> list[tuple]:
    """(grid, payload) pairs an encoder writes: random grids, grids of a few repeated tokens, a copied
    previous frame, each schedule (1, 2, 4)."""
    import numpy as np

    from tokcodec.codec.mlm_coding import encode_gop

    rng = np.random.default_rng(0)
    high = 1 << (2 * prior.config.sub_bits)
    seeds = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            grid = rng.integers(0, high, size=MODE1_SHAPE)
        elif kind == 1:
            grid = rng.choice(rng.integers(0, high, size=3), size=MODE1_SHAPE)
        else:
            grid = np.repeat(rng.integers(0, high, size=MODE1_SHAPE[1:])[None], MODE1_SHAPE[0], axis=0)
        seeds.append((grid, encode_gop(prior, grid, (1, 2, 4)[i % 3])))
    return seeds
