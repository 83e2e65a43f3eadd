"""The tokenizer training loop: seeded, resumable, same code on CPU and CUDA.

Several processes (`torchrun --nproc_per_node N tokcodec train tokenizer ...`,
on GPUs or CPU cores, one machine or several) train one model with
DistributedDataParallel: each rank draws its own crops, gradients are averaged,
and rank 0 alone logs, validates and writes checkpoints. The effective batch
is N x batch.

A run lives in one folder: `last.pt` (full state: model, optimisers, step,
RNG), `log.jsonl` (one line per logged step and per validation), and
`export/` (fp16 safetensors in the zoo's format). Re-running the same command
resumes from `last.pt`. `init_from` warm-starts a new run from zoo weights or
a checkpoint (fresh optimiser, LR warm-up); starting a video run from an
image-trained model inflates it (see `inflate_image_weights`).

`freeze_encoder` fine-tunes the decoder alone (a new decoder for the same
tokens): the encoder and quantizer never receive gradients, the optimiser, the
weight decay and the EMA see only decoder tensors, so the encoder's weights,
and with them the tokens of every clip, stay bit-identical. Such a run is
judged on validation LPIPS-alex within a PSNR bound of its starting point
(`select`), because in a perceptual run the best-PSNR checkpoint is the
blurry start. `select_data` judges it on other clips than `val_data`: clips
like the product's (fixed cameras, 16:9, a GOP's frames) held out of `data`,
with the PSNR floor and flicker ceiling taken from a reference model's own
decoder on the same clips (`select_reference`), as issue 19's floors are.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models import build_tokenizer
from ..models.causal import CausalConv3d, DepthToSpaceUpsample
from ..precision import bf16_supported
from ..models.tokenizer import Tokenizer, TokenizerConfig
from .data import FrameBank, find_sources
from .losses import (
    CONDITIONED,
    DISCRIMINATORS,
    LeCAM,
    LossWeights,
    colour_loss,
    frames_2d,
    hinge_d_loss,
    lfq_loss,
    temporal_loss,
)


@dataclass
class TrainConfig:
    data: list[str]
    run_dir: str
    val_data: list[str] = field(default_factory=list)
    model: object = field(default_factory=TokenizerConfig)  # any family's config (tokcodec.models)
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
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = none); validated and exported
    bf16: bool = True  # bf16 autocast where the device has it (CUDA, CPUs with AVX512-BF16 / AMX)
    freeze_encoder: bool = False  # decoder-only fine-tuning: the tokens of every clip stay identical
    perceptual_frames: int = 0  # LPIPS-VGG on this many random frames of each clip (0 = all): it is the costly loss
    disc_frames: int = 0  # the discriminator sees a random window of this many consecutive frames (0 = all)
    # "clip3d" (3D convs over the clip), "pairs" (2D over consecutive frame pairs), "pairs-tokens" (pairs,
    # and the tokens each frame decodes from: losses.TokenPairDiscriminator)
    discriminator: str = "clip3d"
    # a .pt checkpoint whose discriminator (and its optimizer state) this run starts from: a stage that
    # continues a GAN-trained decoder keeps the adversary it was balanced against (a fresh one pulled the
    # decoder away from that balance in stages long-e and long-f)
    disc_from: str | None = None
    select: str = "psnr"  # best.pt: "psnr" (highest), or "lpips" (lowest LPIPS-alex within select_psnr_drop)
    select_psnr_drop: float = 1.0  # "lpips": dB below the run's first validation a checkpoint may fall
    select_psnr_min: float | None = None  # "lpips": an absolute floor instead (a run warm-started mid-lineage)
    select_flicker_max: float | None = None  # "lpips": nor may its val_flicker exceed this
    # "lpips" judged on these clips (logged as sel_*) instead of val_data: held out of `data` (checked).
    # Vid4 (moving cameras, dense texture) rewarded decoders the benchmark's fixed-camera clips did not
    select_data: list[str] = field(default_factory=list)
    select_frames: int = 17  # one GOP of the product's default
    select_size: tuple[int, int] = (640, 360)
    # a zoo model validated on select_data at the run's start: its numbers, not the run's first
    # validation, anchor select_psnr_drop and select_flicker_rise
    select_reference: str | None = None
    select_flicker_rise: float | None = None  # "lpips": flicker at most this fraction above the reference's

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
    """Codebook health: share of distinct tokens in the batch, how balanced each bit is, and the
    token entropy (bits) of each 9-bit half of the token, summed: an upper bound the MLM starts from."""
    flat = tokens.flatten()
    on = ((flat[:, None] >> torch.arange(bits, device=flat.device)) & 1).float().mean(0)
    entropy = 0.0
    for shift in range(0, bits, 9):
        p = torch.bincount((flat >> shift) & 511, minlength=512).float() / flat.numel()
        entropy -= float((p * torch.log2(p.clamp_min(1e-12))).sum())
    return {
        "unique_frac": flat.unique().numel() / flat.numel(),
        "bit_balance_min": float(torch.minimum(on, 1 - on).min()),
        "token_entropy": entropy,
    }


def load_val_clips(paths: list[str], max_frames: int, size: tuple[int, int]) -> list[torch.Tensor]:
    """Each clip's first `max_frames` frames (cut to 1 + 4k, the causal grouping) at `size`, in [-1, 1]."""
    from ..io import read_frames

    clips = []
    for path in paths:
        frames, _ = read_frames(path, max_frames=max_frames, size=size)
        n = 1 + (len(frames) - 1) // 4 * 4
        x = torch.from_numpy(np.stack(frames[:n])).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        clips.append(x)
    return clips


@torch.no_grad()
def validate(
    model: Tokenizer, clips: list[torch.Tensor], device: str, dists_frames: int = 3, prefix: str = "val_"
) -> dict:
    """PSNR, LPIPS-alex, flicker (every frame) and DISTS (on `dists_frames` frames spread over each clip:
    the VGG16 at full size is the slow part) of the validation clips, as `prefix`psnr etc."""
    from ..metrics import lpips_video, psnr
    from ..metrics.dists import dists_video
    from ..metrics.flicker import flicker

    model.eval()
    scores: dict[str, list[float]] = {"psnr": [], "lpips_alex": [], "flicker": [], "dists": []}
    for x in clips:
        recon = model.decode(model.encode(x.to(device))).float().cpu()
        a = ((x[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        b = ((recon[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        scores["psnr"].append(psnr(a, b))
        scores["lpips_alex"].append(lpips_video(a, b, net="alex"))
        scores["flicker"].append(flicker(a, b)["flicker"] or 0.0)
        if dists_frames:
            picked = np.linspace(0, len(a) - 1, min(dists_frames, len(a))).round().astype(int)
            scores["dists"].append(dists_video(a[picked], b[picked], device=device))
    model.train()
    return {prefix + k: float(np.mean(v)) for k, v in scores.items() if v}


def validation_sets(cfg: TrainConfig) -> dict[str, list[torch.Tensor]]:
    """The validation clips by metric prefix: val_data ("val_") and select_data ("sel_")."""
    return {
        "val_": load_val_clips(cfg.val_data, cfg.val_frames, cfg.val_size) if cfg.val_data else [],
        "sel_": load_val_clips(cfg.select_data, cfg.select_frames, cfg.select_size) if cfg.select_data else [],
    }


def recipe_validation(path: str | Path) -> TrainConfig:
    """A recipe's validation settings (val_* and select_*) over TrainConfig's defaults, for tools that
    validate decoders as that recipe's run would."""
    recipe = json.loads(Path(path).read_text())
    fields = {k: v for k, v in recipe.items() if k.startswith(("val_", "select_"))}
    return TrainConfig(data=[], run_dir="", **fields)


def _trained_on(data: list[str]) -> set[Path]:
    videos, stills = find_sources(data)
    return {p.resolve() for p in videos + stills}


def init_distributed(device: str) -> tuple[int, int, str]:
    """(rank, world size, device) under torchrun (WORLD_SIZE > 1), else (0, 1, device).

    gloo on the CPU, nccl on CUDA with one GPU per local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    import torch.distributed as dist

    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), world, device


def grown_state(target: dict[str, torch.Tensor], source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`source`'s weights for a model whose layers may be wider (`target`: its fresh state): a grown tensor
    gets the source in its leading slice; of a weight with more inputs, the new input columns start at
    zero, so the new hidden channels (fresh outputs of the layer before) change nothing until trained and
    the grown model computes the source's function (a wider decoder warm-started from a narrower one)."""
    unmatched = sorted(set(target) ^ set(source))
    if unmatched:
        side = "the model" if unmatched[0] in target else "the source"
        raise ValueError(f"warm start: {unmatched[0]} only in {side} ({len(unmatched)} tensors unmatched)")
    out = {}
    for key, value in target.items():
        src = source[key].float()
        if src.shape == value.shape:
            out[key] = src
            continue
        if src.dim() != value.dim() or any(a > b for a, b in zip(src.shape, value.shape)):
            raise ValueError(f"warm start: {key} is {tuple(src.shape)}, the model's {tuple(value.shape)}")
        grown = value.detach().clone()
        if grown.dim() > 1:
            grown[:, src.shape[1] :] = 0
        grown[tuple(slice(0, n) for n in src.shape)] = src
        out[key] = grown
    return out


class Trainer:
    def __init__(self, cfg: TrainConfig, quiet: bool = False):
        self.rank, self.world, self.device = init_distributed(cfg.device)
        self.cfg, self.quiet = cfg, quiet or self.rank > 0
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = build_tokenizer(cfg.model).to(self.device)
        self.ema_model = None
        if cfg.ema > 0:
            self.ema_model = build_tokenizer(cfg.model).to(self.device)
            self.ema_model.load_state_dict(self.model.state_dict())
            self.ema_model.requires_grad_(False)
        if cfg.freeze_encoder:
            if not hasattr(self.model, "token_values"):
                raise ValueError(f"freeze_encoder: the {cfg.model.family} family has no separate decoder input")
            self.model.requires_grad_(False)
            self.model.decoder.requires_grad_(True)
        self.opt = torch.optim.AdamW(
            self.trainable_parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay
        )
        self.disc = self.disc_opt = None
        if cfg.weights.gan > 0:
            if cfg.discriminator in CONDITIONED and not hasattr(self.model, "token_values"):
                raise ValueError(f"discriminator {cfg.discriminator!r} needs a tokenizer family with token_values")
            args = (self.model.config.latent_dim,) if cfg.discriminator in CONDITIONED else ()
            self.disc = DISCRIMINATORS[cfg.discriminator](*args).to(self.device)
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.99))
        self.lecam = LeCAM()
        self.perceptual = None
        if cfg.weights.perceptual > 0:
            from ..metrics.lpips import LPIPS

            self.perceptual = LPIPS("vgg").to(self.device)
        self.step = 0
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.train_seconds = 0.0
        # select="lpips"'s anchor: the reference model's validation (select_reference), else the run's first
        self.reference: dict | None = None
        held = _trained_on(cfg.data) & {Path(p).resolve() for p in cfg.select_data} if cfg.select_data else set()
        if held:
            raise ValueError(f"select_data: {sorted(held)[0]} is also in data (selection needs held-out clips)")
        if cfg.select_reference:
            from ..zoo import get_entry

            get_entry(cfg.select_reference)  # an unknown name fails now, not after the data has loaded
        if cfg.disc_from and self.disc is None:
            raise ValueError("disc_from: this recipe trains no discriminator (weights.gan is 0)")
        if (self.run_dir / "last.pt").exists():
            self._resume(self.run_dir / "last.pt")
        else:
            if cfg.init_from:
                self._warm_start(cfg.init_from)
            if cfg.disc_from:
                state = torch.load(os.path.expanduser(cfg.disc_from), map_location=self.device, weights_only=True)
                self.disc.load_state_dict(state["disc"])
                self.disc_opt.load_state_dict(state["disc_opt"])
        if self.rank > 0:  # each rank its own crops (rank 0 keeps the single-process sequence)
            self.generator.manual_seed(cfg.seed + 1000003 * self.rank + self.step)
        # the module whose forward trains: the decoder alone when the encoder is frozen
        self.forward_model = self.model.decoder if cfg.freeze_encoder else self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(self.forward_model)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    # --- state -------------------------------------------------------------
    def _resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        if self.ema_model is not None:
            self.ema_model.load_state_dict(state.get("ema") or state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None and state.get("disc") is not None:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_opt"])
        self.step = state["step"]
        self.train_seconds = state.get("train_seconds", 0.0)
        self.generator.set_state(state["generator"])
        self.lecam.real_ema, self.lecam.fake_ema = state.get("lecam", (0.0, 0.0))
        self.reference = state.get("reference")
        if self.reference is None and state.get("start_psnr") is not None:  # a checkpoint from before select_data
            self.reference = {"val_psnr": state["start_psnr"]}
        tqdm.write(f"resumed {path} at step {self.step}") if not self.quiet else None

    def _warm_start(self, source: str) -> None:
        if source.endswith(".pt"):
            source = os.path.expanduser(source)
            state = torch.load(source, map_location=self.device, weights_only=True)
            weights = state.get("ema") or state["model"]
            image_trained = state["config"]["frames"] == 1 and state["config"]["model"].get("family") != "patch"
        elif source.endswith(".safetensors"):  # a decoder alone (tools/export_decoder.py) over its base model
            from safetensors import safe_open
            from ..zoo import load_model

            with safe_open(os.path.expanduser(source), "pt") as f:
                meta, decoder = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
            model, entry = load_model(meta["base"], device=self.device)
            if entry.weights_hash.hex() != meta["base_sha256"]:
                raise ValueError(f"{source}: a decoder for other weights than the zoo's '{entry.name}'")
            weights, image_trained = {**model.state_dict(), **decoder}, False
        else:
            from ..zoo import load_model

            model, entry = load_model(source, device=self.device)
            weights, image_trained = model.state_dict(), False  # zoo models are video models (see export)
        self.model.load_state_dict(grown_state(self.model.state_dict(), weights))
        if self.ema_model is not None:
            self.ema_model.load_state_dict(self.model.state_dict())
        if image_trained and self.cfg.frames > 1:
            inflate_image_weights(self.model)
        if not self.quiet:
            tqdm.write(
                f"warm start from {source}" + (" (inflated to video)" if image_trained and self.cfg.frames > 1 else "")
            )

    def save(self) -> None:
        if self.rank > 0:
            return
        state = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "ema": self.ema_model.state_dict() if self.ema_model is not None else None,
            "disc": self.disc.state_dict() if self.disc else None,
            "disc_opt": self.disc_opt.state_dict() if self.disc_opt else None,
            "step": self.step,
            "generator": self.generator.get_state(),
            "lecam": (self.lecam.real_ema, self.lecam.fake_ema),
            "train_seconds": self.train_seconds,
            "reference": self.reference,
            "config": self.cfg.to_dict(),
        }
        tmp = self.run_dir / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.run_dir / "last.pt")

    @property
    def judged(self) -> str:
        """The prefix of the metrics best.pt is chosen on: select_data's where given, else val_data's."""
        return "sel_" if self.cfg.select_data else "val_"

    def better(self, metrics: dict, best: dict) -> bool:
        """Whether validated `metrics` beat the kept `best` under cfg.select."""
        key = self.judged
        if self.cfg.select == "psnr":
            return metrics[key + "psnr"] > best[key + "psnr"]
        if not self.admissible(metrics):
            return False
        return not self.admissible(best) or metrics[key + "lpips_alex"] < best[key + "lpips_alex"]

    def admissible(self, metrics: dict) -> bool:
        """Whether validated `metrics` are within select="lpips"'s PSNR floor and flicker ceilings."""
        cfg, key = self.cfg, self.judged
        reference = self.reference or metrics
        floor = cfg.select_psnr_min
        if floor is None:
            floor = reference[key + "psnr"] - cfg.select_psnr_drop
        flicker = metrics.get(key + "flicker", 0.0)
        return (
            metrics[key + "psnr"] >= floor
            and (cfg.select_flicker_max is None or flicker <= cfg.select_flicker_max)
            and (
                cfg.select_flicker_rise is None or flicker <= reference[key + "flicker"] * (1 + cfg.select_flicker_rise)
            )
        )

    def keep_best(self, metrics: dict) -> None:
        """Keep the best validated weights (cfg.select) as best.pt: the checkpoint a release is chosen from."""
        if self.rank > 0:
            return
        best = self.run_dir / "best.pt"
        if best.exists() and not self.better(metrics, torch.load(best, weights_only=True)["metrics"]):
            return
        state = {
            "model": self.eval_model.state_dict(),
            "step": self.step,
            "train_seconds": self.train_seconds,
            "metrics": metrics,
            "config": self.cfg.to_dict(),
        }
        torch.save(state, self.run_dir / "best.pt.tmp")
        (self.run_dir / "best.pt.tmp").replace(best)

    def log(self, record: dict) -> None:
        if self.rank > 0:
            return
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # --- one step ----------------------------------------------------------
    def autocast(self):
        enabled = self.cfg.bf16 and bf16_supported(self.device)
        return torch.autocast(
            device_type="cuda" if self.device.startswith("cuda") else "cpu", dtype=torch.bfloat16, enabled=enabled
        )

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema_model is None:
            return
        # warm-up: early on the average must not remember the random initialisation for thousands of steps
        decay = min(self.cfg.ema, (1 + self.step) / (10 + self.step))
        # only trained tensors: decay * w + (1 - decay) * w need not round back to w, and a frozen
        # encoder must stay bit-identical
        pairs = [(e, p) for e, p in zip(self.ema_model.parameters(), self.model.parameters()) if p.requires_grad]
        ema, live = [e for e, _ in pairs], [p for _, p in pairs]
        torch._foreach_mul_(ema, decay)
        torch._foreach_add_(ema, live, alpha=1 - decay)

    @property
    def eval_model(self):
        """The weights that are validated and exported: the EMA when there is one."""
        return self.ema_model if self.ema_model is not None else self.model

    def train_step(self, x: torch.Tensor) -> dict:
        w = self.cfg.weights
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, self.cfg)
        recon, lfq, tokens = self.reconstruct(x)
        recon = recon.float()
        rec = w.l1 * (recon - x).abs().mean() + w.l2 * F.mse_loss(recon, x)
        if w.colour:
            rec = rec + w.colour * colour_loss(recon, x)
        if w.temporal:
            rec = rec + w.temporal * temporal_loss(recon, x)
        loss = rec + lfq_loss(lfq, w, self.step)
        stats = {"rec": rec.item()}
        if lfq is not None:  # LFQ's auxiliary terms (FSQ has none)
            stats.update(
                entropy=lfq.per_sample_entropy.item(),
                batch_entropy=lfq.batch_entropy.item(),
                commit=lfq.commitment.item(),
            )
        if self.perceptual is not None:
            picked_recon, picked_x = self.pick_frames(self.cfg.perceptual_frames, recon, x, window=False)
            with self.autocast():
                p = self.perceptual(frames_2d(picked_recon), frames_2d(picked_x)).mean()
            loss = loss + w.perceptual * p.float()
            stats["lpips_vgg"] = p.item()
        use_gan = self.disc is not None and self.step >= w.gan_start
        if use_gan:
            # one window for both passes, so D judges the very frames G was pushed on
            clips = (recon, x) + ((self.frame_latents(tokens),) if self.cfg.discriminator in CONDITIONED else ())
            recon_w, x_w, *latent_w = self.pick_frames(self.cfg.disc_frames, *clips, window=True)
            with self.autocast():
                g = -self.disc(recon_w, *latent_w).mean()
            loss = loss + w.gan * g.float()
            stats["g"] = g.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable_parameters(), 1.0)
        self.opt.step()
        self.update_ema()
        if use_gan:
            with self.autocast():
                real, fake = self.disc(x_w, *latent_w), self.disc(recon_w.detach(), *latent_w)
            d = hinge_d_loss(real.float(), fake.float()) + w.lecam * self.lecam(real.float(), fake.float())
            self.disc_opt.zero_grad(set_to_none=True)
            d.backward()
            self.disc_opt.step()
            stats["d"] = d.item()
        mse = F.mse_loss(recon.detach().clamp(-1, 1), x).item()
        stats["psnr"] = 10 * math.log10(4.0 / max(mse, 1e-10))
        stats.update(codebook_stats(tokens, self.cfg.model.token_bits))
        return stats

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, object, torch.Tensor]:
        """(recon, quantizer loss or None, tokens) of a (B, 3, T, H, W) batch."""
        if not self.cfg.freeze_encoder:
            with self.autocast():
                return self.forward_model(x)
        with torch.no_grad():
            tokens = self.model.encode(x)
        with self.autocast():
            frames, _ = self.forward_model(self.model.token_values(tokens), None)
        return frames.transpose(1, 2), None, tokens

    def pick_frames(self, n: int, *clips: torch.Tensor, window: bool) -> tuple[torch.Tensor, ...]:
        """The same n frames of each (B, C, T, H, W) clip: n random frames, or a random window of n
        consecutive ones (`window`); all frames when n is 0 or covers the clip."""
        t = clips[0].shape[2]
        if n <= 0 or n >= t:
            return clips
        if window:
            start = int(torch.randint(0, t - n + 1, (1,), generator=self.generator))
            idx = torch.arange(start, start + n)
        else:
            idx = torch.randperm(t, generator=self.generator)[:n].sort().values
        idx = idx.to(clips[0].device)
        return tuple(c.index_select(2, idx) for c in clips)

    def frame_latents(self, tokens: torch.Tensor) -> torch.Tensor:
        """The decoder's input each frame is drawn from, (B, C, T, h, w): latent frame 0 gives frame 0,
        latent k >= 1 frames s(k-1)+1 to sk, s the temporal stride (the causal grouping)."""
        values = self.model.token_values(tokens)  # (B, T', C, h, w)
        stride = self.model.config.temporal_stride
        which = (torch.arange(1 + stride * (values.shape[1] - 1), device=values.device) + stride - 1) // stride
        return values.index_select(1, which).transpose(1, 2)

    # --- the loop ------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        bank = FrameBank.load(cfg.data, max_side=cfg.max_side, quiet=self.quiet, cache=cfg.data_cache)
        if self.device.startswith("cuda"):
            bank = bank.to(self.device)  # keep the data next to the model
        clips = validation_sets(cfg)
        validating = self.rank == 0 and any(clips.values())
        if validating and self.reference is None and cfg.select != "psnr":
            start = self.validation(self.eval_model, clips)  # the curve's first point, and the default anchor
            self.log({"step": self.step, "hours": self.train_seconds / 3600, **start})
            self.reference = start
            if cfg.select_reference:
                from ..zoo import load_model

                reference = self.validation(load_model(cfg.select_reference, device=self.device)[0], clips)
                self.log(
                    {
                        "step": self.step,
                        "reference": cfg.select_reference,
                        **{"ref_" + k: v for k, v in reference.items()},
                    }
                )
                self.reference = reference
            self.keep_best(start)
        self.model.train()
        start_step, start_time = self.step, time.time()
        last = {}
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train tokenizer", disable=self.quiet)
        while self.step < cfg.steps:
            if self.time_to_stop(start_step, start_time):
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
            if validating and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                last = self.validation(self.eval_model, clips)
                self.log({"step": self.step, "hours": self.train_seconds / 3600, **last})
                self.keep_best(last)
                tqdm.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
            if self.step % cfg.ckpt_every == 0:
                self.save()
        bar.close()
        self.save()
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        return {"step": self.step, "train_seconds": self.train_seconds, **last}

    def validation(self, model: Tokenizer, clips: dict[str, list[torch.Tensor]]) -> dict:
        """`validate` on each set of `validation_sets`, its metrics under the set's prefix."""
        metrics = {}
        for prefix, some in clips.items():
            if some:
                metrics.update(validate(model, some, self.device, prefix=prefix))
        return metrics

    def time_to_stop(self, start_step: int, start_time: float) -> bool:
        """--max-steps-this-run / --max-minutes; under torchrun rank 0 decides for all, so no rank waits forever."""
        cfg = self.cfg
        stop = (cfg.max_steps_this_run is not None and self.step - start_step >= cfg.max_steps_this_run) or (
            cfg.max_minutes is not None and time.time() - start_time > cfg.max_minutes * 60
        )
        if self.world > 1:
            import torch.distributed as dist

            flag = torch.tensor([float(stop)], device=self.device)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        return stop
