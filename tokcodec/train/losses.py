"""Tokenizer training losses: reconstruction, perceptual, LFQ, and GAN with LeCAM.

The perceptual loss uses LPIPS-VGG while evaluation reports LPIPS-AlexNet,
so the reported metric is not the one optimised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.lfq import LFQLoss


@dataclass
class LossWeights:
    l1: float = 1.0
    l2: float = 0.0
    colour: float = 0.0  # L1 on each frame's mean colour: per-pixel L1 (a median) leaves casts
    perceptual: float = 0.0  # LPIPS-VGG; expensive on a CPU
    entropy: float = 0.1  # final weight; starts at 3x and decays linearly over entropy_anneal_steps
    entropy_anneal_steps: int = 2000
    commitment: float = 0.25
    gan: float = 0.0  # 0 disables the discriminator
    lecam: float = 0.001
    gan_start: int = 0  # the discriminator joins after this many steps
    temporal: float = 0.0  # L1 on the frame-to-frame change of the error: the flicker figure as a loss

    def entropy_at(self, step: int) -> float:
        remaining = max(0.0, 1.0 - step / max(self.entropy_anneal_steps, 1))
        return self.entropy * (1.0 + 2.0 * remaining)


def lfq_loss(loss: LFQLoss | None, weights: LossWeights, step: int) -> torch.Tensor | float:
    if loss is None:  # a quantizer without auxiliary losses (FSQ)
        return 0.0
    entropy = loss.per_sample_entropy - loss.batch_entropy
    return weights.entropy_at(step) * entropy + weights.commitment * loss.commitment


def temporal_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 of the frame-to-frame change of the error of (B, C, T, H, W) videos: detail a decoder invents
    afresh in every frame changes where the source does not (tokcodec.metrics.flicker, on RGB)."""
    error = recon - x
    return (error[:, :, 1:] - error[:, :, :-1]).abs().mean()


def colour_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between the per-frame, per-channel means of (B, C, T, H, W) videos."""
    return (recon.mean(dim=(3, 4)) - x.mean(dim=(3, 4))).abs().mean()


def frames_2d(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W) for per-frame image losses."""
    return x.transpose(1, 2).flatten(0, 1)


class BlurPool3d(nn.Module):
    """Anti-aliased 2x downsampling in space and time ([1, 2, 1] blur, then stride 2)."""

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        k = k[:, None, None] * k[None, :, None] * k[None, None, :]
        self.register_buffer("kernel", (k / k.sum()).expand(channels, 1, 3, 3, 3).contiguous())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = (2 if x.shape[2] > 1 else 1, 2, 2)
        x = F.pad(x, (1, 1, 1, 1, 1, 1), mode="replicate")
        return F.conv3d(x, self.kernel, stride=stride, groups=self.channels)


class Discriminator(nn.Module):
    """A small 3D conv discriminator with blur pooling (not inflated, trained from scratch)."""

    def __init__(self, channels: int = 32, levels: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv3d(3, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        ch = channels
        for _ in range(levels):
            layers += [nn.Conv3d(ch, ch * 2, 3, padding=1), nn.LeakyReLU(0.2), BlurPool3d(ch * 2)]
            ch *= 2
        layers += [nn.Conv3d(ch, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def pair_features(channels: int, levels: int) -> tuple[list[nn.Module], int]:
    """The pair discriminators' strided 4x4 layers over a frame pair (6 channels), each halving the size
    and doubling the width: the layers and their output width."""
    layers: list[nn.Module] = []
    cin, ch = 6, channels
    for _ in range(levels):
        layers += [nn.Conv2d(cin, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        cin, ch = ch, ch * 2
    return layers, cin


class PairDiscriminator(nn.Module):
    """A 2D PatchGAN over consecutive frame pairs (frame t-1 and t stacked in channels).

    Seeing pairs, it can tell invented texture that changes from frame to
    frame (flicker) from real texture that moves; strided 4x4 convs from the
    first layer keep it near 5k multiply-adds per pixel, about 1/30 of the 3D
    discriminator above. Input (B, 3, T, H, W), T >= 2; output one map per pair.
    """

    def __init__(self, channels: int = 32, levels: int = 3):
        super().__init__()
        layers, cout = pair_features(channels, levels)
        layers += [nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(cout, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat([x[:, :, :-1], x[:, :, 1:]], 1)  # (B, 6, T-1, H, W)
        return self.net(frames_2d(pairs))


class TokenPairDiscriminator(nn.Module):
    """PairDiscriminator's PatchGAN that also sees the tokens (HiFiC's conditional discriminator).

    The quantized latent of the later frame of each pair (the decoder's input, at 1/8 resolution,
    where the strided layers arrive) joins the features before the last two convs. Unconditioned,
    D only asks "is this texture real?", and any plausible texture passes; conditioned, it asks "is
    this real texture for these tokens?", so the decoder is pushed toward detail the tokens imply.
    Input: frames (B, 3, T, H, W) and the latent each frame decodes from, (B, C, T, H/8, W/8).
    """

    def __init__(self, latent_dim: int, channels: int = 32, levels: int = 3):
        super().__init__()
        layers, cout = pair_features(channels, levels)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(cout + latent_dim, cout, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(cout, 1, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat([x[:, :, :-1], x[:, :, 1:]], 1)  # (B, 6, T-1, H, W)
        h = self.features(frames_2d(pairs))
        return self.head(torch.cat([h, frames_2d(latent[:, :, 1:]).to(h.dtype)], 1))


DISCRIMINATORS = {"clip3d": Discriminator, "pairs": PairDiscriminator, "pairs-tokens": TokenPairDiscriminator}
CONDITIONED = {"pairs-tokens"}  # these take (frames, the latent of each frame) and are built with latent_dim


class LeCAM:
    """LeCAM regularisation (Tseng et al. 2021): keeps D's outputs near EMAs of each other."""

    def __init__(self, decay: float = 0.999):
        self.decay = decay
        self.real_ema = 0.0
        self.fake_ema = 0.0

    def __call__(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        self.real_ema = self.decay * self.real_ema + (1 - self.decay) * real.mean().item()
        self.fake_ema = self.decay * self.fake_ema + (1 - self.decay) * fake.mean().item()
        return F.relu(real - self.fake_ema).pow(2).mean() + F.relu(self.real_ema - fake).pow(2).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
