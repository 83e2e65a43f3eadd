"""Entropy mode 1: the token prior, its integer network, range coding, files, and determinism."""

import io
import math
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import jitter_weights, tiny_prior_model, select_zoo
from tokcodec.codec.container import ContainerReader, Err
from tokcodec.codec.mlm_coding import decode_gop, encode_gop
from tokcodec.codec import entropy as entropy_coding
from tokcodec.errors import ContainerError, InputError
from tokcodec.models.mlm import MLMConfig, TokenMLM, schedule
from tokcodec.models.mlm_int import PRECISION, IntegerMLM, floor_div, integer_tensors, isqrt, softmax_frequencies


@pytest.fixture(scope="module")
def prior():
    model = tiny_prior_model()
    return model, IntegerMLM(model.config, integer_tensors(model))


def random_gop(shape, seed=0, repeat=True):
    """Tokens with some structure (repeated latent frames, a few frequent values), like real ones."""
    rng = np.random.default_rng(seed)
    common = rng.integers(0, 1 << 18, 20)
    tokens = np.where(rng.random(shape) < 0.6, common[rng.integers(0, 20, shape)], rng.integers(0, 1 << 18, shape))
    if repeat and shape[0] > 1:
        tokens[1] = np.where(rng.random(shape[1:]) < 0.5, tokens[0], tokens[1])
    return tokens


# --- integer arithmetic ---------------------------------------------------------------


def test_floor_div_and_isqrt_are_exact_within_their_bounds():
    rng = np.random.default_rng(0)
    a = rng.integers(-(1 << 52), 1 << 52, 20000).astype(np.int64)
    b = rng.integers(1, 1 << 30, 20000).astype(np.int64)
    # quotients just below an integer: the float quotient rounds up to it
    b[:5000] = 3
    a[:5000] = rng.integers(1, 1 << 50, 5000) * 3 - 1
    # and the hardest cases floor_div's bound allows: just below a multiple, |a| + b just under 2^53
    b[5000:10000] = rng.integers(2, 1 << 20, 5000)
    k = ((1 << 53) - 2 * b[5000:10000]) // b[5000:10000]
    a[5000:10000] = k * b[5000:10000] - 1
    a[7500:10000] *= -1
    assert np.all(np.abs(a) + b < 1 << 53)
    got = floor_div(torch.from_numpy(a).double(), torch.from_numpy(b).double()).long().numpy()
    assert np.array_equal(got, np.floor_divide(a, b))
    v = np.concatenate([rng.integers(0, 1 << 52, 20000), np.arange(1000) ** 2, np.arange(1, 1000) ** 2 - 1])
    s = isqrt(torch.from_numpy(v).double()).long().numpy()
    assert np.all(s * s <= v) and np.all((s + 1) * (s + 1) > v)


def test_frequency_tables_sum_to_2_24_with_every_symbol_possible():
    logits = torch.cat(
        [
            torch.randint(-5000, 5000, (50, 512)),
            torch.zeros(1, 512),
            torch.full((1, 512), -(10**6)).index_fill(1, torch.tensor([7]), 0),
        ]
    ).double()
    table = torch.from_numpy(__import__("tokcodec.models.mlm_int", fromlist=["x"]).exp_table(20, 1536)).double()
    freqs = softmax_frequencies(logits, table)
    assert freqs.dtype == torch.int64
    assert (freqs.sum(-1) == 1 << PRECISION).all() and (freqs >= 1).all()
    assert int(freqs[-1].argmax()) == 7 and int(freqs[-1, 7]) == (1 << PRECISION) - 511


def test_integer_network_follows_the_float_network(prior):
    model, integer = prior
    model.eval()
    tokens = torch.from_numpy(random_gop((2, 13, 21)))
    known = torch.from_numpy(schedule(13, 21, 4) < 2)
    with torch.no_grad():
        lo, hi = model(tokens[1][None], known[None], tokens[0][None], 1)
        features = integer.hidden(tokens[1], known, tokens[0], 1)
    flo, fhi = integer.frequencies(features.reshape(-1, model.config.dim))
    for logits, freqs in ((lo, flo), (hi, fhi)):
        p = logits[0].reshape(-1, 512).log_softmax(-1)
        q = (freqs.double() / (1 << PRECISION)).log()
        kl_bits = float((p.exp() * (p - q)).sum(-1).mean()) / np.log(2)
        assert kl_bits < 1e-3  # a fraction of a thousandth of a bit per symbol


@pytest.mark.parametrize("shape", [(13, 21), (8, 8), (3, 17), (1, 1)])
@pytest.mark.parametrize("cached", [False, True])
def test_integer_network_matches_the_spec_reference_table_for_table(prior, shape, cached):
    """The fast integer network (pre-scaled GEMMs, uncorrected floor division within its bound, cut
    windows) against annex B as the numpy reference decoder writes it, on every group and both
    the first and a later latent frame: every table identical; `cached`: block 0 recomputing only the
    positions each pass changed, as coding runs it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bitstream_spec"))
    import reference_decoder as ref

    _, integer = prior
    reference = ref.IntegerPrior(integer.config.to_dict(), {k: v.long().numpy() for k, v in integer.t.items()})
    tokens = torch.from_numpy(random_gop((2, *shape), seed=shape[0]))
    groups = schedule(*shape, 4)
    cache = {} if cached else None
    for t, prev in ((0, None), (1, tokens[0])):
        for g in range(4):
            positions = np.flatnonzero(groups == g)
            if not positions.size:
                continue
            known = torch.from_numpy(groups < g)
            features = integer.hidden(tokens[t], known, prev, t, torch.from_numpy(positions), cache)
            fast = integer.frequencies(features)
            f = reference.features(tokens[t].numpy(), groups < g, None if prev is None else prev.numpy(), t)
            slow = reference.tables(f.reshape(shape[0] * shape[1], -1)[positions])
            for a, b in zip(fast, slow):
                assert np.array_equal(a.numpy(), b)


@pytest.mark.parametrize("depth, window", [(2, 8), (2, 6), (1, 4)])
def test_features_of_some_positions_equal_the_full_pass_at_those_positions(depth, window):
    """The last block's queries and MLP run on the positions asked for only: the same features as the
    full pass there, whatever the window's shift (odd for window 6) and whether the positions are a group
    or not (random subsets: windows holding different numbers of queries)."""
    torch.manual_seed(depth + window)
    model = TokenMLM(MLMConfig(dim=16, depth=depth, heads=2, mlp=2, window=window))
    jitter_weights(model, 1, scale=0.2)
    integer = IntegerMLM(model.config, integer_tensors(model))
    tokens = torch.from_numpy(random_gop((2, 11, 19), seed=window))
    groups = schedule(11, 19, 4)
    rng = np.random.default_rng(window)
    subsets = [np.flatnonzero(groups == g) for g in range(4)] + [np.flatnonzero(groups % 2 == 1)]
    subsets += [np.sort(rng.choice(11 * 19, 40, replace=False)), np.flatnonzero(groups == 0)[1:]]
    for positions in subsets:
        known = torch.from_numpy(groups < groups.flat[positions[0]])
        full = integer.hidden(tokens[1], known, tokens[0], 1).reshape(-1, 16)
        part = integer.hidden(tokens[1], known, tokens[0], 1, torch.from_numpy(positions))
        assert torch.equal(part, full[positions])


# --- coding -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 6, 9), (1, 1, 1), (2, 17, 3), (1, 9, 16)])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_gop_round_trip_is_exact(prior, shape, steps):
    _, integer = prior
    tokens = random_gop(shape, seed=steps)
    payload = encode_gop(integer, tokens, steps)
    assert payload[0] == steps and (len(payload) - 1) % 4 == 0
    assert np.array_equal(decode_gop(integer, payload, shape), tokens)


@pytest.mark.parametrize("steps", [1, 4])
def test_tables_in_blocks_code_the_same_payload(prior, monkeypatch, steps):
    """SPEC 6.2: tables computed per bounded block (TABLE_BLOCK positions) give the bytes a whole
    group's tables give, and decode back."""
    from tokcodec.codec import mlm_coding

    _, integer = prior
    tokens = random_gop((3, 9, 11), seed=5)
    whole = encode_gop(integer, tokens, steps)
    monkeypatch.setattr(mlm_coding, "TABLE_BLOCK", 7)  # 7 does not divide any group's size here
    assert encode_gop(integer, tokens, steps) == whole
    assert np.array_equal(decode_gop(integer, whole, tokens.shape), tokens)


def test_a_payload_that_is_not_mode_1_is_refused(prior):
    _, integer = prior
    for bad in (b"", b"\x03abcd", b"\x04abc"):
        with pytest.raises(ValueError):
            decode_gop(integer, bad, (1, 2, 2))


def test_a_gop_too_large_for_a_chunk_is_a_clear_input_error(prior, monkeypatch):
    coder = entropy_coding.EntropyCoder(mode=1, prior=prior[1])
    tokens = random_gop((1, 2, 2))
    assert coder.encode(tokens)[:1] == b"\x04"
    # what an adversarial GOP near the 2^22-token limit could cost (up to 48 bits a token)
    monkeypatch.setattr(entropy_coding, "encode_gop", lambda *_, **__: b"\x04" + bytes(4 << 22))
    with pytest.raises(InputError, match="shorter --gop, or --entropy raw"):
        coder.encode(tokens)


def test_predictable_tokens_cost_fewer_bits(prior):
    """A trained prior is measured on real tokens elsewhere; here: coding follows the probabilities."""
    model, _ = prior
    cfg = model.config
    biased = TokenMLM(cfg)
    biased.load_state_dict(model.state_dict())
    with torch.no_grad():
        biased.bias_lo[5] = biased.bias_hi[0] = 30.0  # token 5 is nearly certain
    integer = IntegerMLM(cfg, integer_tensors(biased))
    assert len(encode_gop(integer, np.full((2, 8, 8), 5), 4)) < 12
    assert len(encode_gop(integer, random_gop((2, 8, 8)), 4)) > 128 * 2


# --- files ------------------------------------------------------------------------------


def encode_clip(make_clip, out, entropy="mlm", frames=9, steps=4):
    from tokcodec.codec.entropy import coder_for_encoding
    from tokcodec.codec.pipeline import encode_video
    from tokcodec.io import ColourInfo, VideoInfo
    from tokcodec.zoo import load_model

    model, entry = load_model()
    coder = coder_for_encoding(entropy, entry.weights_hash, steps, strict=entropy == "mlm")
    clip = make_clip(frames, 40, 72)
    encode_video(
        clip, VideoInfo(72, 40, Fraction(25), frames, ColourInfo()), out, model, entry, gop=5, quiet=True, coder=coder
    )
    return out


def test_mode_1_file_decodes_to_the_frames_of_mode_0(prior_zoo, make_clip, tmp_path):
    from tokcodec.codec.pipeline import decode_container

    m1 = encode_clip(make_clip, tmp_path / "m1.tkc")
    m0 = encode_clip(make_clip, tmp_path / "m0.tkc", entropy="raw")
    with ContainerReader(m1) as r1, ContainerReader(m0) as r0:
        assert (r1.header.entropy_mode, r1.header.mlm_name) == (1, "tiny-prior")
        assert r0.header.entropy_mode == 0
        assert [c.tokens_crc32 for c in r1.chunks] == [c.tokens_crc32 for c in r0.chunks]
    decode_container(m1, tmp_path / "a.y4m", quiet=True)
    decode_container(m0, tmp_path / "b.y4m", quiet=True)
    assert (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()


def test_corrupt_payload_and_wrong_prior_are_told_apart(prior_zoo, make_clip, tmp_path):
    from tokcodec.codec.entropy import EntropyCoder, coder_for_header

    path = encode_clip(make_clip, tmp_path / "m1.tkc")
    with ContainerReader(path) as reader:
        chunk = reader.chunks[1]
        right = coder_for_header(reader.header)
        # a prior whose arithmetic differs by one unit in one bias: the payload is intact, the tokens are not
        tensors = {k: v.clone() for k, v in right.prior.t.items()}
        tensors["head_lo.bias"][3] += 1 << 20
        wrong = EntropyCoder(1, IntegerMLM(right.prior.config, {k: v.long() for k, v in tensors.items()}))
        with pytest.raises(ContainerError) as e:
            reader.read_tokens(1, wrong.unpack)
        assert e.value.code == Err.TOKENS_MISMATCH
        assert np.array_equal(reader.read_tokens(1, right.unpack).shape, reader.header.latent_shape(chunk.num_frames))
    data = bytearray(path.read_bytes())
    data[chunk.offset + 32 + 5] ^= 0x10
    with ContainerReader(bytes(data)) as reader:
        with pytest.raises(ContainerError) as e:
            reader.read_tokens(1, right.unpack)
        assert e.value.code == Err.PAYLOAD_CRC


def test_new_files_use_the_default_prior_and_old_files_keep_theirs(
    prior_zoo, make_clip, example_clip, tmp_path, monkeypatch
):
    """Two priors for one tokenizer: new files use the one whose card says default (else the first),
    or the one `--prior` names; a file names its prior, so one coded under another still decodes."""
    import shutil

    from click.testing import CliRunner
    from tokcodec.codec.entropy import coder_for_encoding, coder_for_header
    from tokcodec.codec.pipeline import decode_container
    from tokcodec.errors import ModelError
    from tokcodec.io import read_frames
    from tokcodec.models.mlm_int import integer_tensors
    from tokcodec.zoo import get_entry
    from tokcodec.zoo.priors import prior_for, register_prior
    from tokcodec_cli.main import cli

    zoo = tmp_path / "zoo"
    shutil.copytree(prior_zoo.parent, zoo)
    select_zoo(monkeypatch, str(zoo / "registry.json"))
    old = encode_clip(make_clip, tmp_path / "old.tkc")
    tokenizer_hash = get_entry("tiny").weights_hash
    second = tiny_prior_model(seed=1, tokenizer_sha256=tokenizer_hash.hex())
    register_prior("tiny-prior-b", second.config, integer_tensors(second), {"stage": "test"})
    assert prior_for(tokenizer_hash).name == "tiny-prior"  # no default named: the first
    register_prior("tiny-prior-c", second.config, integer_tensors(second), {"stage": "test", "default": True})
    assert prior_for(tokenizer_hash).name == "tiny-prior-c"
    new = encode_clip(make_clip, tmp_path / "new.tkc")
    for path, prior in ((old, "tiny-prior"), (new, "tiny-prior-c")):
        with ContainerReader(path) as reader:
            assert reader.header.mlm_name == prior and coder_for_header(reader.header).prior_name == prior
        decode_container(path, tmp_path / "out.y4m", force=True, quiet=True)
        assert len(read_frames(tmp_path / "out.y4m")[0]) == 9
    assert coder_for_encoding("mlm", tokenizer_hash, prior="tiny-prior").prior_name == "tiny-prior"
    with pytest.raises(InputError):  # mode 0 has no prior
        coder_for_encoding("raw", tokenizer_hash, prior="tiny-prior")
    with pytest.raises(ModelError) as e:  # a prior of another tokenizer's tokens
        coder_for_encoding("mlm", bytes(32), prior="tiny-prior")
    assert e.value.code == 32
    out = tmp_path / "chosen.tkc"
    r = CliRunner().invoke(
        cli, ["encode", str(example_clip), "-o", str(out), "--frames", "5", "--prior", "tiny-prior-b"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(CliRunner().invoke(cli, ["info", str(out), "--json"]).output)["prior"] == "tiny-prior-b"
    r = CliRunner().invoke(cli, ["encode", str(example_clip), "-o", str(tmp_path / "x.tkc"), "--prior", "nope"])
    assert r.exit_code == 1 and "nope" in r.output and "Traceback" not in r.output


def test_unknown_prior_is_a_model_error(prior_zoo, make_clip, tmp_path, zoo):
    """A mode 1 file whose prior the zoo does not have (tiny_zoo has none): error 30, tokens unread."""
    from tokcodec.codec.pipeline import decode_container
    from tokcodec.errors import ModelError

    from tokcodec.zoo import use_zoo  # the fixtures' monkeypatch restores the selection afterwards

    use_zoo(prior_zoo)
    path = encode_clip(make_clip, tmp_path / "m1.tkc")
    use_zoo(zoo)
    with pytest.raises(ModelError) as e:
        decode_container(path, tmp_path / "out.y4m", quiet=True)
    assert e.value.code == Err.MODEL_UNKNOWN and not (tmp_path / "out.y4m").exists()


DECODE_TOKENS = """
import os, sys, torch, zlib
from tokcodec.zoo import use_zoo
use_zoo(os.environ["TOKCODEC_ZOO"])
if sys.argv[2] == "no-onednn":
    torch.backends.mkldnn.enabled = False
from tokcodec.codec.tokens import iter_gops
print(zlib.crc32(b"".join(g.tokens.tobytes() for g in iter_gops(sys.argv[1]))))
"""


@pytest.mark.parametrize(
    "setting",
    [
        "1 thread",
        "2 threads",
        "ATEN_CPU_CAPABILITY=default",
        "no-onednn",
        "MKL_ENABLE_INSTRUCTIONS=SSE4_2",
        "ONEDNN_MAX_CPU_ISA=AVX2",
    ],
)
def test_decodes_identically_under_other_cpu_settings(prior_zoo, make_clip, tmp_path, setting):
    """Every setting decodes the file (its tokens CRCs pass) to the same tokens."""
    path = tmp_path / "m1.tkc"
    encode_clip(make_clip, path, frames=13)
    env = dict(os.environ, TOKCODEC_ZOO=str(prior_zoo), OMP_NUM_THREADS="2" if setting == "2 threads" else "1")
    if "=" in setting:
        key, value = setting.split("=")
        env[key] = value
    out = subprocess.run(
        [sys.executable, "-c", DECODE_TOKENS, str(path), setting], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    from tokcodec.codec.tokens import iter_gops
    import zlib

    assert int(out.stdout) == zlib.crc32(b"".join(g.tokens.tobytes() for g in iter_gops(path)))


def test_cli_entropy_option_and_info(prior_zoo, example_clip, tmp_path):
    from click.testing import CliRunner
    from tokcodec_cli.main import cli

    runner = CliRunner()
    for entropy, mode in (("mlm", 1), ("raw", 0)):
        out = tmp_path / f"{entropy}.tkc"
        r = runner.invoke(
            cli,
            [
                "encode",
                str(example_clip),
                "-o",
                str(out),
                "--frames",
                "5",
                "--gop",
                "5",
                "--entropy",
                entropy,
                "--json",
                "-q",
            ],
        )
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["entropy_mode"] == mode
        info = json.loads(runner.invoke(cli, ["info", str(out), "--json"]).output)
        assert info["entropy_mode"] == mode and info["chunks"][0]["ok"]
        assert (info.get("prior") == "tiny-prior") == (mode == 1)
        assert info["bits_per_token"] == pytest.approx(18.0) if mode == 0 else info["bits_per_token"] > 0
    default = tmp_path / "default.tkc"
    runner.invoke(cli, ["encode", str(example_clip), "-o", str(default), "--frames", "1", "-q"])
    with ContainerReader(default) as reader:
        assert reader.header.entropy_mode == 1  # the default where the tokenizer has a prior


def test_cli_refuses_mlm_without_a_prior(zoo, example_clip, tmp_path):
    from click.testing import CliRunner
    from tokcodec_cli.main import cli

    r = CliRunner().invoke(
        cli, ["encode", str(example_clip), "-o", str(tmp_path / "x.tkc"), "--frames", "1", "--entropy", "mlm"]
    )
    assert r.exit_code == 1 and "no token prior" in r.output and not (tmp_path / "x.tkc").exists()


# --- training ---------------------------------------------------------------------------


def tiny_run(tmp_path, gops: list, **fields) -> dict:
    """MLMTrainConfig fields of a tiny run on `gops` (written as the run's token cache), with `fields` over them."""
    torch.save({"tokenizer": "ab" * 32, "gops": gops, "names": list("abcd")[: len(gops)]}, tmp_path / "tokens.pt")
    base = dict(run_dir=str(tmp_path / "run"), tokens=str(tmp_path / "tokens.pt"), batch=8, crop=8, lr=2e-2, warmup=5)
    return {**base, "model": MLMConfig(dim=16, depth=2, heads=2, mlp=2), "log_every": 10, **fields}


def test_train_mlm_learns_and_resumes(tmp_path):
    from tokcodec.train.mlm import MLMTrainConfig, MLMTrainer

    rng = np.random.default_rng(0)
    # tokens a prior can learn: few distinct values, each latent frame mostly a copy of the one before
    base = rng.integers(0, 8, (4, 12, 12)) * 4099
    gops = [
        torch.from_numpy(
            np.stack([np.where(rng.random((12, 12)) < 0.8, base[i], base[(i + 1) % 4]) for _ in range(3)])
        ).int()
        for i in range(4)
    ]
    cfg = tiny_run(tmp_path, gops, val_tokens=str(tmp_path / "tokens.pt"), steps=60, val_every=30, ckpt_every=30)
    first = MLMTrainer(MLMTrainConfig(**{**cfg, "steps": 30}), quiet=True).run()
    assert first["step"] == 30
    second = MLMTrainer(MLMTrainConfig(**cfg), quiet=True)
    assert second.step == 30  # resumed
    result = second.run()
    assert result["best_val_bits_per_token"] < 9  # from 18 bits: the 8 values and the copies are being learnt
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "val_bits_per_token" in r] == [30, 60]


def test_training_masks_follow_the_coding_share():
    """coding_masks 0.5: the first half random (every hidden token scored), the rest one coding group
    each; 1.0: all coding groups, each scoring exactly one group and knowing exactly the groups before."""
    from tokcodec.train.mlm import training_masks

    groups = torch.from_numpy(schedule(12, 12, 4))
    for share, random_rows in ((0.5, 4), (1.0, 0)):
        known, scored = training_masks(8, 12, 12, 4, torch.Generator().manual_seed(0), share)
        assert torch.equal(known[:random_rows], ~scored[:random_rows])
        for k, s in zip(known[random_rows:], scored[random_rows:]):
            g = int(groups[s][0])
            assert torch.equal(s, groups == g) and torch.equal(k, groups < g)


def test_train_mlm_command_builds_caches_trains_and_exports(tmp_path, make_clip, monkeypatch):
    """`tokcodec train mlm` on a zoo tokenizer: token caches, a run, then `export-mlm` gives a prior
    that codes that tokenizer's files in mode 1."""
    from click.testing import CliRunner

    from conftest import write_clip
    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model
    from tokcodec.zoo.priors import prior_for
    from tokcodec_cli.main import cli

    select_zoo(monkeypatch, str(tmp_path / "zoo" / "registry.json"))
    torch.manual_seed(0)
    tokenizer = Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)))
    entry = register_model("tiny", tokenizer.config, tokenizer.state_dict(), {}, make_default=True)
    clip = write_clip(tmp_path / "clip.mkv", make_clip(9, 96, 128))
    recipe = {
        "tokenizer": "tiny",
        "data": [str(clip)],
        "val_data": [str(clip)],
        "gops_per_video": 2,
        "model": {"dim": 16, "depth": 2, "heads": 2, "mlp": 2},
        "steps": 4,
        "batch": 2,
        "crop": 8,
        "warmup": 1,
        "val_every": 4,
        "ckpt_every": 2,
        "log_every": 2,
    }
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    runner = CliRunner()
    run_dir = tmp_path / "run"
    r = runner.invoke(cli, ["train", "mlm", "--config", str(tmp_path / "recipe.json"), "--run-dir", str(run_dir), "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["step"] == 4
    assert {"tokens-train.pt", "tokens-val.pt", "last.pt", "best.pt"} <= {p.name for p in run_dir.iterdir()}
    # a new run can start from this one's weights (a successor tokenizer's prior), not from scratch
    from tokcodec.train.mlm import MLMTrainConfig, MLMTrainer

    done = torch.load(run_dir / "last.pt", weights_only=True)
    cfg = MLMTrainConfig.from_dict(
        {**done["config"], "run_dir": str(tmp_path / "run2"), "init_from": str(run_dir / "last.pt")}
    )
    warm = MLMTrainer(cfg, quiet=True)
    assert warm.step == 0 and all(torch.equal(v, done["model"][k]) for k, v in warm.model.state_dict().items())
    r = runner.invoke(cli, ["train", "export-mlm", str(run_dir), "--name", "tiny-mlm"])
    assert r.exit_code == 0, r.output
    assert prior_for(entry.weights_hash).name == "tiny-mlm"
    out = tmp_path / "a.tkc"
    r = runner.invoke(cli, ["encode", str(clip), "-o", str(out), "--entropy", "mlm", "--json", "-q"])
    assert r.exit_code == 0 and json.loads(r.output)["prior"] == "tiny-mlm", r.output
    r = runner.invoke(cli, ["decode", str(out), "-o", str(tmp_path / "a.y4m"), "-q"])
    assert r.exit_code == 0, r.output


def test_hostile_mode_1_payloads_end_in_a_clean_error(prior_zoo, make_clip, tmp_path):
    """Payload bytes changed in a file whose CRCs are then made consistent again (rewritten), so the
    bytes reach the range decoder: each gives the right tokens or error 25 for that chunk, never
    wrong tokens or another exception."""
    from tokcodec.codec.container import ContainerWriter
    from tokcodec.codec.entropy import coder_for_header

    path = encode_clip(make_clip, tmp_path / "m1.tkc")
    with ContainerReader(path) as reader:
        header, unpack = reader.header, coder_for_header(reader.header).unpack
        payloads = [reader.read_payload(i) for i in range(header.num_gops)]
        tokens = [reader.read_tokens(i, unpack) for i in range(header.num_gops)]
        frames = [c.num_frames for c in reader.chunks]
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(40):
        bad = bytearray(payloads[1])
        for _ in range(1 + trial % 4):  # 1-4 bytes of chunk 1's payload (the schedule byte too)
            bad[int(rng.integers(len(bad)))] = int(rng.integers(256))
        out = io.BytesIO()
        with ContainerWriter(out, header) as writer:
            for i, payload in enumerate([payloads[0], bytes(bad)] + payloads[2:]):
                writer.write_chunk(i, frames[i], tokens[i], payload)
        with ContainerReader(out.getvalue()) as reader:
            assert np.array_equal(reader.read_tokens(0, unpack), tokens[0])
            try:
                outcomes.add("same" if np.array_equal(reader.read_tokens(1, unpack), tokens[1]) else "wrong")
            except ContainerError as e:
                assert e.code == Err.TOKENS_MISMATCH, e
                outcomes.add(25)
    assert "wrong" not in outcomes and 25 in outcomes


def test_bpp_in_mode_1_estimates_then_checks_the_rate(prior_zoo, tmp_path, make_clip, monkeypatch):
    """--bpp picks a rung by an estimate of mode 1's rate (the prior's card), and when the file comes out
    above the target it encodes again one rung lower: the result fits, or is the lowest rung."""
    from click.testing import CliRunner

    from conftest import write_clip
    from tokcodec.codec.pipeline import predicted_bpp
    from tokcodec.io import open_video
    from tokcodec.zoo import get_entry
    from tokcodec_cli.main import cli

    registry = json.loads(prior_zoo.read_text())
    for scale in (0.5, 1.5):
        registry["models"][f"tiny-x{scale:g}"] = {"weights_from": "tiny", "coding_scale": scale, "card": {}}
    registry["ladder"] = ["tiny-x0.5", "tiny", "tiny-x1.5"]
    registry["priors"]["tiny-prior"]["card"]["metrics"] = {"bits_per_token": 1.0}  # far too optimistic
    path = prior_zoo.parent / "ladder.json"
    path.write_text(json.dumps(registry))
    select_zoo(monkeypatch, str(path))
    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 96, 160))  # payloads well above the headers
    with open_video(clip) as reader:
        mode0 = predicted_bpp(reader.info, get_entry("tiny"), 9)
    target = mode0 * 0.6
    r = CliRunner().invoke(
        cli, ["encode", str(clip), "-o", str(tmp_path / "a.tkc"), "--bpp", str(target), "--gop", "9", "--json"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["entropy_mode"] == 1 and "tiny-x1.5 gave" in r.stderr, (summary, r.stderr)  # estimate too high
    assert summary["bpp"] <= target or summary["model"] == "tiny-x0.5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tkc", "in.mkv"]  # one output, no temporaries


def test_progress_advances_every_latent_frame_in_mode_1(prior_zoo, make_clip, tmp_path, monkeypatch):
    """Encode and decode credit the bar stage by stage (tokenizer group, offset piece, prior latent
    frame, frame written), not a GOP at a time; each GOP ends on its exact frame count."""
    from tokcodec.codec import pipeline

    credits, done = [], []
    monkeypatch.setattr(pipeline.WorkBar, "credit", lambda self, stage, frames: credits.append((stage, frames)))
    real_done = pipeline.WorkBar.gop_done
    monkeypatch.setattr(pipeline.WorkBar, "gop_done", lambda self, n: (done.append(n), real_done(self, n)))
    path = encode_clip(make_clip, tmp_path / "m1.tkc", frames=13)  # GOP 5: GOPs of 5, 5, 3 frames
    stages = [s for s, _ in credits]
    assert done == [5, 5, 3]
    assert stages.count("prior") == 2 + 2 + 2  # latent frames: 1 + 1 per 4 frames, per GOP
    assert stages.count("tokenizer") == 6 and stages.count("colour") >= 3
    assert sum(f for s, f in credits if s == "prior") == pytest.approx(13)
    credits.clear(), done.clear()
    from tokcodec.codec.pipeline import decode_frames
    from tokcodec.zoo import load_model

    reader = ContainerReader(path)
    frames = list(decode_frames(reader, load_model()[0]))
    assert len(frames) == 13 and done == [5, 5, 3]
    assert [s for s, _ in credits].count("prior") == 6 and [s for s, _ in credits].count("frames") == 13


def test_float_teacher_gives_the_integer_networks_distributions(prior):
    """train/distill.FloatPrior reads a prior's integer tensors back at their scales and runs them in float:
    within a fraction of a percent of the integer network's bits, position by position."""
    from tokcodec.models.mlm_layout import schedule
    from tokcodec.train.distill import FloatPrior

    _, int_prior = prior
    teacher = FloatPrior(int_prior.config, int_prior.t)
    gop = torch.from_numpy(random_gop((2, 12, 20)))
    groups = torch.from_numpy(schedule(12, 20, 4))
    integer_bits = float_bits = 0.0
    for g in range(4):
        known, where = groups < g, groups == g
        features = int_prior.hidden(gop[1], known, gop[0], 1)
        logits = teacher(gop[1][None], known[None], gop[0][None], torch.tensor([1]))
        for half, symbols in enumerate((gop[1] & 511, gop[1] >> 9)):
            f = int_prior.frequencies(features[where], half).double()
            integer_bits -= float(torch.log2(f.gather(1, symbols[where][:, None]) / 2**24).sum())
            lp = logits[half][0][where].log_softmax(-1)
            float_bits -= float(lp.gather(1, symbols[where][:, None]).sum()) / math.log(2)
    assert float_bits == pytest.approx(integer_bits, rel=5e-3)


def test_distillation_pulls_the_student_towards_the_teacher(tmp_path, prior, monkeypatch):
    """With distill_from, the loss includes the bits against the teacher's distributions, and training
    lowers them (the student here learns only from the teacher: distill_weight 1)."""
    from tokcodec.train.distill import FloatPrior
    from tokcodec.train.mlm import MLMTrainConfig, MLMTrainer

    _, int_prior = prior
    teacher = FloatPrior(int_prior.config, int_prior.t)
    for head in ("head_lo", "head_hi"):  # the random tiny prior is nearly uniform: a peaked teacher to learn
        teacher.linears[head] = tuple(20 * t for t in teacher.linears[head])
    monkeypatch.setattr(MLMTrainer, "_teacher", lambda self, name: teacher)
    gops = [torch.from_numpy(random_gop((3, 12, 12), seed=i)).int() for i in range(4)]
    cfg = tiny_run(tmp_path, gops, model=MLMConfig(dim=16, depth=1, heads=2, mlp=2), steps=40, lr=1e-2, warmup=2)
    cfg.update(log_every=5, distill_from="teacher", distill_weight=1.0)
    MLMTrainer(MLMTrainConfig(**cfg), quiet=True).run()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    soft = [r["soft_bits_per_token"] for r in log if "soft_bits_per_token" in r]
    assert len(soft) == 8 and np.mean(soft[-3:]) < np.mean(soft[:2]) - 1.0, soft
