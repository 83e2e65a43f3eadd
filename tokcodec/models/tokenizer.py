"""The causal MAGVIT-v2 video tokenizer: encoder -> per-frame norm -> LFQ -> decoder.

A clip of 1 + s*k frames (s = temporal stride) at H x W (multiples of the
spatial stride) becomes (1 + k) x H/8 x W/8 tokens of `token_bits` bits.
The first frame is coded on its own, so an image is a 1-frame video.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .causal import AdaptiveGroupNorm, CausalConv3d, DepthToSpaceUpsample, Downsample, FrameGroupNorm, ResBlock3d
from .lfq import LFQ, LFQLoss, indices_to_bits
from ..precision import network


# Peak memory of coding one GOP, in full-resolution first-level activations x frames x pixels:
# measured for tc-small-1 on the CPU, 6.1 (encode) and 8.4 (decode) at 320x176 x 17 frames,
# 8.2 (decode, 17.3 GB) at 960x544 x 33 frames.
PEAK_ACTIVATIONS = 8.5


@dataclass(frozen=True)
class TokenizerConfig:
    channels: int = 64  # width of the first level
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)  # one level per entry; len - 1 spatial 2x downsamples
    res_blocks: int = 1  # residual blocks per level (decoder gets one more, as in the paper)
    temporal_downsample: tuple[bool, ...] = (False, True, True)  # per downsample; deferred to the last ones
    token_bits: int = 18
    family = "magvit2"

    @property
    def spatial_stride(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.temporal_downsample)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid of a GOP of `frames` frames (padded to 1 + s*k) at height x width (padded to the stride)."""
        s, ss = self.temporal_stride, self.spatial_stride
        return 1 + math.ceil((frames - 1) / s), math.ceil(height / ss), math.ceil(width / ss)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        d = dict(d)
        for key in ("channel_mults", "temporal_downsample"):
            d[key] = tuple(d[key])
        return cls(**d)


class CausalEncoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mults]
        self.conv_in = CausalConv3d(3, widths[0])
        blocks: list[nn.Module] = []
        in_ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(cfg.res_blocks):
                blocks.append(ResBlock3d(in_ch, width))
                in_ch = width
            if level < len(widths) - 1:
                blocks.append(Downsample(in_ch, cfg.temporal_downsample[level]))
        self.blocks = nn.Sequential(*blocks, ResBlock3d(in_ch, in_ch))
        self.norm_out = FrameGroupNorm(in_ch)
        self.conv_out = nn.Conv3d(in_ch, cfg.token_bits, 1)
        # A GroupNorm without affine right before LFQ: the first author's advice,
        # it keeps the latents centred on the sign boundary at unit scale.
        self.pre_quant_norm = FrameGroupNorm(cfg.token_bits, groups=1, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.conv_in(x))
        return self.pre_quant_norm(self.conv_out(F.silu(self.norm_out(h))))


class DecoderLevel(nn.Module):
    """Adaptive norm conditioned on the tokens, residual blocks, then (maybe) upsample."""

    def __init__(self, in_ch: int, out_ch: int, blocks: int, latent_ch: int, upsample: bool | None):
        super().__init__()
        self.ada_norm = AdaptiveGroupNorm(in_ch, latent_ch)
        self.blocks = nn.Sequential(*[ResBlock3d(in_ch, in_ch) for _ in range(blocks)])
        self.upsample = DepthToSpaceUpsample(in_ch, out_ch, temporal=upsample) if upsample is not None else None

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.ada_norm(h, z))
        return self.upsample(h) if self.upsample is not None else h


class CausalDecoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mults][::-1]
        temporal = list(cfg.temporal_downsample)[::-1]
        self.conv_in = CausalConv3d(cfg.token_bits, widths[0])
        self.mid = ResBlock3d(widths[0], widths[0])
        self.levels = nn.ModuleList(
            DecoderLevel(
                widths[i],
                widths[min(i + 1, len(widths) - 1)],
                cfg.res_blocks + 1,
                cfg.token_bits,
                temporal[i] if i < len(temporal) else None,
            )
            for i in range(len(widths))
        )
        self.norm_out = FrameGroupNorm(widths[-1])
        self.conv_out = CausalConv3d(widths[-1], 3)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(q))
        for level in self.levels:
            h = level(h, q)
        return self.conv_out(F.silu(self.norm_out(h)))


class Tokenizer(nn.Module):
    """Video <-> tokens. `encode`/`decode` are the codec's two halves."""

    def __init__(self, config: TokenizerConfig = TokenizerConfig()):
        super().__init__()
        self.config = config
        self.encoder = CausalEncoder(config)
        self.quantizer = LFQ(config.token_bits)
        self.decoder = CausalDecoder(config)

    def check_shape(self, x: torch.Tensor) -> None:
        t, h, w = x.shape[2:]
        s, ss = self.config.temporal_stride, self.config.spatial_stride
        if (t - 1) % s or h % ss or w % ss:
            raise ValueError(f"clip of {t}x{h}x{w}: need 1 + {s}k frames and sides divisible by {ss}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LFQLoss | None, torch.Tensor]:
        self.check_shape(x)
        q, tokens, loss = self.quantizer(self.encoder(x))
        return self.decoder(q), loss, tokens

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> int64 tokens (B, T', H', W')."""
        self.check_shape(x)
        with network(self, x.device, "encode"):
            z = self.encoder(x)
        return self.quantizer(z.float())[1]

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 tokens (B, T', H', W') -> (B, 3, T, H, W), not clamped."""
        q = indices_to_bits(tokens, self.config.token_bits)
        with network(self, q.device, "decode"):
            return self.decoder(q.to(next(self.parameters()).dtype)).float()

    def encode_stream(self, groups: Iterable[torch.Tensor]) -> torch.Tensor:
        """encode() of the groups (frame 0, then `temporal_stride` frames each) joined in time:
        the 3D convolutions of this family see the whole GOP, so it does not stream."""
        return self.encode(torch.cat(list(groups), 2))

    def decode_stream(self, tokens: torch.Tensor, sampled: bool = False) -> Iterator[torch.Tensor]:
        """decode() as one piece (this family does not stream); `sampled`: frames 0, s, 2s, ... only
        (no cheaper here than the whole decode)."""
        frames = self.decode(tokens)
        yield frames[:, :, :: self.config.temporal_stride] if sampled else frames

    def frames_held(self, frames: int) -> int:
        """Frames the pipeline holds at once while coding a GOP of `frames`: all of them."""
        return frames

    def coding_memory_bytes(self, frames: int, height: int, width: int) -> int:
        """Peak bytes of coding one GOP (padded frames x padded size), measured: the whole GOP is
        held at full resolution, PEAK_ACTIVATIONS first-level activations of it at once."""
        width_1 = self.config.channels * self.config.channel_mults[0]
        return int(PEAK_ACTIVATIONS * width_1 * frames * height * width * 4)
