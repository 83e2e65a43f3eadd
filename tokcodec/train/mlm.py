"""Train the token prior (entropy mode 1) on a token cache: `tokcodec train mlm`.

Each step draws random crops of latent frames (with the previous latent
frame of the same GOP as context) and hides part of each crop:

- part of the batch (half by default, `coding_masks`) with MaskGIT's cosine
  schedule (mask ratio cos(pi/2 u), u uniform), the loss on every hidden token;
- the rest with the coding schedule itself (`models.mlm.schedule`): a random
  group g is predicted from groups < g, the loss on group g only, so the
  masks the coder meets are trained for directly.

Validation measures what coding would spend: bits per token of the
validation cache under the coding schedule, whole latent frames, never
trained on. The run folder holds `last.pt` (resume by re-running the same
command), `best.pt` (lowest validation bits) and `log.jsonl`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ..models.mlm import MLMConfig, TokenMLM, schedule
from .token_cache import build_token_cache, load_token_cache


@dataclass
class MLMTrainConfig:
    run_dir: str
    tokens: str  # training token cache (train.token_cache)
    val_tokens: str | None = None
    model: MLMConfig = field(default_factory=MLMConfig)
    steps: int = 4000
    batch: int = 16
    crop: int = 24  # tokens; crops are square, grids smaller than this are skipped
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    schedule_steps: int = 4  # the coding schedule validated (and the coding masks trained)
    # the share of each batch trained on the coding schedule's masks, the rest on MaskGIT's random ones:
    # a prior as small as it must be to be fast spends nothing on masks the coder never shows it at 1.0
    coding_masks: float = 0.5
    val_every: int = 500
    ckpt_every: int = 100
    log_every: int = 25
    seed: int = 0
    device: str = "cpu"
    max_minutes: float | None = None
    # a prior run's checkpoint (.pt) whose float weights start a new run (same model sizes): a
    # successor tokenizer's prior need not start from scratch; ignored when the run resumes
    init_from: str | None = None
    # knowledge distillation: a shipped prior (zoo name, for the same tokenizer) as the teacher; the loss is
    # (1 - w) x the tokens' bits + w x the bits against the teacher's distributions (train/distill.py)
    distill_from: str | None = None
    distill_weight: float = 0.5

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MLMTrainConfig":
        d = dict(d)
        model = MLMConfig.from_dict(d.pop("model", {}))
        return cls(model=model, **d)


def prepare_token_caches(
    tokenizer: str, recipe: dict, run_dir: Path, data_cache: str | None, device: str, quiet: bool = False
) -> tuple[Path, Path | None, str]:
    """RUN_DIR/tokens-train.pt and tokens-val.pt for the zoo tokenizer, built unless already there, and
    the tokenizer's weights hash (the trainer refuses caches of other weights). The tokenizer is only
    loaded when a cache has to be built."""
    from ..zoo import get_entry, load_model
    from .data import FrameBank

    digest = get_entry(tokenizer).weights_hash.hex()
    run_dir.mkdir(parents=True, exist_ok=True)
    caches = {
        "train": (run_dir / "tokens-train.pt", recipe["data"], data_cache, (1.0, 0.5)),
        "val": (run_dir / "tokens-val.pt", recipe.get("val_data", []), None, (1.0,)),
    }
    model = None
    for path, sources, frames_cache, scales in caches.values():
        if not sources or path.exists():
            continue
        model = model or load_model(tokenizer, device=device)[0]
        bank = FrameBank.load(sources, max_side=recipe.get("max_side", 640), quiet=quiet, cache=frames_cache)
        build_token_cache(
            model, digest, bank, path, gops_per_video=recipe.get("gops_per_video", 6), scales=scales, quiet=quiet
        )
    val = caches["val"][0]
    return caches["train"][0], val if val.exists() else None, digest


def lr_at(step: int, cfg: MLMTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


class CropSampler:
    """Random (tokens, prev, time) crops from the latent frames of a token cache."""

    def __init__(self, gops: list[torch.Tensor], crop: int, generator: torch.Generator):
        self.frames = [(g, t) for g in gops if min(g.shape[1:]) >= crop for t in range(g.shape[0])]
        if not self.frames:
            raise ValueError(f"no token grid is at least {crop}x{crop}")
        self.crop, self.generator = crop, generator

    def _randint(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        cur, prev, has_prev, times = [], [], [], []
        c = self.crop
        for _ in range(batch):
            gop, t = self.frames[self._randint(len(self.frames))]
            y, x = self._randint(gop.shape[1] - c + 1), self._randint(gop.shape[2] - c + 1)
            cur.append(gop[t, y : y + c, x : x + c])
            prev.append(gop[max(t - 1, 0), y : y + c, x : x + c])
            has_prev.append(t > 0)
            times.append(t)
        return (torch.stack(cur).long(), torch.stack(prev).long(), torch.tensor(has_prev), torch.tensor(times))


def training_masks(
    b: int, h: int, w: int, steps: int, generator: torch.Generator, coding: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """(known, scored) boolean masks (b, h, w): cosine-ratio random masks for the first
    int(b (1 - coding)) of the batch, coding-schedule groups for the rest."""
    known = torch.zeros(b, h, w, dtype=torch.bool)
    scored = torch.zeros(b, h, w, dtype=torch.bool)
    groups = torch.from_numpy(schedule(h, w, steps))
    for i in range(b):
        if i < int(b * (1 - coding)):
            ratio = math.cos(math.pi / 2 * float(torch.rand(1, generator=generator)))
            hidden = torch.rand(h, w, generator=generator) < max(ratio, 1.0 / (h * w))
            known[i], scored[i] = ~hidden, hidden
        else:
            g = int(torch.randint(steps, (1,), generator=generator))
            known[i], scored[i] = groups < g, groups == g
    return known, scored


@torch.no_grad()
def schedule_bits(model: TokenMLM, gop: torch.Tensor, steps: int) -> float:
    """Bits a GOP's tokens (T', h, w) cost under the coding schedule, by the float model."""
    total = 0.0
    device = next(model.parameters()).device
    gop = gop.to(device)
    groups = torch.from_numpy(schedule(gop.shape[1], gop.shape[2], steps)).to(device)
    for t in range(gop.shape[0]):
        cur = gop[t][None].long()
        prev = gop[t - 1][None].long() if t > 0 else None
        for g in range(steps):
            logits = model(cur, (groups < g)[None], prev, t)
            total += float(model.bits(cur, logits, (groups == g)[None]))
    return total


def validate(model: TokenMLM, gops: list[torch.Tensor], steps: int) -> dict:
    model.eval()
    bits = sum(schedule_bits(model, g, steps) for g in gops)
    model.train()
    count = sum(g.numel() for g in gops)
    return {"val_bits_per_token": bits / count, "val_tokens": count}


class MLMTrainer:
    def __init__(self, cfg: MLMTrainConfig, quiet: bool = False):
        self.cfg, self.quiet = cfg, quiet
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cache = load_token_cache(cfg.tokens)
        if cfg.model.tokenizer_sha256 and cache["tokenizer"] != cfg.model.tokenizer_sha256:
            raise ValueError(f"{cfg.tokens} holds tokens of another tokenizer")
        cfg.model.tokenizer_sha256 = cache["tokenizer"]
        self.val = load_token_cache(cfg.val_tokens, cache["tokenizer"])["gops"] if cfg.val_tokens else []
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.sampler = CropSampler(cache["gops"], cfg.crop, self.generator)
        torch.manual_seed(cfg.seed)
        self.model = TokenMLM(cfg.model).to(cfg.device)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98)
        )
        self.step, self.train_seconds, self.best = 0, 0.0, math.inf
        self.teacher = self._teacher(cfg.distill_from) if cfg.distill_from else None
        if (self.run_dir / "last.pt").exists():
            self._resume(self.run_dir / "last.pt")
        elif cfg.init_from:
            if cfg.init_from.endswith(".safetensors"):  # float weights kept beside a card (no optimizer state)
                from safetensors.torch import load_file

                state = {"model": load_file(cfg.init_from), "step": "?"}
            else:
                state = torch.load(cfg.init_from, map_location=cfg.device, weights_only=True)
            self.model.load_state_dict(state["model"])
            if not self.quiet:
                tqdm.write(f"warm start from {cfg.init_from} (step {state['step']} of its run)")

    def _teacher(self, name: str):
        """The float rendering of a shipped prior of the same tokenizer (train/distill.py)."""
        from ..zoo.priors import get_prior, load_prior
        from .distill import FloatPrior

        entry = get_prior(name)
        if entry.config.tokenizer_sha256 != self.cfg.model.tokenizer_sha256:
            raise ValueError(f"prior {name} models another tokenizer's tokens")
        return FloatPrior(entry.config, load_prior(entry).t)

    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.cfg.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.train_seconds = state["step"], state["train_seconds"]
        self.best = state.get("best", math.inf)
        self.generator.set_state(state["generator"])
        if not self.quiet:
            tqdm.write(f"resumed {path} at step {self.step}")

    def _save(self, name: str, **extra) -> None:
        state = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "train_seconds": self.train_seconds,
            "best": self.best,
            "generator": self.generator.get_state(),
            "config": self.cfg.to_dict(),
            **extra,
        }
        tmp = self.run_dir / f".{name}.tmp"
        torch.save(state, tmp)
        tmp.replace(self.run_dir / name)

    def _log(self, record: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def train_step(self) -> dict:
        cfg = self.cfg
        cur, prev, has_prev, times = self.sampler.sample(cfg.batch)
        b, h, w = cur.shape
        known, scored = training_masks(b, h, w, cfg.schedule_steps, self.generator, cfg.coding_masks)
        cur, prev, has_prev, times, known, scored = (
            t.to(cfg.device) for t in (cur, prev, has_prev, times, known, scored)
        )
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        model = self.model
        prev = torch.where(has_prev[:, None, None], prev, -1)  # a GOP's first latent frame has none
        logits = model(cur, known, prev, times)
        bits = model.bits(cur, logits, scored)
        count = max(int(scored.sum()), 1)
        stats = {"bits_per_token": bits.item() / count}
        loss = bits / count
        if self.teacher is not None:
            from .distill import soft_bits

            soft = soft_bits(logits, self.teacher(cur, known, prev, times), scored) / count
            loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
            stats["soft_bits_per_token"] = soft.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        return stats

    def run(self) -> dict:
        cfg = self.cfg
        start = time.monotonic()
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train mlm", unit="step", disable=self.quiet)
        record: dict = {}
        while self.step < cfg.steps:
            t0 = time.perf_counter()
            stats = self.train_step()
            self.step += 1
            self.train_seconds += time.perf_counter() - t0
            bar.update(1)
            if self.step % cfg.log_every == 0:
                record = {"step": self.step, "train_seconds": round(self.train_seconds, 1), **stats}
                self._log(record)
                bar.set_postfix(bits=f"{stats['bits_per_token']:.2f}")
            if self.val and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                metrics = validate(self.model, self.val, cfg.schedule_steps)
                self._log({"step": self.step, "train_seconds": round(self.train_seconds, 1), **metrics})
                if not self.quiet:
                    tqdm.write(f"step {self.step}: validation {metrics['val_bits_per_token']:.3f} bits/token")
                if metrics["val_bits_per_token"] < self.best:
                    self.best = metrics["val_bits_per_token"]
                    self._save("best.pt", metrics=metrics)
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                self._save("last.pt")
            if cfg.max_minutes and time.monotonic() - start > cfg.max_minutes * 60:
                self._save("last.pt")
                break
        bar.close()
        return {"step": self.step, "train_seconds": self.train_seconds, "best_val_bits_per_token": self.best}
