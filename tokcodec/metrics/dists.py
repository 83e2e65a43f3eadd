"""DISTS (Ding, Ma, Wang, Simoncelli, "Image Quality Assessment: Unifying Structure and
Texture Similarity", TPAMI 2020): a full-reference distance that tolerates resampled texture.

The ImageNet VGG16 of LPIPS-VGG (the same torchvision weights, shipped and
verified in `weights/`), with every max-pool replaced by an L2 pool (a 3x3
Hann window over squared features, stride 2). For the input and each of the
five stages, per channel: a texture term from the spatial means and a
structure term from the variances and covariance; the channels' learnt
weights alpha, beta (`dists_alpha_beta.safetensors`, from the authors'
DISTS-pytorch 0.1 package, MIT: `LICENSE-dists.txt`) sum them.
0 for identical images, higher is worse.

It shares its features with the LPIPS-VGG training loss, so on a model trained
with that loss it is supporting evidence only; LPIPS-alex is the judge.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tokcodec.metrics.lpips import WEIGHTS_DIR, _vgg16_stages, load_verified_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STABILITY = 1e-6  # c1 = c2 of the paper


class L2Pool(nn.Module):
    """sqrt of a Hann-weighted (1/4, 1/2, 1/4)^2 average of squared features, stride 2, padding 1."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([0.5, 1.0, 0.5])
        kernel = taps[:, None] * taps[None, :]
        self.register_buffer("kernel", (kernel / kernel.sum()).expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTS(nn.Module):
    """DISTS between two batches of RGB images in [-1, 1], (B, 3, H, W) -> (B,)."""

    def __init__(self):
        super().__init__()
        stages = _vgg16_stages()
        for stage in stages:  # max pools become L2 pools over the channels they receive
            for i, layer in enumerate(stage):
                if isinstance(layer, nn.MaxPool2d):
                    stage[i] = L2Pool(stage[i + 1].in_channels)
        self.stages = nn.ModuleList(stages)
        vgg = load_verified_weights("vgg")
        self.stages.load_state_dict(
            {k[len("backbone.stages.") :]: v for k, v in vgg.items() if k.startswith("backbone.stages.")}
        )
        weights = load_verified_weights("dists", WEIGHTS_DIR, stem="dists_alpha_beta")
        total = weights["alpha"].sum() + weights["beta"].sum()
        self.channels = [3] + [[m for m in s if isinstance(m, nn.Conv2d)][-1].out_channels for s in stages]
        self.register_buffer("alpha", weights["alpha"] / total, persistent=False)
        self.register_buffer("beta", weights["beta"] / total, persistent=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input in [0, 1] and the five stages' outputs (relu1_2 .. relu5_3)."""
        x01 = (x + 1) / 2
        h = (x01 - self.mean) / self.std
        feats = [x01]
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        texture = structure = 0.0
        alphas = torch.split(self.alpha, self.channels)
        betas = torch.split(self.beta, self.channels)
        for fx, fy, alpha, beta in zip(self.features(x), self.features(y), alphas, betas):
            mx, my = fx.mean((2, 3)), fy.mean((2, 3))
            vx = (fx - mx[..., None, None]).pow(2).mean((2, 3))
            vy = (fy - my[..., None, None]).pow(2).mean((2, 3))
            cov = (fx * fy).mean((2, 3)) - mx * my
            texture = texture + ((2 * mx * my + STABILITY) / (mx**2 + my**2 + STABILITY) * alpha).sum(1)
            structure = structure + ((2 * cov + STABILITY) / (vx + vy + STABILITY) * beta).sum(1)
        return 1 - (texture + structure)


@functools.lru_cache(maxsize=None)
def get_dists(device: str = "cpu") -> DISTS:
    return DISTS().to(device)


def dists_video(a: np.ndarray, b: np.ndarray, device: str = "cpu", batch: int = 4) -> float:
    """Mean over frames of per-frame DISTS between uint8 RGB (T, H, W, 3) arrays."""
    from tokcodec.metrics.lpips import _frames_to_batch

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"expected two equal (T, H, W, 3) arrays, got {a.shape} and {b.shape}")
    model = get_dists(str(torch.device(device)))
    out = []
    with torch.inference_mode():
        for i in range(0, len(a), batch):
            out.append(model(_frames_to_batch(a[i : i + batch], device), _frames_to_batch(b[i : i + batch], device)))
    return float(torch.cat(out).double().mean())
