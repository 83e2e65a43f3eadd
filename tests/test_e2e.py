"""The shipped default model on the bundled real clip, through the installed command."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tokcodec.io import read_frames
from tokcodec.metrics import psnr
from tokcodec.zoo import get_entry
from conftest import select_zoo

pytestmark = pytest.mark.slow  # shipped models or training: tens of seconds each


def tokcodec(*args):
    return subprocess.run(
        [sys.executable, "-m", "tokcodec_cli.main", *map(str, args)], capture_output=True, text=True, check=False
    )


def test_shipped_model_round_trip_on_real_clip(example_clip, tmp_path, monkeypatch):
    select_zoo(monkeypatch, None)
    entry = get_entry("default")
    enc = tokcodec("encode", example_clip, "-o", tmp_path / "dog.tkc", "--device", "cpu", "--json", "-q")
    assert enc.returncode == 0, enc.stderr
    summary = json.loads(enc.stdout)
    assert summary["frames"] == 33 and summary["model"] == entry.name
    assert summary["entropy_mode"] == 1 and summary["prior"]  # range coded under the shipped prior
    raw = tokcodec("encode", example_clip, "-o", tmp_path / "raw.tkc", "--entropy", "raw", "--json", "-q")
    assert raw.returncode == 0 and json.loads(raw.stdout)["entropy_mode"] == 0, raw.stderr
    # 33 frames at 320x180, GOP 17: GOPs of 17 and 16 frames, 5 latent frames each, of 23x40 tokens at 18 bits.
    tokens = (5 + 5) * 23 * 40
    raw_size, size = (tmp_path / "raw.tkc").stat().st_size, (tmp_path / "dog.tkc").stat().st_size
    assert tokens * 18 / 8 < raw_size < tokens * 18 / 8 + 1024
    assert size < 0.75 * raw_size, (size, raw_size)  # the prior saves 40-70% on real clips (its card)
    dec = tokcodec("decode", tmp_path / "dog.tkc", "-o", tmp_path / "dec/", "--device", "cpu", "-q")
    assert dec.returncode == 0, dec.stderr
    dec_raw = tokcodec("decode", tmp_path / "raw.tkc", "-o", tmp_path / "dec_raw/", "--device", "cpu", "-q")
    assert dec_raw.returncode == 0, dec_raw.stderr
    assert all((tmp_path / "dec" / f.name).read_bytes() == f.read_bytes() for f in (tmp_path / "dec_raw").iterdir())
    source, _ = read_frames(example_clip)
    decoded, info = read_frames(tmp_path / "dec")
    assert len(decoded) == 33 and decoded[0].shape == (180, 320, 3)
    quality = psnr(np.stack(source), np.stack(decoded))
    # A floor far under what the default model measures on held-out clips (tc-2.1: 30.9 dB, its card);
    # untrained weights give about 10 dB. A floor, so a better model passes and a broken decode fails.
    assert quality > 16.0, quality


def test_shipped_model_colour_offsets_on_real_clip(example_clip, monkeypatch):
    """The offsets measure and correct a shipped tokenizer's mean-colour error on a real clip.

    tc-2 rather than the default: tc-2.1 leaves under half a level on this clip, too little to show
    that the offsets follow the error; tc-2 leaves about 1.3 levels of red and blue."""
    from tokcodec.codec.container import ContainerReader
    from tokcodec.evaluate import code_frames, colour_bias
    from tokcodec.zoo import load_model

    select_zoo(monkeypatch, None)
    model, entry = load_model("tc-2")
    source, _ = read_frames(example_clip, max_frames=17)
    plain_data, plain, _ = code_frames(source, model, entry, fix_colour=False)
    data, fixed, _ = code_frames(source, model, entry)
    offset = ContainerReader(data).colour_offset(0)
    before = colour_bias(np.stack(source), np.stack(plain))
    after = colour_bias(np.stack(source), np.stack(fixed))
    assert max(map(abs, before)) > 1.0, before
    # each channel's offset is (about) the bias the tokenizer left, negated, in quarter levels
    assert all(abs(o / 4 + b) < 0.75 for o, b in zip(offset, before)), (offset, before)
    assert max(map(abs, after)) < 0.75, after
    assert ContainerReader(plain_data).colour_offset(0) == (0, 0, 0)


def test_shipped_ladder_spans_the_rates_and_its_lowest_rung_decodes(example_clip, tmp_path, monkeypatch):
    from tokcodec.codec.pipeline import predicted_bpp
    from tokcodec.io import open_video
    from tokcodec.zoo import ladder

    select_zoo(monkeypatch, None)
    rungs = ladder()
    assert len(rungs) >= 4 and get_entry("default").name in rungs
    with open_video(example_clip) as reader:
        rates = [predicted_bpp(reader.info, get_entry(name), 17) for name in rungs]
    assert rates == sorted(rates) and rates[0] < 0.02 and rates[-1] > 0.15, rates
    enc = tokcodec(
        "encode",
        example_clip,
        "-o",
        tmp_path / "q1.tkc",
        "--quality",
        1,
        "--entropy",
        "raw",
        "--device",
        "cpu",
        "--json",
        "-q",
    )
    assert enc.returncode == 0, enc.stderr
    assert abs(json.loads(enc.stdout)["bpp"] - rates[0]) < 1e-6  # exact in mode 0 (rounded in JSON)
    dec = tokcodec("decode", tmp_path / "q1.tkc", "-o", tmp_path / "dec/", "--device", "cpu", "-q")
    assert dec.returncode == 0, dec.stderr
    source, _ = read_frames(example_clip)
    decoded, _ = read_frames(tmp_path / "dec")
    assert decoded[0].shape == (180, 320, 3)  # coded at 120x68, shown at the clip's size
    # A floor well under what the rung measures on the benchmark clips (see cards/ladder.md).
    assert psnr(np.stack(source), np.stack(decoded)) > 15.0


def test_files_written_with_tc_small_1_still_decode(example_clip, tmp_path, monkeypatch):
    """The header names the weights by hash: a committed tc-small-1 file decodes whatever the default is."""
    select_zoo(monkeypatch, None)
    from click.testing import CliRunner

    from tokcodec_cli.main import cli

    committed = Path(__file__).parent / "data" / "dog_tc-small-1_5frames.tkc"
    result = CliRunner().invoke(cli, ["decode", str(committed), "-o", str(tmp_path / "dec/"), "-q", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    decoded, _ = read_frames(tmp_path / "dec")
    source, _ = read_frames(example_clip, max_frames=5)
    assert len(decoded) == 5
    # tc-small-1 measured about 19 dB on this clip; random or wrong weights give about 10 dB
    assert psnr(np.stack(source), np.stack(decoded)) > 16.0


def test_eval_reports_dists_and_flicker_on_the_shipped_model(example_clip, monkeypatch):
    """`tokcodec eval`'s per-clip record: DISTS and the flicker figure beside PSNR and LPIPS, in and
    across GOPs, on a real clip with the default model (9 frames, GOP 5: two GOPs)."""
    from tokcodec.evaluate import evaluate_clip
    from tokcodec.zoo import load_model

    select_zoo(monkeypatch, None)
    model, entry = load_model()
    source, _ = read_frames(example_clip, max_frames=9)
    record = evaluate_clip(source, model, entry, gop=5)
    assert 0.0 < record["dists"] < 0.5 and 0.0 < record["lpips_alex"] < 0.6
    # the still-life dog clip barely changes between frames: a decoder that holds its picture
    # steady changes by a few levels at most, far from the ~25 of independent per-frame noise
    assert 0.0 < record["flicker"] < 8.0 and record["flicker_gop_boundary"] is not None


def test_shipped_priors_carry_their_measured_bits(monkeypatch):
    """`tokcodec models` and --bpp's mode 1 estimate read a prior's measured bits from its card."""
    from tokcodec.zoo.priors import list_priors

    select_zoo(monkeypatch, None)
    shipped = [p for p in list_priors() if p.name.startswith("mlm-")]
    assert shipped and all(0 < p.card["metrics"]["bits_per_token"] < 18 for p in shipped)


def test_shipped_sharp_decoders_draw_the_same_file_on_a_real_clip(example_clip, tmp_path, monkeypatch):
    """The shipped decoder entries for the default model's tokens: listed by info, each decodes the same
    file (unchanged) to other frames than the model's own decoder, and those frames still resemble the
    source; tc-2.1-sharp-2 lies between the own decoder and tc-2.1-sharp (their weights' blend)."""
    select_zoo(monkeypatch, None)
    enc = tokcodec("encode", example_clip, "-o", tmp_path / "dog.tkc", "--frames", 9, "--gop", 9, "-q")
    assert enc.returncode == 0, enc.stderr
    before = (tmp_path / "dog.tkc").read_bytes()
    info = tokcodec("info", tmp_path / "dog.tkc", "--json")
    assert json.loads(info.stdout)["decoders"] == [get_entry("default").name, "tc-2.1-sharp", "tc-2.1-sharp-2"]
    outs = {}
    for name, extra in (
        ("own", []),
        ("sharp", ["--decoder", "tc-2.1-sharp"]),
        ("sharp-2", ["--decoder", "tc-2.1-sharp-2"]),
    ):
        dec = tokcodec("decode", tmp_path / "dog.tkc", "-o", tmp_path / f"{name}.y4m", "-q", *extra)
        assert dec.returncode == 0, dec.stderr
        outs[name] = np.stack(read_frames(tmp_path / f"{name}.y4m")[0])
    assert (tmp_path / "dog.tkc").read_bytes() == before
    source = np.stack(read_frames(example_clip, max_frames=9)[0])
    assert not np.array_equal(outs["own"], outs["sharp"])
    assert psnr(source, outs["sharp"]) > psnr(source, outs["own"]) - 2.0  # detail, not a different picture
    assert psnr(outs["sharp-2"], outs["sharp"]) > psnr(outs["own"], outs["sharp"])  # 92% of the way to sharp


def test_shipped_priors_code_the_same_tokens_on_a_real_clip(example_clip, tmp_path, monkeypatch):
    """The default prior (mlm-tc-2.1-small-2), the earlier default `--prior mlm-tc-2.1` (files written
    with it keep decoding) and `--prior mlm-tc-2.1-small` on the bundled clip: each file names its
    prior and decodes to exactly the same frames (the same tokens, other probabilities), at a few
    percent of the mode 1 payload more or less, not a different rate class (benchmark: within 0.3%)."""
    select_zoo(monkeypatch, None)
    sizes, frames = {}, {}
    for prior, extra in (
        ("mlm-tc-2.1-small-2", []),
        ("mlm-tc-2.1", ["--prior", "mlm-tc-2.1"]),
        ("mlm-tc-2.1-small", ["--prior", "mlm-tc-2.1-small"]),
    ):
        out = tmp_path / f"{prior}.tkc"
        enc = tokcodec("encode", example_clip, "-o", out, "--frames", 9, "--gop", 9, "--json", "-q", *extra)
        assert enc.returncode == 0, enc.stderr
        assert json.loads(enc.stdout)["prior"] == prior
        sizes[prior] = out.stat().st_size
        dec = tokcodec("decode", out, "-o", tmp_path / f"{prior}.y4m", "-q")
        assert dec.returncode == 0, dec.stderr
        frames[prior] = np.stack(read_frames(tmp_path / f"{prior}.y4m")[0])
    first = frames["mlm-tc-2.1-small-2"]
    assert all(np.array_equal(first, f) for f in frames.values())
    assert all(0.8 < size / sizes["mlm-tc-2.1"] < 1.25 for size in sizes.values()), sizes


def test_shipped_model_precisions_on_a_real_clip(example_clip, tmp_path, monkeypatch):
    """auto encodes in bf16 only where the CPU has it natively and decodes in float32; bf16 decodes in
    bf16 too. Where the CPU lacks bf16, auto's file is fp32's (the default's), byte for byte; where it
    has it, the tokens differ a little and the quality does not (tokcodec/zoo/cards/tc-2.1.md, "Precision")."""
    from tokcodec.precision import bf16_supported

    select_zoo(monkeypatch, None)
    source = np.stack(read_frames(example_clip, max_frames=9)[0])
    quality = {}
    for encode_at, decode_at in (("fp32", "fp32"), ("auto", "auto"), ("fp32", "bf16")):
        tkc, out = tmp_path / f"{encode_at}.tkc", tmp_path / f"{encode_at}-{decode_at}.y4m"
        monkeypatch.setenv("TOKCODEC_PRECISION", encode_at)
        enc = tokcodec("encode", example_clip, "-o", tkc, "--frames", 9, "--gop", 9, "--entropy", "raw", "-q", "-y")
        monkeypatch.setenv("TOKCODEC_PRECISION", decode_at)
        dec = tokcodec("decode", tkc, "-o", out, "-q", "-y")
        assert enc.returncode == 0 and dec.returncode == 0, enc.stderr + dec.stderr
        quality[encode_at, decode_at] = psnr(source, np.stack(read_frames(out)[0]))
    same_file = (tmp_path / "auto.tkc").read_bytes() == (tmp_path / "fp32.tkc").read_bytes()
    assert same_file != bf16_supported("cpu")
    assert abs(quality["auto", "auto"] - quality["fp32", "fp32"]) < 0.1, quality
    assert 0 < abs(quality["fp32", "bf16"] - quality["fp32", "fp32"]) < 0.1, quality
