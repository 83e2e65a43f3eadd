"""What the token prior's float and integer networks share, and the bitstream fixes.

Normative (bitstream_spec/SPEC.md 6.2 and annex B): the prior's configuration,
the coding schedule, the split of a token into sub-tokens and the input rows,
the windows and the relative-position index. `mlm_int` (the coding network)
imports only this module, so no change to the training code (`mlm`) can
change a bitstream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

ACT_LIMIT = 128.0  # residual-stream clamp, the same in the integer network (its fixed-point range)
NORM_EPS = 1e-6


@dataclass
class MLMConfig:
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp: int = 4  # hidden width = mlp * dim
    window: int = 8
    sub_bits: int = 9  # two sub-tokens of 9 bits: an 18-bit token
    max_time: int = 4  # latent-time embeddings 0 .. max_time-1 (later frames share the last)
    tokenizer_sha256: str = ""  # the tokenizer whose tokens this prior models

    @property
    def vocab(self) -> int:
        return 1 << self.sub_bits

    @property
    def token_bits(self) -> int:
        return 2 * self.sub_bits

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MLMConfig":
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})


# --- the coding schedule (SPEC 6.2) ---------------------------------------------------

SCHEDULES = {  # steps -> group of position (y, x) from (y % 2, x % 2)
    1: ((0, 0), (0, 0)),
    2: ((0, 1), (1, 0)),  # checkerboard
    4: ((0, 2), (3, 1)),  # even lattice, its diagonal, then the two remaining
}


def schedule(height: int, width: int, steps: int) -> np.ndarray:
    """(height, width) int array: the group (0 .. steps-1) in which each token is coded."""
    table = np.array(SCHEDULES[steps], dtype=np.int64)
    return table[np.arange(height)[:, None] % 2, np.arange(width)[None, :] % 2]


def split_tokens(tokens: torch.Tensor, sub_bits: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    return tokens & ((1 << sub_bits) - 1), tokens >> sub_bits


def input_indices(
    tokens: torch.Tensor, known: torch.Tensor, prev: torch.Tensor | None, sub_bits: int
) -> tuple[torch.Tensor, ...]:
    """Embedding-table rows of each position: (low, high) of the current token or [MASK] where it is
    not known, (low, high) of the previous latent frame's token or "none" where prev is -1 or None.
    Both special rows are index 2^sub_bits."""
    v = 1 << sub_bits
    lo, hi = split_tokens(tokens, sub_bits)
    if prev is None:
        prev = torch.full_like(tokens, -1)
    plo, phi = split_tokens(prev, sub_bits)
    return (
        torch.where(known, lo, v),
        torch.where(known, hi, v),
        torch.where(prev >= 0, plo, v),
        torch.where(prev >= 0, phi, v),
    )


# --- windows (SPEC B.5) -----------------------------------------------------------------


def window_partition(x: torch.Tensor, window: int, shift: int) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """(B, H, W, C) -> (B * nW, window^2, C) windows of the grid padded by `shift` at the
    top-left and to a multiple of `window` at the bottom-right, and the (nW, window^2) validity mask."""
    b, h, w, c = x.shape
    hp = shift + h + (-(shift + h) % window)
    wp = shift + w + (-(shift + w) % window)
    padded = x.new_zeros(b, hp, wp, c)
    padded[:, shift : shift + h, shift : shift + w] = x
    valid = torch.zeros(hp, wp, dtype=torch.bool, device=x.device)
    valid[shift : shift + h, shift : shift + w] = True
    nh, nw = hp // window, wp // window
    wins = padded.view(b, nh, window, nw, window, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, window * window, c)
    valid = valid.view(nh, window, nw, window).permute(0, 2, 1, 3).reshape(nh * nw, window * window)
    return wins, valid, (b, h, w, hp, wp)


def window_merge(wins: torch.Tensor, window: int, shift: int, geometry: tuple) -> torch.Tensor:
    b, h, w, hp, wp = geometry
    c = wins.shape[-1]
    nh, nw = hp // window, wp // window
    x = wins.view(b, nh, nw, window, window, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
    return x[:, shift : shift + h, shift : shift + w]


def relative_index(window: int) -> torch.Tensor:
    """(window^2, window^2) index into a (2*window-1)^2 relative-position table."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx
