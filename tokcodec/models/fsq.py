"""Finite scalar quantization (FSQ), Mentzer et al. (arXiv 2309.15505).

Each of len(levels) latent channels is bounded by a tanh and rounded to one
of L integer levels, so the codebook is the implicit grid prod(levels)
(levels [8]*6 = 2^18: an 18-bit token, like LFQ's). The token index is the
mixed-radix number of the per-channel digits, channel 0 least significant:
    index = sum_i digit_i * prod(levels[:i]),   digit_i in 0..L_i-1
and the decoder's input value of digit d is (d - L_i // 2) / (L_i // 2),
in [-1, 1). No auxiliary loss: every code is reachable by construction.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class FSQ(nn.Module):
    def __init__(self, levels: tuple[int, ...] = (8, 8, 8, 8, 8, 8)):
        super().__init__()
        self.levels = tuple(levels)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        radix = [math.prod(levels[:i]) for i in range(len(levels))]
        self.register_buffer("_radix", torch.tensor(radix, dtype=torch.int64), persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def _shape(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast a per-channel vector over (B, C, ...)."""
        return t.view(1, -1, *([1] * (x.dim() - 2)))

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash z so that rounding yields exactly L values per channel (even L: half-integer offset)."""
        levels = self._shape(self._levels, z)
        half = (levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        """(B, C, ...) latents -> (decoder input in [-1, 1) with straight-through gradient, int64 indices, no loss)."""
        bounded = self.bound(z.float())
        rounded = bounded + (bounded.round() - bounded).detach()
        half_width = self._shape(self._levels, z) // 2
        digits = (rounded.detach().round() + half_width).long()
        indices = (digits * self._shape(self._radix, z)).sum(1)
        return rounded / half_width, indices, None

    def indices_to_values(self, indices: torch.Tensor) -> torch.Tensor:
        """int64 indices (B, ...) -> decoder input values (B, C, ...)."""
        x = indices.unsqueeze(1)
        digits = (x // self._shape(self._radix, x)) % self._shape(self._levels, x).long()
        half_width = self._shape(self._levels, x) // 2
        return (digits.float() - half_width) / half_width
