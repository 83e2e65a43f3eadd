"""Recipes to runs, runs to the zoo: `tokcodec train ...`, one call each (tokcodec.api re-exports them).

A recipe is the JSON of tokcodec/zoo/recipes/ as a dict; the caller's overrides (None = keep the
recipe's) are merged here, so the command line, tools/*.sh and Python give the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TokcodecError

# overrides of a tokenizer recipe that are not TrainConfig fields: where they go
_MODEL_OVERRIDES = {"channels"}
_LOSS_OVERRIDES = {"perceptual", "gan"}


def train_tokenizer(
    recipe: dict, run_dir: str | Path, *, device: str = "cpu", quiet: bool = False, **overrides
) -> dict:
    """Train (or resume, from RUN_DIR/last.pt) the tokenizer a recipe describes; returns the run's summary.
    Overrides: any TrainConfig field (steps, batch, data, val_data, ...), `channels` (the model's width),
    `perceptual` and `gan` (loss weights)."""
    from ..models import config_from_dict
    from ..models.tokenizer import TokenizerConfig
    from .losses import LossWeights
    from .tokenizer import Trainer, TrainConfig

    raw = json.loads(json.dumps(recipe))  # a deep copy: the caller's dict stays as it was
    given = {k: v for k, v in overrides.items() if v is not None and v != () and v != []}
    model, weights = raw.pop("model", {}), raw.pop("weights", {})
    model.update({k: v for k, v in given.items() if k in _MODEL_OVERRIDES})
    weights.update({k: v for k, v in given.items() if k in _LOSS_OVERRIDES})
    raw.update(
        {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in given.items()
            if k not in _MODEL_OVERRIDES | _LOSS_OVERRIDES
        }
    )
    if not raw.get("data"):
        raise TokcodecError('no training data: give --data (or "data" in --config)')
    raw.update(run_dir=str(run_dir), device=device)
    unknown = sorted(set(raw) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise TokcodecError(f"recipe: unknown field {unknown[0]!r}")
    if model.get("family", "magvit2") == "magvit2":
        model = {**TokenizerConfig().to_dict(), **model}
    cfg = TrainConfig(model=config_from_dict(model), weights=LossWeights(**weights), **raw)
    return Trainer(cfg, quiet=quiet).run()


def _checkpoint(run_dir: str | Path, which: str) -> dict:
    import torch

    path = Path(run_dir) / f"{which}.pt"
    if not path.exists():
        raise TokcodecError(f"{run_dir}: no checkpoint ({which}.pt) to export")
    return torch.load(path, map_location="cpu", weights_only=True)


def export_tokenizer(
    run_dir: str | Path,
    name: str,
    *,
    checkpoint: str = "last",
    card: dict | None = None,
    make_default=False,
    replace=False,
) -> None:
    """Publish a run's weights (EMA if kept; fp16 safetensors) into the zoo registry as `name`.
    An image-stage run of the magvit2 family is inflated to video first; every zoo model codes video."""
    from ..models import build_tokenizer, config_from_dict
    from ..zoo import register_model
    from .tokenizer import inflate_image_weights

    state = _checkpoint(run_dir, checkpoint)
    config = config_from_dict(state["config"]["model"])
    model = build_tokenizer(config)
    model.load_state_dict(state.get("ema") or state["model"])
    image_stage = state["config"]["frames"] == 1 and config.family == "magvit2"
    if image_stage:
        inflate_image_weights(model)
    card = dict(card or {})
    card.setdefault("steps", state["step"])
    card.setdefault("train_seconds", round(state.get("train_seconds", 0.0)))
    card.setdefault("stage", "image (inflated to video)" if image_stage else "video")
    card.setdefault("train_config", state["config"])
    register_model(name, config, model.state_dict(), card, make_default, replace)


def train_prior(
    recipe: dict,
    run_dir: str | Path,
    *,
    tokenizer: str | None = None,
    data_cache: str | None = None,
    device: str = "cpu",
    quiet: bool = False,
    **overrides,
) -> dict:
    """Train (or resume) the token prior (MLM) of entropy mode 1 for a zoo tokenizer (default: the
    recipe's). Its tokens are computed once into RUN_DIR/tokens-train.pt (and tokens-val.pt); training
    reads only tokens. Overrides: MLMTrainConfig fields (steps, max_minutes, init_from, ...)."""
    from .mlm import MLMTrainConfig, MLMTrainer, prepare_token_caches

    raw = json.loads(json.dumps(recipe))
    name = tokenizer or raw.get("tokenizer", "default")
    train_cache, val_cache, digest = prepare_token_caches(name, raw, Path(run_dir), data_cache, device, quiet)
    raw["model"] = {**raw.get("model", {}), "tokenizer_sha256": digest}
    fields = {k: v for k, v in raw.items() if k in MLMTrainConfig.__dataclass_fields__}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    fields.update(
        run_dir=str(run_dir),
        tokens=str(train_cache),
        val_tokens=str(val_cache) if val_cache else None,
        device=device,
    )
    return MLMTrainer(MLMTrainConfig.from_dict(fields), quiet=quiet).run()


def export_prior(
    run_dir: str | Path, name: str, *, checkpoint: str = "best", card: dict | None = None, replace=False
) -> None:
    """Publish a prior run into the zoo as its integer network (int32 safetensors, SPEC annex B)."""
    from ..models.mlm import MLMConfig, TokenMLM
    from ..models.mlm_int import integer_tensors
    from ..zoo.priors import register_prior

    state = _checkpoint(run_dir, checkpoint)
    config = MLMConfig.from_dict(state["config"]["model"])
    model = TokenMLM(config)
    model.load_state_dict(state["model"])
    card = dict(card or {})
    card.setdefault("steps", state["step"])
    card.setdefault("train_seconds", round(state["train_seconds"]))
    card.setdefault("train_config", state["config"])
    if "metrics" in state:
        card.setdefault("validation", state["metrics"])
    register_prior(name, config, integer_tensors(model), card, replace)
