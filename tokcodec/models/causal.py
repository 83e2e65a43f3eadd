"""Causal 3D building blocks of the MAGVIT-v2 tokenizer.

Every block here keeps one promise: output frame t depends only on input
frames <= t. That is what lets a single image be a 1-frame video and a long
video be coded GOP by GOP. Tensors are (B, C, T, H, W).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _frames_as_batch(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, C, T, H, W) -> (B*T, C, H, W), so 2D ops never mix frames."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w), t


def _batch_as_frames(x: torch.Tensor, t: int) -> torch.Tensor:
    bt, c, h, w = x.shape
    return x.reshape(bt // t, t, c, h, w).transpose(1, 2)


class CausalConv3d(nn.Module):
    """3D conv that pads kt-1 zero frames in front and none behind.

    With zero padding, a 1-frame input only meets the temporally last kernel
    slice, so it is computed as a 2D conv with that slice: the same numbers
    (up to float summation order), a third of the work for image training.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        self.time_pad = kernel - 1
        self.space_pad = kernel // 2
        self.stride = stride  # (temporal, spatial)
        self.conv = nn.Conv3d(in_ch, out_ch, kernel, stride=(stride[0], stride[1], stride[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] == 1:
            return self._single_frame(x)
        p = self.space_pad
        x = F.pad(x, (p, p, p, p, self.time_pad, 0))
        return self.conv(x)

    def _single_frame(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(
            x[:, :, 0], self.conv.weight[:, :, -1], self.conv.bias, stride=self.stride[1], padding=self.space_pad
        )
        return y.unsqueeze(2)


def default_groups(channels: int) -> int:
    """At least 4 channels a group: one channel a group is InstanceNorm, which
    strips each channel's mean and contrast per frame (colour casts, brightness)
    and measurably slowed a narrow tokenizer's learning of colour."""
    return max(1, min(32, channels // 4))


class FrameGroupNorm(nn.Module):
    """GroupNorm with statistics per frame; pooling over T would break causality."""

    def __init__(self, channels: int, groups: int | None = None, affine: bool = True):
        super().__init__()
        self.norm = nn.GroupNorm(groups or default_groups(channels), channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, t = _frames_as_batch(x)
        return _batch_as_frames(self.norm(y), t)


def latent_for_frames(z: torch.Tensor, frames: int) -> torch.Tensor:
    """Repeat latent frames so each decoder frame sees the latent that codes it.

    With temporal stride s, latent 0 codes frame 0 and latent k codes frames
    s(k-1)+1 .. sk, so frame j reads latent ceil(j / s): never a later one.
    """
    latents = z.shape[2]
    if latents == frames:
        return z
    stride = (frames - 1) // max(latents - 1, 1)
    index = (torch.arange(frames, device=z.device) + stride - 1) // stride
    return z.index_select(2, index)


class AdaptiveGroupNorm(nn.Module):
    """Per-frame GroupNorm whose scale and shift come from the quantized latent."""

    def __init__(self, channels: int, latent_ch: int, groups: int | None = None):
        super().__init__()
        self.norm = FrameGroupNorm(channels, groups, affine=False)
        self.scale = nn.Conv3d(latent_ch, channels, 1)
        self.shift = nn.Conv3d(latent_ch, channels, 1)
        nn.init.zeros_(self.scale.weight)
        nn.init.ones_(self.scale.bias)
        nn.init.zeros_(self.shift.weight)
        nn.init.zeros_(self.shift.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        z = latent_for_frames(z, x.shape[2])
        z = F.interpolate(z, size=x.shape[2:], mode="nearest")
        return self.norm(x) * self.scale(z) + self.shift(z)


class ResBlock3d(nn.Module):
    """norm -> SiLU -> causal conv, twice, plus a (1x1 projected) skip."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.norm1 = FrameGroupNorm(in_ch)
        self.conv1 = CausalConv3d(in_ch, out_ch)
        self.norm2 = FrameGroupNorm(out_ch)
        self.conv2 = CausalConv3d(out_ch, out_ch)
        self.skip = nn.Conv3d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided causal conv: 2x in space, and 2x in time when `temporal`.

    In time, 1 + 2t frames become 1 + t: the first frame stays on its own.
    """

    def __init__(self, channels: int, temporal: bool):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, stride=(2 if temporal else 1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DepthToSpaceUpsample(nn.Module):
    """Conv to s_t*4 times the channels, then pixel-shuffle in time and space.

    In time, 1 + t frames become s_t + s_t*t; dropping the first s_t - 1
    leaves 1 + s_t*t, undoing Downsample.
    """

    def __init__(self, in_ch: int, out_ch: int, temporal: bool):
        super().__init__()
        self.t_factor = 2 if temporal else 1
        self.out_ch = out_ch
        self.conv = CausalConv3d(in_ch, out_ch * self.t_factor * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        b, _, t, hh, ww = h.shape
        s = self.t_factor
        h = h.reshape(b, self.out_ch, s, 2, 2, t, hh, ww)
        h = h.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, self.out_ch, t * s, hh * 2, ww * 2)
        return h[:, :, s - 1 :]
