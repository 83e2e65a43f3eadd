"""`tokcodec train ...`: train the tokenizer and its token prior (MLM), and publish runs into the zoo
(api.train_tokenizer, export_tokenizer, train_prior, export_prior)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tokcodec import api
from tokcodec_cli.common import device_option, friendly_errors, quiet_option

RECIPE = click.Path(exists=True, dir_okay=False)
HELP = {
    "replace": "Replace a zoo entry of that name: files written with its weights stop decoding (they name them by "
    "hash).",
    "ckpt": "last.pt, or best.pt (the run's best validation checkpoint).",
    "mlm_recipe": "JSON recipe (tokcodec/zoo/recipes/mlm-*.json): tokenizer, data, model, schedule.",
    "mlm_init": "Start from a prior run's checkpoint (RUN/best.pt) or its float weights (.safetensors).",
}


def _json(path: str | None) -> dict:
    return json.loads(Path(path).read_text()) if path else {}


@click.group()
def train():
    """Train models (same command on CPU and CUDA; re-run to resume)."""


@train.command("tokenizer")
@click.option("--data", multiple=True, help="Video files, frame folders, image folders (repeatable; or in --config).")
@click.option("--val-data", multiple=True, help="Held-out clips for periodic validation PSNR / LPIPS-alex.")
@click.option("--run-dir", required=True, help="Checkpoints and logs; re-running resumes from here.")
@click.option("--config", "recipe", type=RECIPE, help="JSON with TrainConfig fields (the options below override it).")
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
def tokenizer(recipe, run_dir, device, quiet, **overrides):
    """Train a video tokenizer (the recipe's family: the patch family of the default model, or MAGVIT-v2's)."""
    device = api.resolve_device(device)
    click.echo(json.dumps(api.train_tokenizer(_json(recipe), run_dir, device=device, quiet=quiet, **overrides)))


@train.command("export")
@click.argument("run_dir")
@click.option("--name", required=True, help="Zoo name for these weights.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last", show_default=True, help=HELP["ckpt"])
@click.option("--card", type=RECIPE, help="JSON facts for the model card (data, hardware, ...); merged into the entry.")
@click.option("--default", "make_default", is_flag=True, help="Make it the default model.")
@click.option("--replace", is_flag=True, help=HELP["replace"])
@friendly_errors
def export(run_dir, name, checkpoint, card, make_default, replace):
    """Publish a run's weights (fp16 safetensors) into the zoo registry.

    An image-stage run (trained on 1-frame clips) is inflated to video first."""
    api.export_tokenizer(
        run_dir, name, checkpoint=checkpoint, card=_json(card), make_default=make_default, replace=replace
    )
    click.echo(f"registered '{name}' in the zoo")


@train.command("mlm")
@click.option("--config", "recipe", type=RECIPE, required=True, help=HELP["mlm_recipe"])
@click.option("--run-dir", required=True, help="Token caches, checkpoints and logs; re-running resumes from here.")
@click.option("--tokenizer", help="Zoo tokenizer whose tokens to model (default: the recipe's).")
@click.option("--data-cache", help="Decoded training frames (.pt), shared with the tokenizer's training.")
@click.option("--steps", type=int, help="Total steps (the LR schedule's length).")
@click.option("--max-minutes", type=float, help="Stop (and checkpoint) after this long; re-run to resume.")
@click.option("--init-from", type=RECIPE, help=HELP["mlm_init"])
@device_option
@quiet_option
@friendly_errors
def mlm(recipe, run_dir, tokenizer, data_cache, device, quiet, **overrides):
    """Train the masked-language-model prior of entropy mode 1 for a zoo tokenizer.

    The tokenizer encodes the recipe's data once into RUN_DIR/tokens-train.pt
    (and its validation clips into tokens-val.pt); training reads only tokens."""
    device = api.resolve_device(device)
    result = api.train_prior(
        _json(recipe), run_dir, tokenizer=tokenizer, data_cache=data_cache, device=device, quiet=quiet, **overrides
    )
    click.echo(json.dumps(result))


@train.command("export-mlm")
@click.argument("run_dir")
@click.option("--name", required=True, help="Zoo name for the prior (e.g. mlm-tc-2).")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="best", show_default=True)
@click.option("--card", type=RECIPE, help="JSON facts for the model card; merged into the registry entry.")
@click.option("--replace", is_flag=True, help=HELP["replace"])
@friendly_errors
def export_mlm(run_dir, name, checkpoint, card, replace):
    """Publish a prior run into the zoo as its integer network (int32 safetensors)."""
    api.export_prior(run_dir, name, checkpoint=checkpoint, card=_json(card), replace=replace)
    click.echo(f"registered token prior '{name}' in the zoo")
