"""The command line end to end: round trips, lossless decode, and every error path
giving one line and a non-zero exit (no traceback, no half-written output)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tokcodec import api
from tokcodec.codec import colour_offset
from tokcodec.codec.container import ContainerReader
from tokcodec.codec.pipeline import pad_gop
from tokcodec.io import read_frames
from tokcodec.zoo import load_model
from tokcodec_cli.main import cli

from conftest import write_clip, select_zoo


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.parametrize("frames,height,width", [(1, 24, 40), (6, 21, 35), (11, 16, 16)])
def test_round_trip_odd_sizes_is_the_models_reconstruction(zoo, tmp_path, make_clip, frames, height, width):
    clip = write_clip(tmp_path / "in.mkv", make_clip(frames, height, width))
    code, out = run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "--quiet", "--device", "cpu")
    assert code == 0, out
    code, out = run("decode", tmp_path / "a.tkc", "-o", tmp_path / "dec/", "--quiet", "--device", "cpu")
    assert code == 0, out
    decoded, info = read_frames(tmp_path / "dec")
    assert len(decoded) == frames and decoded[0].shape == (height, width, 3)
    # Lossless output == what the tokenizer reconstructs from the same frames, GOP by GOP,
    # shifted by the GOP's colour offset (SPEC A.3).
    model, _ = load_model("default")
    source, _ = read_frames(clip)
    reader = ContainerReader(tmp_path / "a.tkc")
    for start in range(0, frames, 5):
        gop = source[start : start + 5]
        recon = model.decode(model.encode(pad_gop(gop, model)))[:, :, : len(gop), :height, :width]
        recon = colour_offset.apply(recon, reader.colour_offset(start // 5))
        expect = ((recon[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        assert np.array_equal(np.stack(decoded[start : start + 5]), expect)


def test_info_reports_header_chunks_and_bpp(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(7, 24, 32))
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "-q")[0] == 0
    code, out = run("info", tmp_path / "a.tkc", "--json")
    assert code == 0
    d = json.loads(out)
    size = (tmp_path / "a.tkc").stat().st_size
    assert d["frames"] == 7 and d["width"] == 32 and d["gop"] == 5 and d["model"] == "tiny"
    assert [c["frames"] for c in d["chunks"]] == [5, 2]
    assert d["bpp"] == pytest.approx(size * 8 / (32 * 24 * 7))
    assert d["fps"] == "25/1"
    # SPEC 3.3: weights_sha256 is SHA-256 over the model's weight files, concatenated in zoo order.
    import hashlib
    from tokcodec.zoo import get_entry

    files = get_entry("tiny").files
    assert d["weights_sha256"] == hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def test_refuses_to_overwrite_without_force(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(1, 16, 16))
    out = tmp_path / "a.tkc"
    out.write_bytes(b"precious")
    code, msg = run("encode", clip, "-o", out, "-q")
    assert code == 1 and "exists" in msg and out.read_bytes() == b"precious"
    assert run("encode", clip, "-o", out, "-q", "--force")[0] == 0
    dec = tmp_path / "d.mp4"
    dec.write_bytes(b"precious")
    code, msg = run("decode", out, "-o", dec, "-q")
    assert code == 1 and dec.read_bytes() == b"precious"


@pytest.mark.parametrize("content,what", [(None, "missing"), (b"", "empty"), (b"\x00garbage" * 50, "junk")])
def test_bad_input_is_one_line(zoo, tmp_path, content, what):
    src = tmp_path / "in.mp4"
    if content is not None:
        src.write_bytes(content)
    code, msg = run("encode", src, "-o", tmp_path / "a.tkc", "-q")
    assert code == 1
    assert msg.startswith("tokcodec: error:") and msg.count("\n") == 1 and "Traceback" not in msg
    assert not (tmp_path / "a.tkc").exists()


def test_corrupt_and_unreadable_containers(zoo, tmp_path, make_clip):
    """Files with nothing to recover: one line, exit 1, no output. (Partly damaged files: test_user_facing.)"""
    clip = write_clip(tmp_path / "in.mkv", make_clip(6, 16, 24))
    good = tmp_path / "a.tkc"
    assert run("encode", clip, "-o", good, "--gop", 5, "-q")[0] == 0
    data = good.read_bytes()
    header_end = ContainerReader(data).chunks[0].offset
    cases = {
        "header only": data[:header_end],
        "version": data[:8] + (99).to_bytes(4, "little") + data[12:],
        "text": b"hello world",
    }
    for name, payload in cases.items():
        bad = tmp_path / f"{name}.tkc"
        bad.write_bytes(payload)
        code, msg = run("decode", bad, "-o", tmp_path / f"{name}/", "-q")
        assert code == 1 and msg.startswith("tokcodec: error:") and msg.count("\n") == 1, (name, msg)
        code, msg = run("info", bad)
        if name == "header only":  # a readable header: info lists every GOP as lost
            assert code == 3 and msg.count("not found") == 2, msg
        else:
            assert code == 1 and msg.startswith("tokcodec: error:") and msg.count("\n") == 1, (name, msg)
        assert not (tmp_path / name).exists()


def test_model_errors(zoo, tmp_path, make_clip, monkeypatch):
    clip = write_clip(tmp_path / "in.mkv", make_clip(1, 16, 16))
    code, msg = run("encode", clip, "-o", tmp_path / "a.tkc", "--model", "nope", "-q")
    assert code == 1 and "unknown model 'nope'" in msg
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "-q")[0] == 0
    # A zoo whose 'tiny' has other weights: the file's weights hash no longer matches.
    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model

    other = tmp_path / "other" / "registry.json"
    other.parent.mkdir()
    select_zoo(monkeypatch, str(other))
    torch.manual_seed(1)
    register_model(
        "tiny",
        TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)),
        Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2))).state_dict(),
        {},
    )
    code, msg = run("decode", tmp_path / "a.tkc", "-o", tmp_path / "d/", "-q")
    assert code == 1 and "not the one this file was encoded with" in msg
    # Weights on disk that do not match their sha256.
    weights = next((other.parent / "weights").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")
    code, msg = run("encode", clip, "-o", tmp_path / "b.tkc", "-q")
    assert code == 1 and "sha256" in msg


def test_bad_options_and_unwritable_output(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(1, 16, 16))
    code, msg = run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 6, "-q")
    assert code == 2 and "1 + 4k" in msg  # usage errors: exit 2 (test_user_facing checks the one-line form)
    code, msg = run("encode", clip, "-o", tmp_path / "in.mkv" / "a.tkc", "-q")  # a file where a folder should be
    assert code == 1 and msg.count("\n") == 1 and "not a folder" in msg
    code, msg = run("encode", clip, "-o", tmp_path / "a.mp4", "-q")
    assert code == 2 and ".tkc" in msg


def test_installed_command_exit_code(zoo, tmp_path):
    env = {**os.environ, "TOKCODEC_ZOO": str(zoo)}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokcodec_cli.main",
            "decode",
            str(tmp_path / "missing.tkc"),
            "-o",
            str(tmp_path / "x/"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 1 and p.stderr.startswith("tokcodec: error:") and "Traceback" not in p.stderr


@pytest.fixture
def ladder_zoo(tiny_zoo, monkeypatch):
    """The tiny zoo plus a rate ladder: 'tiny' coded at half and 1.5x the size, and as is."""
    registry = json.loads(tiny_zoo.read_text())
    for scale in (0.5, 1.5):
        registry["models"][f"tiny-x{scale:g}"] = {"weights_from": "tiny", "coding_scale": scale, "card": {}}
    registry["ladder"] = ["tiny-x0.5", "tiny", "tiny-x1.5"]
    path = tiny_zoo.parent / "ladder.json"  # beside the original: weight paths are relative to it
    path.write_text(json.dumps(registry))
    select_zoo(monkeypatch, str(path))
    return path


def test_ladder_rung_codes_resized_frames_and_decodes_to_display_size(ladder_zoo, tmp_path, make_clip):
    from tokcodec.codec.pipeline import resize
    from tokcodec.io import to_frames

    clip = write_clip(tmp_path / "in.mkv", make_clip(7, 24, 40))
    code, out = run("encode", clip, "-o", tmp_path / "a.tkc", "--quality", 1, "--gop", 5, "--json", "-q")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["model"] == "tiny-x0.5" and (summary["width"], summary["height"]) == (40, 24)
    d = json.loads(run("info", tmp_path / "a.tkc", "--json")[1])
    assert d["coded_size"] == "20x12" and (d["width"], d["height"]) == (40, 24)
    assert summary["bpp"] == pytest.approx(d["bpp"], abs=1e-6)
    assert run("decode", tmp_path / "a.tkc", "-o", tmp_path / "dec/", "-q")[0] == 0
    decoded, _ = read_frames(tmp_path / "dec")
    # The decoder's frames are the model's reconstruction at 20x12, plus the GOP's colour offset,
    # resized back to 40x24.
    model, _ = load_model("tiny")
    source, _ = read_frames(clip)
    reader = ContainerReader(tmp_path / "a.tkc")
    for start in range(0, 7, 5):
        gop = source[start : start + 5]
        recon = model.decode(model.encode(pad_gop(gop, model, (20, 12))))[:, :, : len(gop), :12, :20]
        recon = colour_offset.apply(recon, reader.colour_offset(start // 5))
        assert np.array_equal(np.stack(decoded[start : start + 5]), to_frames(resize(recon, 40, 24)))


def test_bpp_picks_the_highest_rung_that_fits(ladder_zoo, tmp_path, make_clip):
    from tokcodec.codec.pipeline import predicted_bpp
    from tokcodec.io import open_video
    from tokcodec.zoo import get_entry, ladder

    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 32, 48))
    with open_video(clip) as reader:
        rates = [predicted_bpp(reader.info, get_entry(name), 9) for name in ladder()]
    assert rates[0] < rates[1] < rates[2]
    for target, expect in ((rates[1] * 1.01, "tiny"), (rates[2], "tiny-x1.5"), (rates[0] / 2, "tiny-x0.5")):
        result = CliRunner().invoke(
            cli,
            [
                "encode",
                str(clip),
                "-o",
                str(tmp_path / "a.tkc"),
                "--bpp",
                str(target),
                "--gop",
                "9",
                "--json",
                "--force",
            ],
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["model"] == expect
        # a target no rung meets: the lowest rung, exit 0, and the warning in --json and on stderr
        unmet = target < rates[0]
        assert ("cannot be met" in result.stderr) == unmet
        assert summary["rate"] == {"requested_bpp": target, "achieved_bpp": summary["bpp"], "met": not unmet}
        assert any("cannot be met" in w for w in summary["warnings"]) == unmet
        # The prediction is exact: the bytes of a mode-0 file follow from its token grid.
        assert summary["bpp"] == pytest.approx(rates[ladder().index(expect)], abs=1e-6)
    code, msg = run("encode", clip, "-o", tmp_path / "b.tkc", "--quality", 4, "-q")
    assert code == 1 and "rungs 1..3" in msg and msg.count("\n") == 1
    code, msg = run("encode", clip, "-o", tmp_path / "b.tkc", "--quality", 1, "--model", "tiny", "-q")
    assert code == 2 and "at most one of" in msg
    code, out = run("models", "--json")
    listing = json.loads(out)
    assert [(r["name"], r["quality"]) for r in listing["ladder"]] == [("tiny-x0.5", 1), ("tiny", 2), ("tiny-x1.5", 3)]
    assert listing["default"] == "tiny" and listing["others"] == []


def test_a_gop_too_large_for_memory_is_refused_up_front(zoo, tmp_path, make_clip, monkeypatch):
    import tokcodec.codec.pipeline as pipeline

    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 32, 48))
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 9, "-q")[0] == 0
    monkeypatch.setattr(pipeline, "free_memory", lambda device: 10_000)
    code, msg = run("encode", clip, "-o", tmp_path / "b.tkc", "--gop", 9, "-q")
    assert code == 1 and "GiB are free" in msg and "--gop" in msg and msg.count("\n") == 1
    assert not (tmp_path / "b.tkc").exists()
    code, msg = run("decode", tmp_path / "a.tkc", "-o", tmp_path / "d.mkv", "-q")
    assert code == 1 and "GiB are free" in msg and not (tmp_path / "d.mkv").exists()


def test_output_folders_are_made_and_crf_sets_the_mp4_quality(zoo, tmp_path, make_clip):
    """encode and decode create a missing output folder (as transcode does); --crf chooses an .mp4's
    H.264 quality (12 by default, near lossless) and is refused for other outputs."""
    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 64, 96))
    code, out = run("encode", clip, "-o", tmp_path / "new" / "sub" / "a.tkc", "--gop", 5, "-q")
    assert code == 0, out
    sizes = {}
    for crf in (None, 40):
        name = tmp_path / "decoded" / f"crf{crf}.mp4"
        code, out = run(
            "decode", tmp_path / "new" / "sub" / "a.tkc", "-o", name, "-q", *(["--crf", crf] if crf else [])
        )
        assert code == 0, out
        sizes[crf] = name.stat().st_size
    assert sizes[40] < sizes[None] / 2
    code, out = run("decode", tmp_path / "new" / "sub" / "a.tkc", "-o", tmp_path / "x.mkv", "--crf", 20)
    assert code == 2 and "--crf applies to .mp4" in out and not (tmp_path / "x.mkv").exists()
    # a failed decode leaves no folder it made
    code, out = run("decode", tmp_path / "in.mkv", "-o", tmp_path / "never" / "x.mp4")
    assert code != 0 and not (tmp_path / "never").exists()


def test_precision_comes_from_the_environment(zoo, tmp_path, make_clip, monkeypatch):
    """TOKCODEC_PRECISION: bf16 decodes in bf16 (frames close to float32's, not equal); fp32 (the default)
    and auto decode in float32 (auto encodes in bf16 where the CPU has it); an unknown value is a
    one-line error before anything is written. Each command sets the process's precision from the
    environment."""
    from tokcodec import precision

    clip = write_clip(tmp_path / "in.mkv", make_clip(5, 32, 48))
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "-q", "--device", "cpu")[0] == 0
    decoded = {}
    for setting in ("bf16", "fp32", "auto"):
        monkeypatch.setenv("TOKCODEC_PRECISION", setting)
        out = tmp_path / f"{setting}.y4m"
        assert run("decode", tmp_path / "a.tkc", "-o", out, "-q", "--device", "cpu")[0] == 0
        assert precision.selected_precision() == setting
        decoded[setting] = np.stack(read_frames(out)[0]).astype(float)
    assert load_model("tiny")[0].autocast_dtypes["decode"] is None  # auto's
    assert np.array_equal(decoded["fp32"], decoded["auto"])
    assert decoded["bf16"].shape == decoded["fp32"].shape
    assert 0 < np.abs(decoded["bf16"] - decoded["fp32"]).mean() < 4
    monkeypatch.setattr(api, "bf16_supported", lambda device: False)
    monkeypatch.setenv("TOKCODEC_PRECISION", "bf16")
    code, out = run("info", tmp_path / "a.tkc")
    assert code == 0 and "note: TOKCODEC_PRECISION=bf16 on a CPU without native bf16 runs emulated" in out
    monkeypatch.setenv("TOKCODEC_PRECISION", "fast")
    code, out = run("decode", tmp_path / "a.tkc", "-o", tmp_path / "x.y4m", "-q")
    assert code != 0
    assert out.strip() == "tokcodec: error: TOKCODEC_PRECISION: precision 'fast': use one of fp32, auto, bf16"
    assert not (tmp_path / "x.y4m").exists()
