"""The tokenizer training loop: seeded, resumable, same code on CPU and CUDA.

A run lives in one folder: `last.pt` (full state: model, optimisers, step,
RNG), `log.jsonl` (one line per logged step and per validation), and
`export/` (fp16 safetensors in the zoo's format). Re-running the same command
resumes from `last.pt`. `init_from` warm-starts a new run from zoo weights or
a checkpoint (fresh optimiser, LR warm-up); starting a video run from an
image-trained model inflates it (see `inflate_image_weights`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.causal import CausalConv3d, DepthToSpaceUpsample
from ..models.tokenizer import Tokenizer, TokenizerConfig
from .data import FrameBank
from .losses import Discriminator, LeCAM, LossWeights, frames_2d, hinge_d_loss, lfq_loss


@dataclass
class TrainConfig:
    data: list[str]
    run_dir: str
    val_data: list[str] = field(default_factory=list)
    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    steps: int = 10000
    batch: int = 8
    frames: int = 17  # 1 = image pre-training
    crop: int = 128
    lr: float = 2e-4
    warmup: int = 500
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "cpu"
    init_from: str | None = None  # zoo model name or .pt checkpoint
    log_every: int = 25
    val_every: int = 500
    ckpt_every: int = 250
    val_frames: int = 17
    val_size: tuple[int, int] = (320, 176)  # (W, H), multiples of the spatial stride
    max_side: int = 640  # training sources are downscaled to this longer side
    data_cache: str | None = None  # keep the decoded frames here (a .pt file) for the next run
    max_steps_this_run: int | None = None  # stop early (e.g. a 10-minute GPU slot) and resume later
    max_minutes: float | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d


def inflate_image_weights(model: Tokenizer) -> None:
    """MAGVIT-v2 inflation of an image-trained tokenizer to video.

    Each causal 3D kernel keeps its temporally last slice (the 2D kernel that
    image training learnt) and its earlier slices are zeroed. Image training
    only ever kept the last of the sub-frames a temporal depth-to-space
    produces, so the other sub-frames' channels are copied from it: the
    inflated model starts by holding each coded frame over its group.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, CausalConv3d) and module.conv.weight.shape[2] > 1:
                module.conv.weight[:, :, :-1].zero_()
            if isinstance(module, DepthToSpaceUpsample) and module.t_factor > 1:
                conv = module.conv.conv
                # output channels are laid out (out_ch, s, 2, 2): see DepthToSpaceUpsample.forward
                w = conv.weight.view(module.out_ch, module.t_factor, 4, *conv.weight.shape[1:])
                b = conv.bias.view(module.out_ch, module.t_factor, 4)
                w[:, :-1] = w[:, -1:].clone()
                b[:, :-1] = b[:, -1:].clone()


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def codebook_stats(tokens: torch.Tensor, bits: int) -> dict:
    """Codebook health: share of distinct tokens in the batch and how balanced each bit is."""
    flat = tokens.flatten()
    on = ((flat[:, None] >> torch.arange(bits, device=flat.device)) & 1).float().mean(0)
    return {"unique_frac": flat.unique().numel() / flat.numel(),
            "bit_balance_min": float(torch.minimum(on, 1 - on).min())}


def load_val_clips(paths: list[str], cfg: TrainConfig) -> list[torch.Tensor]:
    from ..io import read_frames
    clips = []
    for path in paths:
        frames, _ = read_frames(path, max_frames=cfg.val_frames, size=cfg.val_size)
        n = 1 + (len(frames) - 1) // 4 * 4
        x = torch.from_numpy(np.stack(frames[:n])).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        clips.append(x)
    return clips


@torch.no_grad()
def validate(model: Tokenizer, clips: list[torch.Tensor], device: str) -> dict:
    from ..metrics import lpips_video, psnr
    model.eval()
    psnrs, lpipss = [], []
    for x in clips:
        recon = model.decode(model.encode(x.to(device))).float().cpu()
        a = ((x[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        b = ((recon[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        psnrs.append(psnr(a, b))
        lpipss.append(lpips_video(a, b, net="alex"))
    model.train()
    return {"val_psnr": float(np.mean(psnrs)), "val_lpips_alex": float(np.mean(lpipss))}


class Trainer:
    def __init__(self, cfg: TrainConfig, quiet: bool = False):
        self.cfg, self.quiet = cfg, quiet
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.device = cfg.device
        self.model = Tokenizer(cfg.model).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                                     weight_decay=cfg.weight_decay)
        self.disc = self.disc_opt = None
        if cfg.weights.gan > 0:
            self.disc = Discriminator().to(self.device)
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.99))
        self.lecam = LeCAM()
        self.perceptual = None
        if cfg.weights.perceptual > 0:
            from ..metrics.lpips import LPIPS
            self.perceptual = LPIPS("vgg").to(self.device)
        self.step = 0
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.train_seconds = 0.0
        if (self.run_dir / "last.pt").exists():
            self._resume(self.run_dir / "last.pt")
        elif cfg.init_from:
            self._warm_start(cfg.init_from)

    # --- state -------------------------------------------------------------
    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None and state.get("disc") is not None:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_opt"])
        self.step = state["step"]
        self.train_seconds = state.get("train_seconds", 0.0)
        self.generator.set_state(state["generator"])
        self.lecam.real_ema, self.lecam.fake_ema = state.get("lecam", (0.0, 0.0))
        tqdm.write(f"resumed {path} at step {self.step}") if not self.quiet else None

    def _warm_start(self, source: str) -> None:
        if source.endswith(".pt"):
            state = torch.load(source, map_location=self.device, weights_only=False)
            weights, image_trained = state["model"], state["config"]["frames"] == 1
        else:
            from ..zoo import load_model
            model, entry = load_model(source, device=self.device)
            weights, image_trained = model.state_dict(), False  # zoo models are video models (see export)
        self.model.load_state_dict({k: v.float() for k, v in weights.items()})
        if image_trained and self.cfg.frames > 1:
            inflate_image_weights(self.model)
        if not self.quiet:
            tqdm.write(f"warm start from {source}" + (" (inflated to video)" if image_trained and self.cfg.frames > 1 else ""))

    def save(self) -> None:
        state = {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                 "disc": self.disc.state_dict() if self.disc else None,
                 "disc_opt": self.disc_opt.state_dict() if self.disc_opt else None,
                 "step": self.step, "generator": self.generator.get_state(),
                 "lecam": (self.lecam.real_ema, self.lecam.fake_ema),
                 "train_seconds": self.train_seconds, "config": self.cfg.to_dict()}
        tmp = self.run_dir / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.run_dir / "last.pt")

    def log(self, record: dict) -> None:
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # --- one step ----------------------------------------------------------
    def autocast(self):
        enabled = self.device.startswith("cuda")
        return torch.autocast(device_type="cuda" if enabled else "cpu", dtype=torch.bfloat16, enabled=enabled)

    def train_step(self, x: torch.Tensor) -> dict:
        w = self.cfg.weights
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, self.cfg)
        with self.autocast():
            recon, lfq, tokens = self.model(x)
        recon = recon.float()
        rec = w.l1 * (recon - x).abs().mean() + w.l2 * F.mse_loss(recon, x)
        loss = rec + lfq_loss(lfq, w, self.step)
        stats = {"rec": rec.item(), "entropy": lfq.per_sample_entropy.item(),
                 "batch_entropy": lfq.batch_entropy.item(), "commit": lfq.commitment.item()}
        if self.perceptual is not None:
            with self.autocast():
                p = self.perceptual(frames_2d(recon), frames_2d(x)).mean()
            loss = loss + w.perceptual * p.float()
            stats["lpips_vgg"] = p.item()
        use_gan = self.disc is not None and self.step >= w.gan_start
        if use_gan:
            with self.autocast():
                g = -self.disc(recon).mean()
            loss = loss + w.gan * g.float()
            stats["g"] = g.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        if use_gan:
            with self.autocast():
                real, fake = self.disc(x), self.disc(recon.detach())
            d = hinge_d_loss(real.float(), fake.float()) + w.lecam * self.lecam(real.float(), fake.float())
            self.disc_opt.zero_grad(set_to_none=True)
            d.backward()
            self.disc_opt.step()
            stats["d"] = d.item()
        mse = F.mse_loss(recon.detach().clamp(-1, 1), x).item()
        stats["psnr"] = 10 * math.log10(4.0 / max(mse, 1e-10))
        stats.update(codebook_stats(tokens, self.cfg.model.token_bits))
        return stats

    # --- the loop ------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        bank = FrameBank.load(cfg.data, max_side=cfg.max_side, quiet=self.quiet, cache=cfg.data_cache)
        if self.device.startswith("cuda"):
            bank = bank.to(self.device)  # keep the data next to the model
        val_clips = load_val_clips(cfg.val_data, cfg) if cfg.val_data else []
        self.model.train()
        start_step, start_time = self.step, time.time()
        last = {}
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train tokenizer", disable=self.quiet)
        while self.step < cfg.steps:
            if cfg.max_steps_this_run is not None and self.step - start_step >= cfg.max_steps_this_run:
                break
            if cfg.max_minutes is not None and time.time() - start_time > cfg.max_minutes * 60:
                break
            t0 = time.time()
            x = bank.sample(cfg.batch, cfg.frames, cfg.crop, self.generator).to(self.device)
            stats = self.train_step(x)
            self.train_seconds += time.time() - t0
            self.step += 1
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                bar.set_postfix(psnr=f"{stats['psnr']:.2f}", uniq=f"{stats['unique_frac']:.2f}")
                self.log({"step": self.step, "lr": lr_at(self.step, cfg), **stats})
            if val_clips and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                last = validate(self.model, val_clips, self.device)
                self.log({"step": self.step, **last})
                tqdm.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
            if self.step % cfg.ckpt_every == 0:
                self.save()
        bar.close()
        self.save()
        return {"step": self.step, "train_seconds": self.train_seconds, **last}
