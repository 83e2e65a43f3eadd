"""`patch`: a causal 4x8x8 video tokenizer that does its work at low resolution.

Same contract as the MAGVIT-v2 family (tokenizer.py): causal, 4x in time and
8x8 in space, 18-bit tokens, a per-frame norm before the quantizer, an image
is a 1-frame video. The compute sits where it is cheap on a CPU (one
multiply-add per latent token costs 1/256 per pixel):

    encode: pixel-unshuffle 4 -> dense 3x3 blocks at 1/4 -> space-to-depth to
            1/8 -> blocks at 1/8 -> 4 frames folded into channels -> causal
            memory blocks at the latent grid -> 1x1 -> per-frame norm -> FSQ/LFQ
    decode: the mirror image, with more blocks (the decoder matters more).

Time: frame 0 is folded with 3 copies of itself (its features are computed
once), so latent k codes frames 4k-3..4k and latent 0 codes frame 0 alone. The only temporal mixing is the
memory block at the latent grid (a kernel-2 causal convolution over latent
frames: each step sees its own and the previous step's input), so coding can
stream latent frame by latent frame with a one-step cache and memory does not
grow with the GOP. Ideas from TAESD/TAEHV (plain residual blocks, memory
blocks, frames folded into channels), LTX-Video and DCVC-RT (patchify first)
and DC-AE (parameter-free shortcuts around every resampler).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fsq import FSQ
from .lfq import LFQ, LFQLoss, indices_to_bits
from ..precision import network

TIME_FOLD = 4
STEM = 4  # pixel-unshuffle factor of the stem (full -> 1/4)


@dataclass(frozen=True)
class PatchTokenizerConfig:
    family: str = "patch"
    quantizer: str = "fsq"  # "fsq" (levels below) or "lfq" (token_bits signs)
    fsq_levels: tuple[int, ...] = (8, 8, 8, 8, 8, 8)
    token_bits: int = 18
    width_4: int = 64  # channels at 1/4 resolution
    width_8: int = 128  # channels at 1/8
    width_latent: int = 256  # channels at the latent grid (1/4 time, 1/8 space)
    enc_blocks: tuple[int, int, int] = (1, 2, 2)  # residual blocks at 1/4, 1/8, latent
    dec_blocks: tuple[int, int, int] = (2, 3, 3)
    # hidden channels inside the decoder's 1/4-resolution blocks (0: width_4), where the texture is drawn:
    # a decoder entry may widen them (recipe sharp/wide: 128, +17% multiply-adds)
    dec_hidden_4: int = 0

    temporal_stride = TIME_FOLD
    spatial_stride = 8

    def __post_init__(self):
        if self.quantizer == "fsq" and math.prod(self.fsq_levels) != 2**self.token_bits:
            raise ValueError(f"FSQ levels {self.fsq_levels} do not make {self.token_bits}-bit tokens")

    @property
    def latent_dim(self) -> int:
        return len(self.fsq_levels) if self.quantizer == "fsq" else self.token_bits

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return 1 + math.ceil((frames - 1) / TIME_FOLD), math.ceil(height / 8), math.ceil(width / 8)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PatchTokenizerConfig":
        d = dict(d)
        for key in ("fsq_levels", "enc_blocks", "dec_blocks"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """conv-ReLU-conv plus identity, no norm (TAESD style), `hidden` channels between the convs (default
    ch); the last conv starts at zero, so a block starts as identity."""

    def __init__(self, ch: int, hidden: int = 0):
        super().__init__()
        self.conv1, self.conv2 = conv3x3(ch, hidden or ch), conv3x3(hidden or ch, ch)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MemoryBlock(nn.Module):
    """A residual block over latent frames whose first conv also sees the previous frame's input.

    x: (B, T, C, h, w); `past`: the input of the frame before x[:, 0] (None = zeros, the GOP's start).
    Returns the output and the cache for the next call: the same numbers whether
    a sequence is fed whole or one frame at a time.
    """

    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = conv3x3(2 * ch, ch), conv3x3(ch, ch)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = x.shape[:2]
        past = torch.zeros_like(x[:, :1]) if past is None else past
        prev = torch.cat([past, x[:, :-1]], 1)
        h = torch.cat([x, prev], 2).flatten(0, 1)
        h = self.conv2(F.relu(self.conv1(h)))
        return x + h.unflatten(0, (b, t)), x[:, -1:]


def channels_to(x: torch.Tensor, cout: int) -> torch.Tensor:
    """DC-AE's parameter-free shortcut around a resampler: (N, C, h, w) -> (N, cout, h, w), the mean of
    each group of channels (cout < C) or each channel repeated (cout > C). Around a 2x resampler it
    sits inside the pixel-(un)shuffle, beside the conv: one (un)shuffle serves both paths."""
    cin = x.shape[1]
    return x.unflatten(1, (cout, -1)).mean(2) if cout < cin else x.repeat_interleave(cout // cin, 1)


class Encoder(nn.Module):
    def __init__(self, cfg: PatchTokenizerConfig):
        super().__init__()
        c4, c8, cl = cfg.width_4, cfg.width_8, cfg.width_latent
        n4, n8, nl = cfg.enc_blocks
        self.stem = conv3x3(3 * STEM**2, c4)
        self.blocks_4 = nn.Sequential(*[ResBlock(c4) for _ in range(n4)])
        self.down = conv3x3(4 * c4, c8)
        self.blocks_8 = nn.Sequential(*[ResBlock(c8) for _ in range(n8)])
        self.fold = nn.Conv2d(TIME_FOLD * c8, cl, 1)
        self.blocks_latent = nn.ModuleList(MemoryBlock(cl) for _ in range(nl))
        self.out = nn.Conv2d(cl, cfg.latent_dim, 1)
        self.c8, self.cl = c8, cl

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) frames -> (N, c8, H/8, W/8) features, each frame on its own."""
        h = self.blocks_4(self.stem(F.pixel_unshuffle(x, STEM)))
        h = F.pixel_unshuffle(h, 2)
        h = channels_to(h, self.c8) + self.down(h)
        return self.blocks_8(h)

    def forward(self, x: torch.Tensor, cache: list | None) -> tuple[torch.Tensor, list]:
        """(B, n, 3, H, W) frames -> (B, T', latent_dim, h, w) latents (not normalised), and the cache.

        cache None = the GOP's start: x[:, 0] is frame 0, folded with three copies of itself
        (computed once), and n = 1 + 4k; otherwise n = 4k.
        """
        b = x.shape[0]
        h = self.frames(x.flatten(0, 1)).unflatten(0, (b, -1))  # (B, n, c8, h, w)
        if cache is None:
            h = torch.cat([h[:, :1].expand(-1, TIME_FOLD - 1, -1, -1, -1), h], 1)
        t = h.shape[1] // TIME_FOLD
        h = h.reshape(b * t, TIME_FOLD * self.c8, *h.shape[-2:])  # frames folded into channels
        h = self.fold(h) + channels_to(h, self.cl)
        h = h.unflatten(0, (b, t))
        cache = cache or [None] * len(self.blocks_latent)
        new_cache = []
        for block, past in zip(self.blocks_latent, cache):
            h, past = block(h, past)
            new_cache.append(past)
        return self.out(h.flatten(0, 1)).unflatten(0, (b, t)), new_cache


class Decoder(nn.Module):
    def __init__(self, cfg: PatchTokenizerConfig):
        super().__init__()
        c4, c8, cl = cfg.width_4, cfg.width_8, cfg.width_latent
        n4, n8, nl = cfg.dec_blocks
        self.inp = conv3x3(cfg.latent_dim, cl)
        self.blocks_latent = nn.ModuleList(MemoryBlock(cl) for _ in range(nl))
        self.unfold = nn.Conv2d(cl, TIME_FOLD * c8, 1)
        self.blocks_8 = nn.Sequential(*[ResBlock(c8) for _ in range(n8)])
        self.up = conv3x3(c8, 4 * c4)
        self.blocks_4 = nn.Sequential(*[ResBlock(c4, cfg.dec_hidden_4) for _ in range(n4)])
        self.head = conv3x3(c4, 3 * STEM**2)
        self.c4, self.c8 = c4, c8

    def forward(self, q: torch.Tensor, cache: list | None, last_only: bool = False) -> tuple[torch.Tensor, list]:
        """(B, T', latent_dim, h, w) -> (B, n, 3, H, W) frames, and the cache.

        cache None = the GOP's start: latent 0 yields frame 0 alone (the three copies
        folded in front of it are never computed), n = 1 + 4(T'-1); otherwise n = 4T'.
        `last_only`: only the last frame of each latent frame's group (n = T').
        """
        b, t = q.shape[:2]
        h = self.inp(q.flatten(0, 1)).unflatten(0, (b, t))
        start = cache is None
        cache = cache or [None] * len(self.blocks_latent)
        new_cache = []
        for block, past in zip(self.blocks_latent, cache):
            h, past = block(h, past)
            new_cache.append(past)
        h = h.flatten(0, 1)
        h = self.unfold(h) + channels_to(h, TIME_FOLD * self.c8)
        h = h.reshape(b, t * TIME_FOLD, self.c8, *h.shape[-2:])
        if last_only:
            h = h[:, TIME_FOLD - 1 :: TIME_FOLD]
        elif start:
            h = h[:, TIME_FOLD - 1 :]
        n = h.shape[1]
        h = self.blocks_8(h.flatten(0, 1))
        h = F.pixel_shuffle(channels_to(h, 4 * self.c4) + self.up(h), 2)
        x = F.pixel_shuffle(self.head(self.blocks_4(h)), STEM)
        return x.unflatten(0, (b, n)), new_cache


class PatchTokenizer(nn.Module):
    """Video <-> tokens, with the interface of tokenizer.Tokenizer (B, 3, T, H, W) in [-1, 1]."""

    def __init__(self, config: PatchTokenizerConfig = PatchTokenizerConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = FSQ(config.fsq_levels) if config.quantizer == "fsq" else LFQ(config.token_bits)

    def check_shape(self, x: torch.Tensor) -> None:
        t, h, w = x.shape[2:]
        if (t - 1) % TIME_FOLD or h % 8 or w % 8:
            raise ValueError(f"clip of {t}x{h}x{w}: need 1 + {TIME_FOLD}k frames and sides divisible by 8")

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        """The per-frame norm before the quantizer: zero mean, unit variance over each latent frame."""
        b, t = z.shape[:2]
        flat = z.float().flatten(0, 1)
        return F.group_norm(flat, 1).unflatten(0, (b, t))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LFQLoss | None]:
        """(B, T', C, h, w) -> decoder input (same layout), indices (B, T', h, w), aux loss."""
        q, indices, loss = self.quantizer(z.transpose(1, 2))
        return q.transpose(1, 2), indices, loss

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LFQLoss | None, torch.Tensor]:
        self.check_shape(x)
        z, _ = self.encoder(x.transpose(1, 2), None)
        q, indices, loss = self.quantize(self.normalise(z))
        frames, _ = self.decoder(q.to(z.dtype), None)
        return frames.transpose(1, 2), loss, indices

    @torch.no_grad()
    def encode_stream(self, groups: Iterable[torch.Tensor]) -> torch.Tensor:
        """(B, 3, t, H, W) groups in [-1, 1], frame 0 alone (t = 1) then TIME_FOLD frames each ->
        int64 tokens (B, T', H/8, W/8). One group and the one-step cache are alive at a time."""
        cache, out = None, []
        for x in groups:
            with network(self, x.device, "encode"):
                z, cache = self.encoder(x.transpose(1, 2), cache)
            out.append(self.quantize(self.normalise(z.float()))[1])
        return torch.cat(out, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> int64 tokens (B, T', H/8, W/8), streamed over latent frames."""
        self.check_shape(x)
        return self.encode_stream(x[:, :, max(0, i - TIME_FOLD + 1) : i + 1] for i in range(0, x.shape[2], TIME_FOLD))

    def token_values(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 tokens (B, T', h, w) -> decoder input (B, T', C, h, w)."""
        if self.config.quantizer == "fsq":
            return self.quantizer.indices_to_values(tokens).transpose(1, 2)
        return indices_to_bits(tokens, self.config.token_bits).transpose(1, 2)

    @torch.no_grad()
    def decode_stream(self, tokens: torch.Tensor, sampled: bool = False) -> Iterator[torch.Tensor]:
        """int64 tokens (B, T', h, w) -> frames (B, 3, t, H, W), not clamped, one latent frame at a
        time: frame 0, then TIME_FOLD frames per latent frame. `sampled`: only the last frame of
        each (frames 0, 4, 8, ...), which skips three quarters of the full-resolution work."""
        q = self.token_values(tokens).to(next(self.parameters()).dtype)
        cache = None
        for i in range(q.shape[1]):
            with network(self, q.device, "decode"):
                frames, cache = self.decoder(q[:, i : i + 1], cache, last_only=sampled)
            yield frames.float().transpose(1, 2)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 tokens (B, T', h, w) -> (B, 3, 1 + 4(T'-1), H, W), not clamped."""
        return torch.cat(list(self.decode_stream(tokens)), 2)

    def frames_held(self, frames: int) -> int:
        """Frames the pipeline holds at once while coding a GOP of `frames`: one latent frame's."""
        return min(frames, TIME_FOLD)

    def coding_memory_bytes(self, frames: int, height: int, width: int) -> int:
        """Peak bytes of coding one GOP: a few 1/4-resolution activations and float copies of one
        latent frame's group of frames; coding streams, so the GOP's length does not count."""
        group_pixels = self.frames_held(frames) * height * width
        activations = 6 * self.config.width_4 / STEM**2 * group_pixels * 4
        return int(activations + 3 * 4 * group_pixels * 3)
