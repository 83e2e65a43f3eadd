"""`tokcodec train ...`: train the tokenizer and its token prior (MLM), and publish runs into the zoo."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tokcodec.errors import TokcodecError
from tokcodec_cli.common import device_option, friendly_errors, quiet_option, resolve_device


@click.group()
def train():
    """Train models (same command on CPU and CUDA; re-run to resume)."""


@train.command("tokenizer")
@click.option("--data", multiple=True, help="Video files, frame folders, image folders (repeatable; or in --config).")
@click.option("--val-data", multiple=True, help="Held-out clips for periodic validation PSNR / LPIPS-alex.")
@click.option("--run-dir", required=True, help="Checkpoints and logs; re-running resumes from here.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON with TrainConfig fields (the options below override it).",
)
@click.option("--init-from", help="Warm start: a zoo model name or a .pt checkpoint (image models are inflated).")
@click.option("--steps", type=int, help="Total steps (the LR schedule's length).")
@click.option("--batch", type=int)
@click.option("--frames", type=int, help="Frames per clip: 1 = image pre-training, 17 = the paper's clips.")
@click.option("--crop", type=int, help="Square crop side in pixels.")
@click.option("--lr", type=float)
@click.option("--warmup", type=int)
@click.option("--channels", type=int, help="Model width (first level).")
@click.option("--perceptual", type=float, help="LPIPS-VGG loss weight.")
@click.option("--gan", type=float, help="GAN loss weight (0 = no discriminator).")
@click.option("--seed", type=int)
@click.option("--max-minutes", type=float, help="Stop (and checkpoint) after this long; re-run to resume.")
@click.option("--data-cache", help="Keep the decoded training frames in this .pt file for the next run.")
@device_option
@quiet_option
@friendly_errors
def tokenizer(
    data,
    val_data,
    run_dir,
    config_file,
    init_from,
    steps,
    batch,
    frames,
    crop,
    lr,
    warmup,
    channels,
    perceptual,
    gan,
    seed,
    max_minutes,
    data_cache,
    device,
    quiet,
):
    """Train the causal MAGVIT-v2 tokenizer."""
    from tokcodec.models import config_from_dict
    from tokcodec.models.tokenizer import TokenizerConfig
    from tokcodec.train.losses import LossWeights
    from tokcodec.train.tokenizer import Trainer, TrainConfig

    raw = json.loads(Path(config_file).read_text()) if config_file else {}
    overrides = {
        "steps": steps,
        "batch": batch,
        "frames": frames,
        "crop": crop,
        "lr": lr,
        "warmup": warmup,
        "seed": seed,
        "max_minutes": max_minutes,
        "init_from": init_from,
        "data_cache": data_cache,
    }
    raw.update({k: v for k, v in overrides.items() if v is not None})
    model = raw.pop("model", {})
    if channels:
        model["channels"] = channels
    weights = raw.pop("weights", {})
    weights.update({k: v for k, v in {"perceptual": perceptual, "gan": gan}.items() if v is not None})
    if not (data or raw.get("data")):
        raise TokcodecError('no training data: give --data (or "data" in --config)')
    raw.update(
        data=list(data) or raw["data"],
        val_data=list(val_data) or raw.get("val_data", []),
        run_dir=run_dir,
        device=resolve_device(device),
    )
    if model.get("family", "magvit2") == "magvit2":
        model = {**TokenizerConfig().to_dict(), **model}
    cfg = TrainConfig(model=config_from_dict(model), weights=LossWeights(**weights), **raw)
    result = Trainer(cfg, quiet=quiet).run()
    click.echo(json.dumps(result))


@train.command("export")
@click.argument("run_dir")
@click.option("--name", required=True, help="Zoo name for these weights.")
@click.option(
    "--checkpoint",
    "which",
    type=click.Choice(["last", "best"]),
    default="last",
    show_default=True,
    help="last.pt, or best.pt (the best validation PSNR so far).",
)
@click.option(
    "--card",
    "card_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON facts for the model card (data, hardware, ...); merged into the registry entry.",
)
@click.option("--default", "make_default", is_flag=True, help="Make it the default model.")
@click.option(
    "--replace",
    is_flag=True,
    help="Replace a zoo entry of that name: files written with its "
    "weights stop decoding (they name the weights by hash).",
)
@friendly_errors
def export(run_dir, name, which, card_file, make_default, replace):
    """Publish a run's weights (fp16 safetensors) into the zoo registry.

    An image-stage run (trained on 1-frame clips) is inflated to video first."""
    import torch
    from tokcodec.models import build_tokenizer, config_from_dict
    from tokcodec.train.tokenizer import inflate_image_weights
    from tokcodec.zoo import register_model

    checkpoint = Path(run_dir) / f"{which}.pt"
    if not checkpoint.exists():
        raise TokcodecError(f"{run_dir}: no checkpoint ({which}.pt) to export")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = config_from_dict(state["config"]["model"])
    model = build_tokenizer(config)
    model.load_state_dict(state.get("ema") or state["model"])
    # the magvit2 family's image stage needs inflating; the patch family codes video from the start
    image_stage = state["config"]["frames"] == 1 and config.family == "magvit2"
    if image_stage:  # every zoo model codes video: an image-stage run ships inflated
        inflate_image_weights(model)
    card = json.loads(Path(card_file).read_text()) if card_file else {}
    card.setdefault("steps", state["step"])
    card.setdefault("train_seconds", round(state.get("train_seconds", 0.0)))
    card.setdefault("stage", "image (inflated to video)" if image_stage else "video")
    card.setdefault("train_config", state["config"])
    register_model(name, config, model.state_dict(), card, make_default, replace)
    click.echo(f"registered '{name}' in the zoo")


@train.command("mlm")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="JSON recipe (tokcodec/zoo/recipes/mlm-*.json): tokenizer, data, model, schedule.",
)
@click.option("--run-dir", required=True, help="Token caches, checkpoints and logs; re-running resumes from here.")
@click.option("--tokenizer", help="Zoo tokenizer whose tokens to model (default: the recipe's).")
@click.option("--data-cache", help="Decoded training frames (.pt), shared with the tokenizer's training.")
@click.option("--steps", type=int, help="Total steps (the LR schedule's length).")
@click.option("--max-minutes", type=float, help="Stop (and checkpoint) after this long; re-run to resume.")
@click.option(
    "--init-from",
    type=click.Path(exists=True, dir_okay=False),
    help="Start from a prior run's checkpoint (e.g. RUN/best.pt of the previous tokenizer's prior).",
)
@device_option
@quiet_option
@friendly_errors
def mlm(config_file, run_dir, tokenizer, data_cache, steps, max_minutes, init_from, device, quiet):
    """Train the masked-language-model prior of entropy mode 1 for a zoo tokenizer.

    The tokenizer encodes the recipe's data once into RUN_DIR/tokens-train.pt
    (and its validation clips into tokens-val.pt); training reads only tokens."""
    from tokcodec.train.mlm import MLMTrainConfig, MLMTrainer, prepare_token_caches

    raw = json.loads(Path(config_file).read_text())
    name = tokenizer or raw.get("tokenizer", "default")
    train_cache, val_cache, digest = prepare_token_caches(
        name, raw, Path(run_dir), data_cache, resolve_device(device), quiet
    )
    raw["model"] = {**raw.get("model", {}), "tokenizer_sha256": digest}
    overrides = {"steps": steps, "max_minutes": max_minutes, "init_from": init_from}
    fields = {k: v for k, v in raw.items() if k in MLMTrainConfig.__dataclass_fields__}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    cfg = MLMTrainConfig.from_dict(
        {
            **fields,
            "run_dir": run_dir,
            "tokens": str(train_cache),
            "val_tokens": str(val_cache) if val_cache else None,
            "device": resolve_device(device),
        }
    )
    click.echo(json.dumps(MLMTrainer(cfg, quiet=quiet).run()))


@train.command("export-mlm")
@click.argument("run_dir")
@click.option("--name", required=True, help="Zoo name for the prior (e.g. mlm-tc-2).")
@click.option("--checkpoint", "which", type=click.Choice(["last", "best"]), default="best", show_default=True)
@click.option(
    "--card",
    "card_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON facts for the model card; merged into the registry entry.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace a zoo entry of that name: files written with its "
    "weights stop decoding (they name the weights by hash).",
)
@friendly_errors
def export_mlm(run_dir, name, which, card_file, replace):
    """Publish a prior run into the zoo as its integer network (int32 safetensors)."""
    import torch
    from tokcodec.models.mlm import MLMConfig, TokenMLM
    from tokcodec.models.mlm_int import integer_tensors
    from tokcodec.zoo.priors import register_prior

    checkpoint = Path(run_dir) / f"{which}.pt"
    if not checkpoint.exists():
        raise TokcodecError(f"{run_dir}: no checkpoint ({which}.pt) to export")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = MLMConfig.from_dict(state["config"]["model"])
    model = TokenMLM(config)
    model.load_state_dict(state["model"])
    card = json.loads(Path(card_file).read_text()) if card_file else {}
    card.setdefault("steps", state["step"])
    card.setdefault("train_seconds", round(state["train_seconds"]))
    card.setdefault("train_config", state["config"])
    if "metrics" in state:
        card.setdefault("validation", state["metrics"])
    register_prior(name, config, integer_tensors(model), card, replace)
    click.echo(f"registered token prior '{name}' in the zoo")
