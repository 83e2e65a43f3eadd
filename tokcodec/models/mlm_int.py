"""The token prior on integers: identical probabilities on every machine.

Range coding needs the encoder's and the decoder's frequency tables to be
equal bit for bit, and float kernels are not (summation order, SIMD width,
oneDNN, GPUs, libm). So coding runs the `mlm.TokenMLM` network in fixed
point, where every value is an integer and every operation exact:

- weights are integers at scale 2^W_BITS, activations at 2^A_BITS, clamped
  to +-2^(A_BITS+7) (ACT_LIMIT = 128); RMSNorm gains and the attention's
  1/sqrt(head_dim) are folded into the following weights at export;
- a matrix product is computed in float64 on integer values: every product
  and every partial sum is an integer below 2^53 (bounds checked when the
  weights are made), so the result is exact in any summation order, on any
  BLAS, any thread count, CPU or GPU;
- everything else is int64 arithmetic (sums, floor divisions, shifts);
  square roots are integer square roots, corrected after a float guess;
- exp is a table (in the weights file), softmax is table lookups and
  integer division; the output becomes a frequency table summing to 2^24
  with every symbol >= 1 (`frequencies`).

The normative description is bitstream_spec/SPEC.md, annex B.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .mlm import (ACT_LIMIT, NORM_EPS, MLMConfig, TokenMLM, input_indices, relative_index, window_merge,
                  window_partition)

A_BITS = 10  # activations: value * 2^10
W_BITS = 12  # weights: value * 2^12
LOGIT_BITS = 6  # attention and output logits: nats * 2^6
ACT_MAX = int(ACT_LIMIT) << A_BITS  # 2^17
NORM_EXTRA = 8  # RMSNorm divides by an rms held at 2^(A_BITS + 8)
PRECISION = 24  # frequency tables sum to 2^24 (the range coder's precision)
EXP_ATTN_BITS, EXP_ATTN_LEN = 16, 768  # round(2^16 exp(-i/64)); the last entry is 0
EXP_OUT_BITS, EXP_OUT_LEN = 20, 1536
MASKED_KEY = -(1 << 40)  # logit of a padding key: its table index clamps to the last entry (0)
EXACT = 1 << 53


def exp_table(bits: int, length: int) -> np.ndarray:
    """round(2^bits * exp(-i / 2^LOGIT_BITS)), last entry 0. Shipped inside the weights file, so
    that a libm's last-ulp differences can never change a coder's tables."""
    table = np.round(np.exp(-np.arange(length) / (1 << LOGIT_BITS)) * (1 << bits)).astype(np.int64)
    table[-1] = 0
    return table


def floor_div(a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """floor(a / b) of integer-valued float64 tensors (b > 0), exactly: IEEE division rounds the
    quotient, which can land next to the true floor, so the guess is corrected by its remainder."""
    q = torch.div(a, b).floor_()
    remainder = a - q * b  # exact: every term is an integer below 2^53
    return q.add_((remainder >= b).double()).sub_((remainder < 0).double())


def round_shift(a: torch.Tensor, bits: int) -> torch.Tensor:
    """a / 2^bits rounded half up: scaling by a power of two is exact, so is floor."""
    return torch.floor((a + float(1 << (bits - 1))) * (1.0 / (1 << bits)))


def isqrt(v: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(v)) of integer-valued float64 v in [0, 2^52], exactly: a guess, then corrected."""
    s = torch.floor(torch.sqrt(v))
    s = s - (s * s > v).double()
    return s + ((s + 1) * (s + 1) <= v).double()


def clamp_act(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-ACT_MAX, ACT_MAX)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """x / rms(x) at 2^A_BITS (the gain lives in the next layer's weights)."""
    d = x.shape[-1]
    mean_square = floor_div((x * x).sum(-1, keepdim=True), float(d))  # at 2^(2A); the sum is exact (< 2^53)
    eps = float(round(NORM_EPS * (1 << (2 * (A_BITS + NORM_EXTRA)))))
    rms = isqrt(mean_square * float(1 << (2 * NORM_EXTRA)) + eps)  # at 2^(A + NORM_EXTRA)
    return floor_div(x * float(1 << (A_BITS + NORM_EXTRA)), rms)


def softmax_frequencies(logits: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Integer logits (.., V) at 2^-LOGIT_BITS nats -> int64 frequencies summing to 2^PRECISION,
    each >= 1; the rounding remainder goes to the first most probable symbol."""
    v = logits.shape[-1]
    z = (logits.max(-1, keepdim=True).values - logits).clamp(max=table.numel() - 1).long()
    e = torch.take(table, z)  # a table lookup (faster than indexing)
    total = e.sum(-1, keepdim=True)
    freqs = 1 + floor_div(e * float((1 << PRECISION) - v), total)
    freqs = freqs.long()
    remainder = (1 << PRECISION) - freqs.sum(-1)
    top = e.argmax(-1, keepdim=True)  # torch.argmax returns the first maximal index
    return freqs.scatter_add(-1, top, remainder[..., None])


class IntegerMLM:
    """`TokenMLM` in fixed point: `frequencies(tokens, known, prev, time, positions)`."""

    def __init__(self, config: MLMConfig, tensors: dict[str, torch.Tensor]):
        self.config = config
        self.t = {k: v.double() for k, v in tensors.items()}  # integers, held in float64 (exact)
        # linear layers: weights transposed once, the rounding half of round_shift folded into the bias
        self.linears = {k[:-7]: (v.T.contiguous(), self.t[k[:-7] + ".bias"] + float(1 << (W_BITS - 1)))
                        for k, v in self.t.items() if k.endswith(".weight")}
        self.exp_attn, self.exp_out = self.t["exp_attn"], self.t["exp_out"]
        index = relative_index(config.window)
        self.rel_bias = [self.t[f"blocks.{i}.attn.rel_bias"][:, index] for i in range(config.depth)]

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Activations (.., K) at 2^A_BITS, weight (N, K) at 2^W_BITS, bias at 2^(A+W) -> (.., N) at 2^A_BITS."""
        weight_t, bias = self.linears[name]
        acc = torch.addmm(bias, x.reshape(-1, x.shape[-1]), weight_t).view(*x.shape[:-1], -1)
        return acc.mul_(1.0 / (1 << W_BITS)).floor_().clamp_(-ACT_MAX, ACT_MAX)  # round_shift, in place

    def _attention(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Windowed attention of (1, H, W, C) features. q, k, v and the output projection are computed
        on the grid, not on the padded windows: a padding position's values never reach a real one
        (its key is masked to weight 0, its query is dropped), so the result is the same, for less work."""
        cfg = self.config
        shift = (i % 2) * cfg.window // 2
        qkv, valid, geometry = window_partition(self._linear(x, f"blocks.{i}.attn.qkv"), cfg.window, shift)
        n, t, c3 = qkv.shape
        c = c3 // 3
        hd = c // cfg.heads
        q, k, v = qkv.view(n, t, 3, cfg.heads, hd).permute(2, 0, 3, 1, 4)
        logits = round_shift(q @ k.transpose(-1, -2), 2 * A_BITS - LOGIT_BITS)
        logits += self.rel_bias[i][None]
        logits += self.key_mask(valid, n)[:, None, None, :]
        z = (logits.max(-1, keepdim=True).values - logits).clamp_(max=self.exp_attn.numel() - 1).long()
        e = torch.take(self.exp_attn, z)
        total = e.sum(-1, keepdim=True)
        out = floor_div(2 * (e @ v) + total, 2 * total)  # rounded half up
        out = window_merge(out.transpose(1, 2).reshape(n, t, c), cfg.window, shift, geometry)
        return self._linear(out, f"blocks.{i}.attn.proj")

    @staticmethod
    def key_mask(valid: torch.Tensor, n: int) -> torch.Tensor:
        """(n, t): 0 for a real key, MASKED_KEY for padding (its table index clamps to the last entry, 0)."""
        return torch.where(valid, 0.0, float(MASKED_KEY)).repeat(n // valid.shape[0], 1)

    def hidden(self, tokens: torch.Tensor, known: torch.Tensor, prev: torch.Tensor | None, time: int,
               positions: torch.Tensor | None = None) -> torch.Tensor:
        """The final normalised features of one latent frame (tokens, known, prev: (H, W)): (H, W, dim),
        or (N, dim) for the flat raster `positions` only. The last MLP is per position, so it runs on
        those alone (the same values, a quarter of the work with 4 groups)."""
        cfg = self.config
        lo, hi, plo, phi = input_indices(tokens, known, prev, cfg.sub_bits)
        t = self.t
        x = t["embed_lo"][lo] + t["embed_hi"][hi] + t["prev_lo"][plo] + t["prev_hi"][phi]
        x = clamp_act(x + t["time"][min(time, cfg.max_time - 1)])[None]
        for i in range(cfg.depth):
            x = clamp_act(x + self._attention(rms_norm(x), i))
            if i == cfg.depth - 1 and positions is not None:
                x = x.reshape(-1, cfg.dim)[positions]
            h = self._linear(rms_norm(x), f"blocks.{i}.fc1").clamp(min=0)  # ReLU
            x = clamp_act(x + self._linear(h, f"blocks.{i}.fc2"))
        return rms_norm(x)[0] if positions is None else rms_norm(x)

    def frequencies(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, dim) of the positions to code -> frequency tables (N, 512) of the low and high sub-tokens."""
        out = []
        for name in ("head_lo", "head_hi"):
            acc = features @ self.t[name + ".weight"].T + self.t[name + ".bias"]
            out.append(softmax_frequencies(round_shift(acc, A_BITS + W_BITS - LOGIT_BITS), self.exp_out))
        return out[0], out[1]


# --- export: float model -> integer tensors -------------------------------------------


def _int(x: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.round(x.double() * (1 << bits)).to(torch.int64)


def integer_tensors(model: TokenMLM) -> dict[str, torch.Tensor]:
    """The integer weights of a trained float model (int32 tensors, named as IntegerMLM reads them)."""
    cfg = model.config
    hd = cfg.dim // cfg.heads
    out: dict[str, torch.Tensor] = {}
    for name in ("embed_lo", "embed_hi", "prev_lo", "prev_hi", "time"):
        out[name] = _int(getattr(model, name).weight, A_BITS)

    def put_linear(name: str, linear: torch.nn.Linear, gain: torch.Tensor, row_scale: torch.Tensor | None = None):
        w = linear.weight.double() * gain.double()[None, :]
        b = linear.bias.double()
        if row_scale is not None:
            w, b = w * row_scale[:, None], b * row_scale
        out[name + ".weight"] = _int(w, W_BITS)
        out[name + ".bias"] = _int(b, A_BITS + W_BITS)

    for i, block in enumerate(model.blocks):
        q_scale = torch.ones(3 * cfg.dim, dtype=torch.float64)
        q_scale[:cfg.dim] = 1 / math.sqrt(hd)
        put_linear(f"blocks.{i}.attn.qkv", block.attn.qkv, block.norm1.gain, q_scale)
        put_linear(f"blocks.{i}.attn.proj", block.attn.proj, torch.ones(cfg.dim))
        out[f"blocks.{i}.attn.rel_bias"] = _int(block.attn.rel_bias, LOGIT_BITS)
        put_linear(f"blocks.{i}.fc1", block.fc1, block.norm2.gain)
        put_linear(f"blocks.{i}.fc2", block.fc2, torch.ones(cfg.mlp * cfg.dim))
    for name, table, bias in (("head_lo", model.embed_lo, model.bias_lo), ("head_hi", model.embed_hi, model.bias_hi)):
        w = table.weight[:cfg.vocab].double() * model.norm.gain.double()[None, :] * model.head_scale
        out[name + ".weight"] = _int(w, W_BITS)
        out[name + ".bias"] = _int(bias, A_BITS + W_BITS)
    out["exp_attn"] = torch.from_numpy(exp_table(EXP_ATTN_BITS, EXP_ATTN_LEN))
    out["exp_out"] = torch.from_numpy(exp_table(EXP_OUT_BITS, EXP_OUT_LEN))
    check_bounds(out, cfg)
    return {k: v.to(torch.int32) for k, v in out.items()}


def check_bounds(tensors: dict[str, torch.Tensor], cfg: MLMConfig) -> None:
    """Every matrix product of IntegerMLM stays below 2^53 in any summation order (and int32 holds the weights)."""
    for name, w in tensors.items():
        if w.abs().max() >= 1 << 31:
            raise ValueError(f"{name} does not fit int32")
        if name.endswith(".weight"):
            k = w.shape[1]
            bound = k * ACT_MAX * int(w.abs().max()) + int(tensors[name[:-7] + ".bias"].abs().max())
            if bound >= EXACT:
                raise ValueError(f"{name}: a product could reach 2^{math.log2(bound):.1f}")
    hd = cfg.dim // cfg.heads
    assert hd * ACT_MAX * ACT_MAX < EXACT and cfg.window ** 2 * (1 << EXP_ATTN_BITS) * ACT_MAX < EXACT
