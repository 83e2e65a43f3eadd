"""Training runs on the CPU from the command line, checkpoints, resumes, and exports into a zoo."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from tokcodec.io import open_writer
from tokcodec.train.data import FrameBank, find_sources
from tokcodec_cli.main import cli
from conftest import select_zoo

pytestmark = pytest.mark.slow  # shipped models or training: tens of seconds each


@pytest.fixture
def data_dir(tmp_path, make_clip):
    root = tmp_path / "data"
    (root / "photos").parent.mkdir()
    with open_writer(root / "clip.mkv", 48, 40, 25) as w:
        for f in make_clip(12, 40, 48):
            w.write(f)
    with open_writer(root / "frames/", 40, 40, 25) as w:  # a numbered frame folder = one video
        for f in make_clip(9, 40, 40):
            w.write(f)
    with open_writer(root / "photos" / "still_%d.png", 36, 36, 25) as w:  # stills named like photos
        w.write(make_clip(1, 36, 36)[0])
    return root


def test_sources_and_bank(data_dir):
    videos, stills = find_sources([data_dir])
    assert sorted(p.name for p in videos) == ["clip.mkv", "frames"]
    assert [p.name for p in stills] == ["still_0.png"]
    bank = FrameBank.load([data_dir], max_side=32, quiet=True)
    assert max(bank.videos[0].shape[-2:]) == 32
    import torch

    batch = bank.sample(3, 5, 24, torch.Generator().manual_seed(0))
    assert batch.shape == (3, 3, 5, 24, 24) and batch.min() >= -1 and batch.max() <= 1


def test_bank_cache_is_used_only_for_the_same_sources(data_dir, tmp_path, monkeypatch):
    """A data cache made from other sources is decoded again, not trained on (it was once, silently)."""
    cache = tmp_path / "bank.pt"
    one = FrameBank.load([data_dir / "clip.mkv"], max_side=32, quiet=True, cache=cache)
    assert len(one.videos) == 1 and not one.stills
    every = FrameBank.load([data_dir], max_side=32, quiet=True, cache=cache)
    assert len(every.videos) == 2 and len(every.stills) == 1
    decoded = []
    decode = FrameBank._decode.__func__
    monkeypatch.setattr(FrameBank, "_decode", classmethod(lambda cls, *a: decoded.append(a) or decode(cls, *a)))
    again = FrameBank.load([data_dir], max_side=32, quiet=True, cache=cache)
    assert not decoded and [v.shape for v in again.videos] == [v.shape for v in every.videos]
    smaller = FrameBank.load([data_dir], max_side=24, quiet=True, cache=cache)  # another size: decoded again
    assert len(decoded) == 1 and max(smaller.videos[0].shape[-2:]) == 24


def test_train_resume_export(data_dir, tmp_path, monkeypatch):
    config = tmp_path / "tiny.json"
    config.write_text(
        json.dumps(
            {
                "model": {"channels": 8, "channel_mults": [1, 2, 2, 2]},
                "batch": 2,
                "crop": 32,
                "log_every": 1,
                "val_every": 2,
                "ckpt_every": 1,
                "val_frames": 5,
                "val_size": [32, 32],
                "max_side": 64,
            }
        )
    )
    run = tmp_path / "run"
    args = [
        "train",
        "tokenizer",
        "--data",
        str(data_dir),
        "--val-data",
        str(data_dir / "clip.mkv"),
        "--run-dir",
        str(run),
        "--config",
        str(config),
        "--frames",
        "5",
        "--device",
        "cpu",
        "-q",
    ]
    result = CliRunner().invoke(cli, args + ["--steps", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["step"] == 2 and "val_psnr" in out and "val_lpips_alex" in out
    result = CliRunner().invoke(cli, args + ["--steps", "3"])  # resumes at step 2
    assert json.loads(result.output.strip().splitlines()[-1])["step"] == 3
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "rec" in r] == [1, 2, 3]
    assert all(0 <= r["unique_frac"] <= 1 for r in log if "rec" in r)
    select_zoo(monkeypatch, str(tmp_path / "zoo" / "registry.json"))
    (tmp_path / "zoo").mkdir()
    result = CliRunner().invoke(cli, ["train", "export", str(run), "--name", "mine", "--default"])
    assert result.exit_code == 0, result.output
    from tokcodec.zoo import load_model

    model, entry = load_model("default")
    assert entry.name == "mine" and entry.card["steps"] == 3 and entry.card["stage"] == "video"
    # files name their weights: an export under a taken name is refused unless --replace
    again = CliRunner().invoke(cli, ["train", "export", str(run), "--name", "mine"])
    assert again.exit_code == 1 and "already has a model 'mine'" in again.output
    assert load_model("mine")[1].weights_hash == entry.weights_hash
    assert CliRunner().invoke(cli, ["train", "export", str(run), "--name", "mine", "--replace"]).exit_code == 0


def test_every_loss_runs(data_dir, tmp_path):
    """LPIPS-VGG perceptual loss and the GAN with LeCAM, one step each on images and clips."""
    from tokcodec.models.tokenizer import TokenizerConfig
    from tokcodec.train.losses import LossWeights
    from tokcodec.train.tokenizer import Trainer, TrainConfig

    for frames in (1, 5):
        cfg = TrainConfig(
            data=[str(data_dir)],
            run_dir=str(tmp_path / f"run{frames}"),
            steps=2,
            batch=2,
            frames=frames,
            crop=32,
            max_side=64,
            log_every=1,
            model=TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)),
            weights=LossWeights(l2=1.0, perceptual=0.1, gan=0.1, gan_start=1),
        )
        trainer = Trainer(cfg, quiet=True)
        trainer.run()
        log = [json.loads(line) for line in (tmp_path / f"run{frames}" / "log.jsonl").read_text().splitlines()]
        assert "lpips_vgg" in log[0] and "g" not in log[0]  # the discriminator joins at gan_start
        assert "g" in log[1] and "d" in log[1]
        assert trainer.lecam.real_ema != 0.0


TINY_PATCH = {
    "family": "patch",
    "width_4": 8,
    "width_8": 16,
    "width_latent": 32,
    "enc_blocks": [1, 1, 1],
    "dec_blocks": [1, 1, 1],
}


def _tiny_decoder_stage(**fields):
    """A decoder-only stage of TINY_PATCH: 3 steps on 32x32 crops, validated every step, best.pt on LPIPS-alex
    (no PSNR bound unless a test sets one)."""
    from tokcodec.models import config_from_dict
    from tokcodec.train.tokenizer import TrainConfig

    stage = {"model": config_from_dict(TINY_PATCH), "steps": 3, "batch": 2, "frames": 5, "crop": 32, "max_side": 64}
    stage |= {"val_every": 1, "lr": 1e-2, "val_frames": 5, "val_size": (32, 32), "freeze_encoder": True}
    stage |= {"select": "lpips", "select_psnr_drop": 100.0}
    return TrainConfig(**(stage | fields))


def test_patch_family_trains_with_ema_and_exports(data_dir, tmp_path, monkeypatch):
    config = tmp_path / "patch.json"
    config.write_text(
        json.dumps(
            {
                "model": TINY_PATCH,
                "batch": 2,
                "crop": 32,
                "log_every": 1,
                "val_every": 2,
                "ckpt_every": 1,
                "val_frames": 5,
                "val_size": [32, 32],
                "max_side": 64,
                "ema": 0.9,
            }
        )
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "tokenizer",
            "--data",
            str(data_dir),
            "--val-data",
            str(data_dir / "clip.mkv"),
            "--run-dir",
            str(run),
            "--config",
            str(config),
            "--frames",
            "5",
            "--steps",
            "2",
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    import torch

    state = torch.load(run / "last.pt", weights_only=False)
    assert state["ema"] is not None and (run / "best.pt").exists()
    # the EMA trails the live weights
    key = next(k for k in state["model"] if k.endswith("stem.weight"))
    assert not torch.equal(state["ema"][key], state["model"][key])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all("token_entropy" in r for r in log if "rec" in r)
    select_zoo(monkeypatch, str(tmp_path / "zoo" / "registry.json"))
    (tmp_path / "zoo").mkdir()
    result = CliRunner().invoke(cli, ["train", "export", str(run), "--name", "p", "--checkpoint", "best"])
    assert result.exit_code == 0, result.output
    from tokcodec.models.patch import PatchTokenizer
    from tokcodec.zoo import load_model

    model, entry = load_model("p")
    assert isinstance(model, PatchTokenizer) and entry.card["stage"] == "video"
    assert torch.allclose(model.encoder.stem.weight, state["ema"]["encoder.stem.weight"].half().float())


def test_training_runs_under_torchrun_with_two_processes(data_dir, tmp_path):
    """DDP on the CPU (gloo): the same command, two ranks, rank 0 writes the run folder."""
    import os
    import subprocess
    import sys

    config = tmp_path / "patch.json"
    config.write_text(
        json.dumps({"model": TINY_PATCH, "batch": 2, "crop": 32, "log_every": 1, "ckpt_every": 1, "max_side": 64})
    )
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "tokcodec_cli.main",
        "train",
        "tokenizer",
        "--data",
        str(data_dir),
        "--run-dir",
        str(run),
        "--config",
        str(config),
        "--frames",
        "5",
        "--steps",
        "3",
        "--device",
        "cpu",
        "-q",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]  # one writer: rank 0
    import torch

    assert torch.load(run / "last.pt", weights_only=False)["step"] == 3


def test_decoder_only_fine_tuning_keeps_every_token(data_dir, tmp_path):
    """freeze_encoder: LPIPS + a frame-pair GAN train the decoder alone; the encoder's weights (live and
    EMA) stay bit-identical, so a clip's tokens are the same before and after; best.pt is chosen on
    LPIPS-alex within the PSNR bound, starting from the run's first validation."""
    import torch
    from tokcodec.models import config_from_dict
    from tokcodec.train.losses import LossWeights
    from tokcodec.train.tokenizer import Trainer, TrainConfig

    base = Trainer(
        TrainConfig(
            data=[str(data_dir)],
            run_dir=str(tmp_path / "base"),
            model=config_from_dict(TINY_PATCH),
            steps=1,
            batch=2,
            frames=5,
            crop=32,
            max_side=64,
        ),
        quiet=True,
    )
    base.save()
    cfg = _tiny_decoder_stage(
        data=[str(data_dir)],
        val_data=[str(data_dir / "clip.mkv")],
        run_dir=str(tmp_path / "ft"),
        init_from=str(tmp_path / "base" / "last.pt"),
        log_every=1,
        ema=0.5,
        perceptual_frames=2,
        disc_frames=2,
        discriminator="pairs",
        weights=LossWeights(perceptual=0.5, gan=0.1),
    )
    trainer = Trainer(cfg, quiet=True)
    clip = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    tokens_before = trainer.model.encode(clip)
    trainer.run()
    state = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    start = base.model.state_dict()
    for weights in (state["model"], state["ema"]):
        assert all(torch.equal(weights[k], v) for k, v in start.items() if not k.startswith("decoder."))
        assert any(not torch.equal(weights[k], v) for k, v in start.items() if k.startswith("decoder."))
    assert torch.equal(trainer.model.encode(clip), tokens_before)
    assert set(trainer.opt.param_groups[0]["params"]) == set(trainer.model.decoder.parameters())
    log = [json.loads(line) for line in (tmp_path / "ft" / "log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "val_lpips_alex" in r]
    assert validations[0]["step"] == 0 and len(validations) == 4  # the start, then every step
    assert "g" in log[1] and "lpips_vgg" in log[1]
    best = torch.load(tmp_path / "ft" / "best.pt", weights_only=True)
    assert best["metrics"]["val_lpips_alex"] == min(r["val_lpips_alex"] for r in validations)
    # the next stage keeps the adversary the decoder was balanced against (disc_from)
    last = str(tmp_path / "ft" / "last.pt")
    nxt = Trainer(dataclasses.replace(cfg, run_dir=str(tmp_path / "next"), init_from=last, disc_from=last), quiet=True)
    assert all(torch.equal(nxt.disc.state_dict()[k], v) for k, v in state["disc"].items())
    assert nxt.disc_opt.state_dict()["state"]  # Adam's moments too, not a fresh optimizer
    with pytest.raises(ValueError, match="trains no discriminator"):
        Trainer(dataclasses.replace(cfg, run_dir=str(tmp_path / "no-gan"), weights=LossWeights(), disc_from=last))


def test_checkpoints_are_selected_on_held_out_clips_against_a_reference(data_dir, tmp_path, zoo):
    """select_data: validated as sel_*, refused when it is in the training data; the reference model's
    numbers on it (select_reference, logged as ref_sel_*) anchor the PSNR floor and the flicker ceiling,
    and best.pt is the lowest sel_lpips_alex among admissible checkpoints."""
    import torch

    from tokcodec.errors import ModelError
    from tokcodec.train.losses import LossWeights
    from tokcodec.train.tokenizer import Trainer

    cfg = _tiny_decoder_stage(
        data=[str(data_dir / "frames"), str(data_dir / "photos")],
        val_data=[str(data_dir / "frames")],
        select_data=[str(data_dir / "clip.mkv")],
        select_frames=5,
        select_size=(32, 32),
        select_reference="tiny",
        run_dir=str(tmp_path / "run"),
        weights=LossWeights(perceptual=0.5),
    )
    with pytest.raises(ValueError, match="also in data"):
        Trainer(dataclasses.replace(cfg, data=[str(data_dir)], run_dir=str(tmp_path / "no")), quiet=True)
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        Trainer(dataclasses.replace(cfg, select_reference="nope", run_dir=str(tmp_path / "no")), quiet=True)
    trainer = Trainer(cfg, quiet=True)
    trainer.run()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    reference = next(r for r in log if "reference" in r)
    assert reference["reference"] == "tiny" and {"ref_sel_psnr", "ref_val_psnr"} <= set(reference)
    validations = [r for r in log if "sel_lpips_alex" in r]
    assert len(validations) == 4 and all("val_lpips_alex" in r for r in validations)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["metrics"]["sel_lpips_alex"] == min(r["sel_lpips_alex"] for r in validations)
    # the floors are the reference's, on the selection clips
    trainer.reference = {"sel_psnr": 30.0, "sel_flicker": 2.0}
    trainer.cfg = dataclasses.replace(cfg, select_psnr_drop=1.0, select_flicker_rise=0.1)
    assert trainer.admissible({"sel_psnr": 29.05, "sel_flicker": 2.19, "val_psnr": 0.0})
    assert not trainer.admissible({"sel_psnr": 28.95, "sel_flicker": 2.0, "val_psnr": 99.0})
    assert not trainer.admissible({"sel_psnr": 30.0, "sel_flicker": 2.21, "val_psnr": 99.0})
    # a resumed run keeps the reference it was judged against
    assert Trainer(cfg, quiet=True).reference == {k[4:]: v for k, v in reference.items() if k.startswith("ref_")}


def test_token_conditioned_discriminator_sees_the_tokens_of_each_frame(data_dir, tmp_path):
    """`discriminator: "pairs-tokens"`: each frame is paired with the latent it decodes from (frame 0
    with latent frame 0, frames 1-4 with latent frame 1, ...); D's verdict depends on that latent, and a
    decoder-only step trains G and D through it (the latent's input weights of D move)."""
    import torch
    from tokcodec.models import config_from_dict
    from tokcodec.train.losses import LossWeights, TokenPairDiscriminator
    from tokcodec.train.tokenizer import Trainer, TrainConfig

    cfg = TrainConfig(
        data=[str(data_dir)],
        run_dir=str(tmp_path / "run"),
        model=config_from_dict(TINY_PATCH),
        batch=2,
        frames=9,
        crop=32,
        max_side=64,
        freeze_encoder=True,
        disc_frames=3,
        discriminator="pairs-tokens",
        weights=LossWeights(gan=0.1),
    )
    trainer = Trainer(cfg, quiet=True)
    assert isinstance(trainer.disc, TokenPairDiscriminator)
    clip = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    tokens = trainer.model.encode(clip)  # (2, 3, 4, 4): latent frames 0, 1, 2
    latents = trainer.frame_latents(tokens)
    values = trainer.model.token_values(tokens)
    assert latents.shape == (2, values.shape[2], 9, 4, 4)
    for frame, latent in enumerate([0, 1, 1, 1, 1, 2, 2, 2, 2]):
        assert torch.equal(latents[:, :, frame], values[:, latent])
    with torch.no_grad():
        verdict = trainer.disc(clip, latents)
        assert verdict.shape == (2 * 8, 1, 4, 4)  # one map per pair
        assert not torch.equal(trainer.disc(clip, latents.flip(0)), verdict)
    latent_weights = trainer.disc.head[0].weight[:, -values.shape[2] :].detach().clone()
    stats = trainer.train_step(clip)
    assert {"g", "d"} <= stats.keys()
    assert not torch.equal(trainer.disc.head[0].weight[:, -values.shape[2] :], latent_weights)


def test_a_committed_decoder_warm_starts_over_its_base_model(tmp_path, monkeypatch):
    """The ablation's best decoder (fp16, decoder tensors only) is a warm start: the base model's
    encoder unchanged, the decoder the file's."""
    from pathlib import Path
    import torch
    from safetensors.torch import load_file
    from tokcodec.models import config_from_dict
    from tokcodec.train.tokenizer import Trainer, TrainConfig
    from tokcodec.zoo import load_model

    select_zoo(monkeypatch, None)
    path = Path(__file__).resolve().parents[1] / "tokcodec/zoo/cards/sharp-ablation/gan-best-decoder.fp16.safetensors"
    base, entry = load_model("tc-2.1")
    trainer = Trainer(
        TrainConfig(
            data=[],
            run_dir=str(tmp_path / "run"),
            init_from=str(path),
            model=config_from_dict(entry.config.to_dict()),
            freeze_encoder=True,
        ),
        quiet=True,
    )
    state, decoder = trainer.model.state_dict(), load_file(str(path))
    assert decoder and all(torch.equal(state[k], v.float()) for k, v in decoder.items())
    assert all(torch.equal(state[k], v.float()) for k, v in base.state_dict().items() if not k.startswith("decoder."))
