"""Decoder-only zoo entries: another decoder for the same tokens, the reader's choice (SPEC 3.3, 1.5)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import tokcodec
from conftest import write_clip, select_zoo
from tokcodec.errors import ModelError
from tokcodec_cli.main import cli


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def sharp_zoo(tiny_zoo, tmp_path, monkeypatch):
    """A copy of the tiny zoo with a decoder entry 'tiny-sharp' for tiny's tokens (its decoder's
    weights moved), and a second model 'other' that is not tiny."""
    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import load_model, register_model
    from tokcodec.zoo.decoders import register_decoder

    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo.parent, zoo)
    select_zoo(monkeypatch, str(zoo / "registry.json"))
    model, _ = load_model("tiny")
    decoder = {k: v + 0.05 * torch.randn_like(v) for k, v in model.state_dict().items() if k.startswith("decoder.")}
    register_decoder("tiny-sharp", "tiny", decoder, {"stage": "test"})
    torch.manual_seed(1)
    other = Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)))
    register_model("other", other.config, other.state_dict(), {"stage": "test"})
    return zoo


def frames_of(path):
    with tokcodec.open(path) as f:
        return np.stack(list(f.frames()))


def test_a_decoder_entry_decodes_the_same_file_differently_and_the_original_stays_bit_identical(
    sharp_zoo, tmp_path, make_clip
):
    clip = write_clip(tmp_path / "in.mkv", make_clip(5, 24, 32))
    code, _, err = run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "-q")
    assert code == 0, err
    before = (tmp_path / "a.tkc").read_bytes()
    own = frames_of(tmp_path / "a.tkc")
    for args, name in (
        ([], "own.y4m"),
        (["--decoder", "tiny"], "named.y4m"),
        (["--decoder", "tiny-sharp"], "sharp.y4m"),
    ):
        code, _, err = run("decode", tmp_path / "a.tkc", "-o", tmp_path / name, "-q", *args)
        assert code == 0, err
    assert (tmp_path / "own.y4m").read_bytes() == (tmp_path / "named.y4m").read_bytes()
    assert (tmp_path / "own.y4m").read_bytes() != (tmp_path / "sharp.y4m").read_bytes()
    with tokcodec.open(tmp_path / "a.tkc", decoder="tiny-sharp") as f:
        sharp = np.stack(list(f.frames()))
    assert sharp.shape == own.shape and not np.array_equal(sharp, own)
    assert (tmp_path / "a.tkc").read_bytes() == before  # the file is never touched
    code, out, _ = run("info", tmp_path / "a.tkc", "--json")
    assert code == 0 and json.loads(out)["decoders"] == ["tiny", "tiny-sharp"]
    code, out, _ = run("info", tmp_path / "a.tkc")
    assert "Decoders: tiny, tiny-sharp" in out


def test_a_decoder_for_other_tokens_is_refused(sharp_zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(5, 24, 32))
    assert run("encode", clip, "-o", tmp_path / "b.tkc", "--gop", 5, "--model", "other", "-q")[0] == 0
    code, _, err = run("decode", tmp_path / "b.tkc", "-o", tmp_path / "b.y4m", "--decoder", "tiny-sharp", "-q")
    assert code == 1 and "draws frames from the tokens of 'tiny'" in err and err.count("\n") == 1, err
    code, _, err = run("decode", tmp_path / "b.tkc", "-o", tmp_path / "b.y4m", "--decoder", "nope", "-q")
    assert code == 1 and "unknown decoder 'nope'" in err
    code, _, err = run("decode", tmp_path / "b.tkc", "-o", tmp_path / "b.y4m", "--decoder", "tiny", "-q")
    assert code == 1 and "unknown decoder 'tiny'" in err  # a model whose weights are not the file's
    assert not (tmp_path / "b.y4m").exists()


def test_a_damaged_decoder_file_is_refused_by_its_hash(sharp_zoo, tmp_path):
    from tokcodec.zoo.decoders import get_decoder, load_decoder

    entry = get_decoder("tiny-sharp")
    data = bytearray(entry.file.read_bytes())
    data[-1] ^= 1
    entry.file.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match their sha256"):
        load_decoder("tiny-sharp")


def test_transcode_decodes_with_a_decoder(sharp_zoo, tmp_path, make_clip):
    src = tmp_path / "src"
    src.mkdir()
    write_clip(src / "c.mkv", make_clip(5, 24, 32))
    assert run("transcode", src, "-o", tmp_path / "enc", "--gop", 5, "-q")[0] == 0
    for decoder, out in ((None, "plain"), ("tiny-sharp", "sharp")):
        extra = ["--decoder", decoder] if decoder else []
        code, _, err = run("transcode", tmp_path / "enc", "-o", tmp_path / out, "--decode", "--to", "mkv", "-q", *extra)
        assert code == 0, err
    assert (tmp_path / "plain" / "c.mkv").read_bytes() != (tmp_path / "sharp" / "c.mkv").read_bytes()


def test_eval_measures_a_decoder_on_the_same_tokens(sharp_zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 32, 48))
    results = {}
    for extra in (["--no-dists"], ["--decoder", "tiny-sharp"]):
        code, out, err = run("eval", clip, "--size", "48x32", "--frames", 9, "--gop", 9, "-q", *extra)
        assert code == 0, err
        results["--decoder" in extra] = json.loads(out)
    plain, sharp = results[False], results[True]
    assert plain["model"] == sharp["model"] and (plain["decoder"], sharp["decoder"]) == (None, "tiny-sharp")
    assert all(r["dists"] is None for r in plain["clips"].values()) and sharp["mean"]["dists"] > 0  # --no-dists
    assert plain["mean"]["bpp"] == sharp["mean"]["bpp"]  # the same tokens, the same bytes
    from tokcodec.metrics.vmaf import vmaf_available

    if vmaf_available():  # VMAF as the benchmark measures it, in eval too (issue 19)
        assert 0 <= plain["mean"]["vmaf"] <= 100 and plain["mean"]["vmaf"] != sharp["mean"]["vmaf"]
    assert plain["mean"]["psnr"] != sharp["mean"]["psnr"]  # another decoder, other pixels


def test_eval_measures_a_decoder_at_every_rung_of_its_model(sharp_zoo, tmp_path, make_clip):
    """A rung (the same weights at another coding scale) drawn by the decoder entry: the rung's bytes, the
    entry's pixels (issue 19: every rung measured with both decoders). Another model's rung is refused."""
    registry = json.loads((sharp_zoo / "registry.json").read_text())
    registry["models"]["tiny-x0.5"] = {"weights_from": "tiny", "coding_scale": 0.5, "card": {}}
    (sharp_zoo / "registry.json").write_text(json.dumps(registry))
    clip = write_clip(tmp_path / "in.mkv", make_clip(9, 64, 96))
    results = {}
    for extra in ([], ["--decoder", "tiny-sharp"]):
        code, out, err = run("eval", clip, "--size", "96x64", "--frames", 9, "--gop", 9, "--no-dists", "-q",
                             "--model", "tiny-x0.5", *extra)  # fmt: skip
        assert code == 0, err
        results[bool(extra)] = json.loads(out)["mean"]
    code, plain_full, _ = run("eval", clip, "--size", "96x64", "--frames", 9, "--gop", 9, "--no-dists", "-q")
    assert results[False]["bpp"] == results[True]["bpp"] < json.loads(plain_full)["mean"]["bpp"]  # the rung's rate
    assert results[False]["psnr"] != results[True]["psnr"]
    code, _, err = run("eval", clip, "--size", "96x64", "--frames", 9, "--model", "other", "--decoder", "tiny-sharp")
    assert code == 1 and "other" in err


def test_a_wider_decoder_starts_as_its_narrow_source_and_ships_as_a_decoder_entry(sharp_zoo, tmp_path, make_clip):
    """A decoder of another shape for the same tokens (issue 19's wider last stage): warm-started from the
    narrow one it computes the same frames (the new hidden channels start silent); as a zoo entry with its
    `config` it decodes the base's files; a config key outside the decoder is refused."""
    from tokcodec.models.patch import PatchTokenizer, PatchTokenizerConfig
    from tokcodec.train.tokenizer import grown_state
    from tokcodec.zoo import register_model
    from tokcodec.zoo.decoders import load_decoder, register_decoder

    narrow_cfg = PatchTokenizerConfig(
        width_4=8, width_8=16, width_latent=16, enc_blocks=(1, 1, 1), dec_blocks=(2, 1, 1)
    )
    torch.manual_seed(0)
    narrow = PatchTokenizer(narrow_cfg)
    for p in narrow.parameters():  # away from the zero init of the blocks' last convs
        torch.nn.init.normal_(p, std=0.1)
    wide = PatchTokenizer(PatchTokenizerConfig(**{**narrow_cfg.to_dict(), "dec_hidden_4": 24}))
    wide.load_state_dict(grown_state(wide.state_dict(), narrow.state_dict()))
    assert wide.decoder.blocks_4[0].conv1.weight.shape[0] == 24
    tokens = torch.randint(0, 2**18, (1, 2, 3, 4))
    assert torch.equal(narrow.decode(tokens), wide.decode(tokens))
    with pytest.raises(ValueError, match=r"blocks_4.0.conv1.weight is \(24, 8, 3, 3\), the model's \(8, 8"):
        grown_state(narrow.state_dict(), wide.state_dict())  # weights never shrink

    register_model("tiny-patch", narrow_cfg, narrow.state_dict(), {"stage": "test"})
    decoder = {k: v + 0.01 for k, v in wide.state_dict().items() if k.startswith("decoder.")}
    register_decoder("tiny-patch-wide", "tiny-patch", decoder, {"stage": "test"}, config={"dec_hidden_4": 24})
    model, _, entry = load_decoder("tiny-patch-wide")
    assert entry.config == {"dec_hidden_4": 24} and model.config.dec_hidden_4 == 24
    clip = write_clip(tmp_path / "in.mkv", make_clip(5, 32, 32))
    assert run("encode", clip, "-o", tmp_path / "p.tkc", "--gop", 5, "--model", "tiny-patch", "-q")[0] == 0
    for extra, name in (([], "own.y4m"), (["--decoder", "tiny-patch-wide"], "wide.y4m")):
        code, _, err = run("decode", tmp_path / "p.tkc", "-o", tmp_path / name, "-q", *extra)
        assert code == 0, err
    assert (tmp_path / "own.y4m").read_bytes() != (tmp_path / "wide.y4m").read_bytes()

    registry = json.loads((sharp_zoo / "registry.json").read_text())
    registry["decoders"]["tiny-patch-wide"]["config"] = {"width_8": 32}
    (sharp_zoo / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelError, match="'width_8' is not a decoder key"):
        load_decoder("tiny-patch-wide")
    registry["decoders"]["tiny-patch-wide"]["config"] = {"dec_hidden_4": "wide"}
    (sharp_zoo / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelError, match="builds no decoder"):
        load_decoder("tiny-patch-wide")
    with pytest.raises(ValueError, match="only in the source"):
        grown_state(narrow.state_dict(), {**narrow.state_dict(), "decoder.extra": torch.zeros(1)})
