"""Lookup-free quantization (LFQ), MAGVIT-v2 (Yu et al., arXiv 2310.05737, sec. 3.1).

Each of the `bits` latent channels is quantized to -1 or +1 by its sign, so
the codebook is implicit and the token index is the bits themselves:
    index = sum_i 2**i * [z_i > 0]    (bit i = channel i; spec: bit order 0)
Training adds an entropy penalty E[H(q(z))] - H(E[q(z)]) (confident codes per
position, every code used across the batch) and a commitment loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class LFQLoss(NamedTuple):
    per_sample_entropy: torch.Tensor  # mean entropy of one position's code (low = confident)
    batch_entropy: torch.Tensor  # entropy of the batch-average code, summed over bit groups (high = used)
    commitment: torch.Tensor  # ||z - sg(q)||^2


def bits_to_indices(bits: torch.Tensor) -> torch.Tensor:
    """(B, bits, ...) in {0, 1} or {-1, +1} -> int64 token indices (B, ...)."""
    weights = 2 ** torch.arange(bits.shape[1], device=bits.device, dtype=torch.int64)
    on = (bits > 0).to(torch.int64)
    return torch.einsum("bc...,c->b...", on, weights)


def indices_to_bits(indices: torch.Tensor, bits: int) -> torch.Tensor:
    """int64 token indices (B, ...) -> float codes in {-1, +1}, shape (B, bits, ...)."""
    shifts = torch.arange(bits, device=indices.device, dtype=torch.int64)
    on = (indices.unsqueeze(1) >> shifts.view(1, -1, *([1] * (indices.dim() - 1)))) & 1
    return on.to(torch.float32) * 2 - 1


def _group_entropy(logp1: torch.Tensor, logp0: torch.Tensor) -> torch.Tensor:
    """Entropy of the batch-mean distribution over the 2^g codes of one bit group.

    logp1/logp0: (N, g) log-probabilities of each bit being 1/0 per position.
    """
    g = logp1.shape[1]
    codes = ((torch.arange(2**g, device=logp1.device)[:, None] >> torch.arange(g, device=logp1.device)) & 1).float()
    log_probs = logp1 @ codes.T + logp0 @ (1 - codes).T  # (N, 2^g)
    mean_p = log_probs.exp().mean(0)
    return -(mean_p * torch.log(mean_p.clamp_min(1e-9))).sum()


class LFQ(nn.Module):
    """Sign quantizer with straight-through gradients and LFQ losses.

    `group_bits` splits the bits into sub-groups for the batch-entropy term:
    the exact 2^18-way histogram is memory bound, 2^9 per group is cheap.
    `temperature` sets how sharply a latent value maps to a bit probability.
    """

    def __init__(self, bits: int = 18, group_bits: int = 9, temperature: float = 1.0):
        super().__init__()
        self.bits = bits
        self.group_bits = group_bits
        self.temperature = temperature

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LFQLoss]:
        q = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z))
        indices = bits_to_indices(q)
        q_st = z + (q - z).detach()
        loss = self.losses(z, q) if self.training else None
        return q_st, indices, loss

    def losses(self, z: torch.Tensor, q: torch.Tensor) -> LFQLoss:
        flat = z.transpose(0, 1).reshape(self.bits, -1).T.float()  # (N, bits)
        # p(bit=1) = softmax over the two codes +-1 of -||z - c||^2 / T = sigmoid(4 z / T)
        logits = 4 * flat / self.temperature
        logp1, logp0 = F.logsigmoid(logits), F.logsigmoid(-logits)
        per_sample = -(logp1.exp() * logp1 + logp0.exp() * logp0).sum(1).mean()
        batch = sum(
            _group_entropy(logp1[:, i : i + self.group_bits], logp0[:, i : i + self.group_bits])
            for i in range(0, self.bits, self.group_bits)
        )
        commitment = F.mse_loss(z, q.detach())
        return LFQLoss(per_sample, batch, commitment)
