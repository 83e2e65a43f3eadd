"""What both fuzzers and the corpus replay share: the tiny model's zoo, the targets, and what counts as a bug.

A target gets bytes and must end in a TokcodecError (a clean, one-line error)
or in success; any other exception, a hang (libFuzzer -timeout) or a memory
blow-up (-rss_limit_mb) is a finding. Outputs go to one scratch folder; a
target that leaves anything else there (a temporary, a partial output) is a
finding too.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"  # the committed, minimised corpora: corpus/container, corpus/decode


def make_tiny_zoo(folder: Path) -> Path:
    """The tests' tiny random tokenizer (tests/conftest.py `tiny_zoo`, same seed and config) as the
    default model of a zoo in `folder`, selected for this process (tokcodec.zoo.use_zoo); returns the
    registry path."""
    import torch

    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model, use_zoo

    registry = Path(folder) / "registry.json"
    use_zoo(registry)
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


def mode1_tokens(data: bytes, scratch: Path) -> int | None:
    """The mode 1 target: `data` as a .tkc file whose tokens are read as `tokcodec.open(path).tokens(g)` reads
    them, every GOP, under the zoo's prior the header names (the shipped one, for files of the default
    model): the header's limits and work bound (SPEC 3.5, errors 1-11) first, then each payload through the
    range decoder and the integer network. A damaged GOP is skipped as a reader would; the file must end
    in success or in a TokcodecError. Returns the first error code (0: a clean error without one), or None."""
    import tokcodec
    from tokcodec.errors import ContainerError, TokcodecError

    src = scratch / "in.tkc"
    src.write_bytes(data)
    first = None
    try:
        with tokcodec.open(src) as f:
            for g in range(f.num_gops):
                try:
                    tokens = f.tokens(g)
                    assert tokens.min() >= 0 and tokens.max() < 1 << f.header.token_bits
                except ContainerError as e:  # this GOP is damaged; the next may not be
                    first = first if first is not None else (e.code or 0)
    except TokcodecError as e:
        return getattr(e, "code", None) or 0
    return first


def mode1_seeds(folder: Path) -> None:
    """Small mode 1 files of the default model and its prior: a moving clip, a static one (cheap payloads),
    an image, a clip of two GOPs (the last one short), each mode 1 schedule."""
    from fractions import Fraction

    import numpy as np

    import tokcodec
    from tokcodec.io import ColourInfo, VideoInfo

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    still = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    for name, (w, h, n, gop, steps, static) in {
        "moving_64x48_5f": (64, 48, 5, 5, 4, False),
        "static_64x48_9f": (64, 48, 9, 9, 2, True),
        "image_64x48": (64, 48, 1, 5, 1, False),
        "two_gops_32x32_7f": (32, 32, 7, 5, 4, False),
    }.items():
        frames = [still[:h, :w] if static else rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
        info = VideoInfo(w, h, Fraction(25), n, ColourInfo())
        tokcodec.encode_frames(
            frames, info, folder / f"seed_{name}.tkc", entropy="mlm", mlm_steps=steps, gop=gop, force=True
        )
