"""The token prior of entropy mode 1: a bidirectional transformer over one latent frame.

MAGVIT-v2's masked language model, sized for a 2-core CPU:

- **Factorized tokens.** An 18-bit token is two 9-bit sub-tokens (low = bits
  0-8, high = bits 9-17); each has its own embedding table (512 entries plus
  [MASK]) and the input is their sum. The outputs are two 512-way heads tied
  to those tables, so no 2^18 softmax ever exists. The two sub-tokens of a
  position are predicted independently given the context.
- **Context.** The current latent frame's known tokens, and the previous
  latent frame of the same GOP, summed into each position's input through a
  second pair of tables (causal across latent frames, masked within one).
  A latent-time embedding (0, 1, ... capped) tells the first latent frame,
  which codes a single video frame, from the others.
- **Attention** in 8x8 windows of tokens, shifted by 4 in every other layer
  (Swin), with a learnt relative-position bias: the cost grows linearly
  with the frame, any grid size works, and positions are relative, so
  rungs, crops and images share one model.
- **Arithmetic that survives integer inference**: RMSNorm (no mean), ReLU,
  q pre-scaled by 1/sqrt(head_dim), activations clamped to +-ACT_LIMIT.
  `tokcodec.models.mlm_int` runs the same network on integers for coding.

Coding visits a latent frame in `steps` groups (`schedule`), each group
predicted from the groups before it; training mixes those masks with the
cosine mask-ratio schedule of MaskGIT.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .mlm_layout import (
    ACT_LIMIT,
    NORM_EPS,
    SCHEDULES,  # noqa: F401  (re-exported: tokcodec.models.mlm keeps its names)
    MLMConfig,
    input_indices,
    relative_index,  # noqa: F401
    schedule,  # noqa: F401
    split_tokens,
    window_merge,
    window_partition,
)


# --- the network -----------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * self.gain


class WindowAttention(nn.Module):
    def __init__(self, cfg: MLMConfig, shift: int):
        super().__init__()
        self.heads, self.window, self.shift = cfg.heads, cfg.window, shift
        self.head_dim = cfg.dim // cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.rel_bias = nn.Parameter(torch.zeros(cfg.heads, (2 * cfg.window - 1) ** 2))
        self.register_buffer("rel_index", relative_index(cfg.window), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        wins, valid, geometry = window_partition(x, self.window, self.shift)
        n, t, c = wins.shape
        qkv = self.qkv(wins).view(n, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] / math.sqrt(self.head_dim), qkv[1], qkv[2]
        bias = self.rel_bias[:, self.rel_index]  # (heads, t, t)
        key_mask = torch.where(valid, 0.0, -1e9).repeat(n // valid.shape[0], 1)  # (n, t)
        logits = q @ k.transpose(-1, -2) + bias[None] + key_mask[:, None, None, :]
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(n, t, c)
        return window_merge(self.proj(out), self.window, self.shift, geometry)


class Block(nn.Module):
    def __init__(self, cfg: MLMConfig, shift: int):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(cfg.dim), RMSNorm(cfg.dim)
        self.attn = WindowAttention(cfg, shift)
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp * cfg.dim)
        self.fc2 = nn.Linear(cfg.mlp * cfg.dim, cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + self.attn(self.norm1(x))).clamp(-ACT_LIMIT, ACT_LIMIT)
        return (x + self.fc2(F.relu(self.fc1(self.norm2(x))))).clamp(-ACT_LIMIT, ACT_LIMIT)


class TokenMLM(nn.Module):
    """Logits of both sub-tokens at every position of a latent frame, given its known tokens and the previous one."""

    def __init__(self, cfg: MLMConfig):
        super().__init__()
        self.config = cfg
        v = cfg.vocab
        # index v is [MASK] in the current-frame tables and "no previous frame" in the previous-frame tables
        self.embed_lo, self.embed_hi = nn.Embedding(v + 1, cfg.dim), nn.Embedding(v + 1, cfg.dim)
        self.prev_lo, self.prev_hi = nn.Embedding(v + 1, cfg.dim), nn.Embedding(v + 1, cfg.dim)
        self.time = nn.Embedding(cfg.max_time, cfg.dim)
        for table in (self.embed_lo, self.embed_hi, self.prev_lo, self.prev_hi, self.time):
            nn.init.normal_(table.weight, std=0.5)
        self.blocks = nn.ModuleList(Block(cfg, shift=(i % 2) * cfg.window // 2) for i in range(cfg.depth))
        self.norm = RMSNorm(cfg.dim)
        self.bias_lo, self.bias_hi = nn.Parameter(torch.zeros(v)), nn.Parameter(torch.zeros(v))
        self.head_scale = 1 / math.sqrt(cfg.dim)  # tied heads: keeps the first logits near uniform

    def forward(
        self, tokens: torch.Tensor, known: torch.Tensor, prev: torch.Tensor | None, time: int | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens, known (B, H, W): int64 tokens and which of them the decoder already has;
        prev (B, H, W) (-1 or None: no previous frame); time: latent index in the GOP. -> logits (B, H, W, 512) x 2."""
        cfg = self.config
        v = cfg.vocab
        lo, hi, plo, phi = input_indices(tokens, known, prev, cfg.sub_bits)
        t = torch.as_tensor(time, device=tokens.device).clamp(max=cfg.max_time - 1)
        x = self.embed_lo(lo) + self.embed_hi(hi) + self.prev_lo(plo) + self.prev_hi(phi)
        x = x + self.time(t).view(-1, 1, 1, cfg.dim)
        for block in self.blocks:
            x = block(x)
        h = self.norm(x) * self.head_scale
        return h @ self.embed_lo.weight[:v].T + self.bias_lo, h @ self.embed_hi.weight[:v].T + self.bias_hi

    def bits(
        self, tokens: torch.Tensor, logits: tuple[torch.Tensor, torch.Tensor], where: torch.Tensor
    ) -> torch.Tensor:
        """Total cross-entropy in bits of `tokens` at the positions `where`."""
        lo, hi = split_tokens(tokens, self.config.sub_bits)
        ce = F.cross_entropy(logits[0][where], lo[where], reduction="sum")
        ce = ce + F.cross_entropy(logits[1][where], hi[where], reduction="sum")
        return ce / math.log(2)
