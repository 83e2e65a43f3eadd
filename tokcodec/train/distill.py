"""A shipped token prior as a float teacher, for training a smaller one (knowledge distillation).

The integer network of a prior (models/mlm_int.py, SPEC annex B) is a fixed-point rendering of a float
network: its weights are integers at known scales, with the RMSNorm gains and the attention's
1/sqrt(head_dim) folded in. Read back at those scales and run in float32 without the roundings, it
gives (nearly) the distributions the coder uses, batched over training crops and cheap enough to score
every crop of every step. A student trained towards them learns from the teacher's whole distribution
at every position, not from one token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.mlm_int import A_BITS, LOGIT_BITS, W_BITS
from ..models.mlm_layout import ACT_LIMIT, NORM_EPS, input_indices, relative_index, window_merge, window_partition


class FloatPrior(torch.nn.Module):
    """`IntegerMLM`'s network in float32: (tokens, known, prev, time) -> logits (B, H, W, 512) x 2 in nats."""

    def __init__(self, config, tensors: dict[str, torch.Tensor]):
        super().__init__()
        self.config = config
        act, weight = float(1 << A_BITS), float(1 << W_BITS)

        def scaled(name: str, scale: float) -> torch.Tensor:
            return (tensors[name].double() / scale).float()

        # activations and embeddings at 2^A, weights at 2^W, biases at 2^(A+W), relative biases at 2^LOGIT
        self.tables = {n: scaled(n, act) for n in ("embed_lo", "embed_hi", "prev_lo", "prev_hi", "time")}
        self.linears = {
            n[: -len(".weight")]: (scaled(n, weight), scaled(n[: -len(".weight")] + ".bias", act * weight))
            for n in tensors
            if n.endswith(".weight")
        }
        index = relative_index(config.window)
        self.rel_bias = [
            scaled(f"blocks.{i}.attn.rel_bias", float(1 << LOGIT_BITS))[:, index] for i in range(config.depth)
        ]

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """As IntegerMLM's: every block's linear output clamped to the activation range, the heads' not."""
        weight, bias = self.linears[name]
        y = F.linear(x, weight, bias)
        return y if name.startswith("head") else y.clamp(-ACT_LIMIT, ACT_LIMIT)

    @staticmethod
    def _norm(x: torch.Tensor) -> torch.Tensor:  # the gains live in the next layer's weights
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS)

    def _attention(self, x: torch.Tensor, i: int) -> torch.Tensor:
        cfg = self.config
        shift = (i % 2) * cfg.window // 2
        wins, valid, geometry = window_partition(x, cfg.window, shift)
        n, t, c = wins.shape
        hd = c // cfg.heads
        q, k, v = self._linear(wins, f"blocks.{i}.attn.qkv").view(n, t, 3, cfg.heads, hd).permute(2, 0, 3, 1, 4)
        mask = torch.where(valid, 0.0, float("-inf")).repeat(n // valid.shape[0], 1)[:, None, None, :]
        logits = q @ k.transpose(-1, -2) + self.rel_bias[i][None] + mask  # 1/sqrt(hd) is in q's weights
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(n, t, c)
        return window_merge(self._linear(out, f"blocks.{i}.attn.proj"), cfg.window, shift, geometry)

    @torch.no_grad()
    def forward(self, tokens, known, prev, time) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        lo, hi, plo, phi = input_indices(tokens, known, prev, cfg.sub_bits)
        t = torch.as_tensor(time).clamp(max=cfg.max_time - 1)
        tb = self.tables
        x = tb["embed_lo"][lo] + tb["embed_hi"][hi] + tb["prev_lo"][plo] + tb["prev_hi"][phi]
        x = (x + tb["time"][t].view(-1, 1, 1, cfg.dim)).clamp(-ACT_LIMIT, ACT_LIMIT)
        for i in range(cfg.depth):
            x = (x + self._attention(self._norm(x), i)).clamp(-ACT_LIMIT, ACT_LIMIT)
            h = F.relu(self._linear(self._norm(x), f"blocks.{i}.fc1"))
            x = (x + self._linear(h, f"blocks.{i}.fc2")).clamp(-ACT_LIMIT, ACT_LIMIT)
        x = self._norm(x)
        return self._linear(x, "head_lo"), self._linear(x, "head_hi")


def soft_bits(
    student: tuple[torch.Tensor, torch.Tensor], teacher: tuple[torch.Tensor, torch.Tensor], where
) -> torch.Tensor:
    """Total cross-entropy in bits of the student's distributions against the teacher's at `where`
    (both sub-tokens): the distillation loss (the teacher's own entropy is a constant beside it)."""
    total = 0.0
    for s, t in zip(student, teacher):
        p = t[where].softmax(-1)
        total = total - (p * s[where].log_softmax(-1)).sum()
    return total / torch.log(torch.tensor(2.0))
