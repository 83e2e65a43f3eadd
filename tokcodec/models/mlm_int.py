"""The token prior on integers: identical probabilities on every machine.

Range coding needs the encoder's and the decoder's frequency tables to be
equal bit for bit, and float kernels are not (summation order, SIMD width,
oneDNN, GPUs, libm). So coding runs the `mlm.TokenMLM` network in fixed
point, where every value is an integer and every operation exact:

- weights are integers at scale 2^W_BITS, activations at 2^A_BITS, clamped
  to +-2^(A_BITS+7) (ACT_LIMIT = 128); RMSNorm gains and the attention's
  1/sqrt(head_dim) are folded into the following weights at export;
- a matrix product is computed in float64 on integer values (or on integers
  scaled by a power of two, which changes no rounding): every product and
  every partial sum is an integer below 2^53 (bounds checked when the weights
  are made), so the result is exact in any summation order, on any BLAS, any
  thread count, CPU or GPU;
- everything else is integer arithmetic held exactly in float64 (sums,
  floor divisions within the bound `floor_div` states, shifts); square roots
  are integer square roots, corrected after a float guess;
- exp is a table (in the weights file), softmax is table lookups and
  integer division; the output becomes a frequency table summing to 2^24
  with every symbol >= 1 (`frequencies`).

The normative description is bitstream_spec/SPEC.md, annex B.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .mlm_layout import ACT_LIMIT, NORM_EPS, MLMConfig, input_indices, relative_index, window_partition

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


def floor_div(a: torch.Tensor, b: torch.Tensor | float, out: torch.Tensor | None = None) -> torch.Tensor:
    """floor(a / b) of integer-valued float64 tensors, b > 0 and |a| + b < 2^53: exactly (into `out`
    when given).

    IEEE division is correctly rounded, so the float quotient can only land on the integer k + 1
    above the true floor k when k + 1 - a/b (at least 1/b) is within half a unit in the last
    place of k + 1 (at most |k + 1| 2^-53), that is when |k + 1| b >= 2^53; and |k + 1| b <= |a| + b.
    Every call below states its bound."""
    return torch.div(a, b, out=out).floor_()


def round_shift(a: torch.Tensor, bits: int) -> torch.Tensor:
    """a / 2^bits rounded half up: scaling by a power of two is exact, so is floor."""
    return torch.floor((a + float(1 << (bits - 1))) * (1.0 / (1 << bits)))


def isqrt(v: torch.Tensor) -> torch.Tensor:
    """floor(sqrt(v)) of integer-valued float64 v in [0, 2^52], exactly: a guess, then corrected."""
    s = torch.floor(torch.sqrt(v))
    s = s - (s * s > v).double()
    return s + ((s + 1) * (s + 1) <= v).double()


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """x / rms(x) at 2^A_BITS (the gain lives in the next layer's weights)."""
    d = x.shape[-1]
    mean_square = floor_div((x * x).sum(-1, keepdim=True), float(d))  # at 2^(2A); sum < d 2^34: exact
    eps = float(round(NORM_EPS * (1 << (2 * (A_BITS + NORM_EXTRA)))))
    rms = isqrt(mean_square * float(1 << (2 * NORM_EXTRA)) + eps)  # at 2^(A + NORM_EXTRA), >= 1
    # floor(x 2^(A + NORM_EXTRA) / rms): dividing by rms 2^-(A + NORM_EXTRA) is the same correctly
    # rounded quotient (powers of two scale exactly); |x| 2^18 <= 2^35
    return floor_div(x, rms * (1.0 / (1 << (A_BITS + NORM_EXTRA))))


def table_exp(logits: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(logit - max) over the last axis as table lookups, for integer logits at 2^-LOGIT_BITS
    nats: (z, table[z]) with z = min(max - logit, last index). `logits` is overwritten by z."""
    z = torch.sub(logits.amax(-1, keepdim=True), logits, out=logits).clamp_(max=table.numel() - 1)
    return z, torch.take(table, z.long())  # a table lookup (faster than indexing)


def softmax_frequencies(logits: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Integer logits (.., V) at 2^-LOGIT_BITS nats (overwritten) -> int64 frequencies summing to
    2^PRECISION, each >= 1; the rounding remainder goes to the first most probable symbol."""
    v = logits.shape[-1]
    z, e = table_exp(logits, table)
    total = e.sum(-1, keepdim=True)
    # e (2^24 - V) < 2^44 and total < 2^31: floor_div's bound holds
    freqs = floor_div(e.mul_(float((1 << PRECISION) - v)), total).add_(1).long()
    remainder = (1 << PRECISION) - freqs.sum(-1)
    top = z.argmin(-1, keepdim=True)  # the first most probable symbol: z = 0 there (argmin: the first)
    return freqs.scatter_add_(-1, top, remainder[..., None])


class IntegerMLM:
    """`TokenMLM` in fixed point: `hidden(tokens, known, prev, time, positions)` -> features,
    `frequencies(features)` -> tables.

    How it is fast and still exact (the time is in float64 GEMMs and in elementwise passes over
    (positions x channels) and (windows x heads x 64 x 64) tensors, so the passes are few):
    - a linear layer's weight and bias are stored pre-scaled by 2^-W_BITS, so the GEMM returns the
      accumulator already divided (scaling by a power of two is exact at every partial sum);
      then one floor and one clamp;
    - attention logits come from one batched GEMM that starts from a cached (rel_bias + 1/2 +
      key mask) tensor, with q pre-scaled by 2^-(2A - LOGIT_BITS): floor() of that is round_shift;
    - the windows are one gather of the positions (and one back), with cached indices: no padded
      copy of the grid, and the output projection runs on the real positions only;
    - when only some positions' features are asked for (coding asks for one group's), the last
      block computes queries, attention and MLP for those alone;
    - block 0's q, k, v are kept across a latent frame's passes (hidden's `cache`): a pass recomputes
      the rows of the positions whose input changed, one group's;
    - divisions are one correctly rounded division and a floor (see floor_div's bound).
    """

    @staticmethod
    def pass_memory_bytes(config: MLMConfig, height: int, width: int) -> int:
        """Peak bytes of one pass over an H' x W' latent frame: the float64 features, q/k/v and MLP
        (~24 dim values a position) and the attention's logits and weights (~4 heads x window^2), from
        at least 256 positions, plus ~192 MiB of tables (mlm_coding.TABLE_BLOCK) and temporaries.
        Measured for mlm-tc-2.1 (dim 128): 30-33 KB a position at 256 x 256; this gives 32.8 KB."""
        per_position = 8 * (24 * config.dim + 4 * config.heads * config.window**2)
        return (192 << 20) + per_position * max(height * width, 256)

    def __init__(self, config: MLMConfig, tensors: dict[str, torch.Tensor]):
        self.config = config
        self.t = {k: v.double() for k, v in tensors.items()}  # integers, held in float64 (exact)
        w_scale = 1.0 / (1 << W_BITS)
        # linear layers: weights transposed once; bias with the rounding half of round_shift; both / 2^W
        # (F.linear's (N, K) layout measured faster than addmm's (K, N) with MKL on AVX2)
        self.linears = {
            k[:-7]: (v * w_scale, (self.t[k[:-7] + ".bias"] + float(1 << (W_BITS - 1))) * w_scale)
            for k, v in self.t.items()
            if k.endswith(".weight") and k.startswith("blocks.")
        }
        out_scale = 1.0 / (1 << (A_BITS + W_BITS - LOGIT_BITS))
        self.heads_out = [
            (
                self.t[n + ".weight"] * out_scale,
                (self.t[n + ".bias"] + float(1 << (A_BITS + W_BITS - LOGIT_BITS - 1))) * out_scale,
            )
            for n in ("head_lo", "head_hi")
        ]
        self.exp_attn, self.exp_out = self.t["exp_attn"], self.t["exp_out"]
        index = relative_index(config.window)
        self.rel_bias = [self.t[f"blocks.{i}.attn.rel_bias"][:, index] for i in range(config.depth)]
        self._grids: dict[tuple, tuple] = {}

    def _linear(self, x: torch.Tensor, name: str, low: float = -ACT_MAX, rows: slice = slice(None)) -> torch.Tensor:
        """Activations (.., K) at 2^A_BITS -> (.., N) at 2^A_BITS: round_shift(x W^T + b, W_BITS), clamped
        to [low, ACT_MAX] (low = 0 is the clamp and the ReLU in one pass). `rows`: only those outputs."""
        weight, bias = self.linears[name]
        return F.linear(x, weight[rows], bias[rows]).floor_().clamp_(low, ACT_MAX)

    def _grid(self, batch: int, height: int, width: int, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What block i's windows are on this grid, cached per grid: (gather, merge, logit bias).

        gather (B nW t,): the row of the flat (B H W, C) features in each window slot; a padding slot
        takes row 0, whose values cannot reach a real position (its key is masked to weight 0, its
        query's row is dropped), so no zero rows need writing. merge (B H W,): each position's slot.
        logit bias (heads, B nW, t, t): rel_bias + 1/2 (round_shift's half) on real keys, MASKED_KEY on
        padding keys (its table index clamps to the last entry, 0)."""
        key = (batch, height, width, i % 2)
        if key not in self._grids:
            cfg = self.config
            win, shift = cfg.window, (i % 2) * cfg.window // 2
            slots, valid, _ = window_partition(
                torch.arange(batch * height * width).view(batch, height, width, 1).double(), win, shift
            )
            gather = slots.view(-1).long()  # padding slots hold 0 (window_partition's zeros)
            merge = torch.empty(batch * height * width, dtype=torch.long)
            real = valid.repeat(batch, 1).view(-1)
            merge[gather[real]] = torch.nonzero(real).view(-1)
            mask = torch.where(valid, 0.5, float(MASKED_KEY)).double().repeat(batch, 1)  # (B nW, t)
            biases = [(rel[:, None] + mask[None, :, None, :]).contiguous() for rel in self.rel_bias[i % 2 :: 2]]
            self._grids = {k: v for k, v in self._grids.items() if k[:3] == key[:3]}
            self._grids[key] = gather, merge, biases
        gather, merge, biases = self._grids[key]
        return gather, merge, biases[i // 2]

    def _attention(
        self, x: torch.Tensor, i: int, queries: torch.Tensor | None = None, qkv: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Windowed attention of (B, H, W, C) features -> (B H W, C), one head at a time; or (N, C) for
        the flat positions `queries` only (keys and values are still every position's). `qkv`: the
        (B H W, 3C) products of every position, already made (_first_qkv), gathered into windows instead.

        The windows are gathered from the block's input (C channels, a third of what q, k and v hold)
        in one copy, and q, k, v and the attention are computed on the windows, padding slots included
        (see _grid: nothing of them reaches a real position); the heads' outputs are gathered back to
        the real positions before the output projection. Each head's q, k, v are strided views of
        the products (no copy)."""
        cfg = self.config
        b, height, width, dim = x.shape
        heads, hd, t = cfg.heads, dim // cfg.heads, cfg.window**2
        gather, merge, bias = self._grid(b, height, width, i)
        n_windows, name = gather.numel() // t, f"blocks.{i}.attn.qkv"
        if queries is None:  # q, k, v of every slot: (B nW, t, 3 heads hd), head-major
            if qkv is None:  # in one product, on the windows of the input
                qkv = self._linear(x.reshape(-1, dim).index_select(0, gather), name)
            else:
                qkv = qkv.index_select(0, gather)
            qkv = qkv.view(n_windows, t, 3 * dim)
            q, kv, back = qkv[..., :dim], qkv[..., dim:], merge
        else:  # q of the query slots only (nq a window), k and v of all
            windows = x.reshape(-1, dim).index_select(0, gather)
            slots, back = self._query_slots(merge[queries], n_windows, t)
            q = self._linear(windows[slots.view(-1)], name, rows=slice(0, dim)).view(*slots.shape, dim)
            kv = self._linear(windows, name, rows=slice(dim, None)).view(n_windows, t, 2 * dim)
            bias = bias.view(heads, -1, t).index_select(1, slots.view(-1)).view(heads, *slots.shape, t)
        out = torch.empty(*q.shape[:2], dim, dtype=x.dtype)
        scale = 1.0 / (1 << (2 * A_BITS - LOGIT_BITS))
        for h in range(heads):
            lo, hi = h * hd, (h + 1) * hd
            q_h, k, v = q[..., lo:hi], kv[..., lo:hi], kv[..., dim + lo : dim + hi]
            # q.k / 2^14 (alpha, a power of two): every partial sum is a multiple of 2^-14 of at most
            # hd 2^34 / 2^14 (check_bounds): exact in any order; floor() of it is round_shift
            logits = torch.baddbmm(bias[h], q_h, k.transpose(1, 2), alpha=scale).floor_()
            _, e = table_exp(logits, self.exp_attn)
            total = e.sum(-1, keepdim=True)
            # rounded half up: floor((2 e.v + total) / (2 total)); |2 e.v| <= 2 t 2^16 2^17 = 2^40
            numerator = torch.baddbmm(total, e, v, alpha=2.0)
            floor_div(numerator, total.mul_(2.0), out=out[..., lo:hi])
        return self._linear(out.view(-1, dim).index_select(0, back), f"blocks.{i}.attn.proj")

    @staticmethod
    def _query_slots(slots: torch.Tensor, n_windows: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window slots (N,) of the queries -> (n_windows, nq) slots, each window's queries then its own
        first slot as filler (computed, never read), nq the most a window holds; and where each query's
        row lands in (n_windows nq). With the coding schedule nq is t / groups."""
        order = torch.argsort(slots)
        window = slots[order] // t
        counts = torch.bincount(window, minlength=n_windows)
        rank = torch.arange(slots.numel()) - (torch.cumsum(counts, 0) - counts)[window]
        nq = int(counts.max())
        table = (torch.arange(n_windows) * t)[:, None].repeat(1, nq)
        table[window, rank] = slots[order]
        back = torch.empty_like(slots)
        back[order] = window * nq + rank
        return table, back

    def _first_qkv(self, x: torch.Tensor, cache: dict) -> torch.Tensor:
        """Block 0's q, k, v of every position, (B H W, 3C). A row depends on its own position's input
        alone, and the next coding pass of a latent frame changes the inputs of one group's positions:
        with the `cache` of the previous pass only the rows whose input changed are recomputed (the
        same integers)."""
        flat, name = x.reshape(-1, x.shape[-1]), "blocks.0.attn.qkv"
        if "first" in cache and cache["first"][0].shape == flat.shape:
            inputs, qkv = cache["first"]
            rows = torch.nonzero((flat != inputs).any(1)).view(-1)
            if rows.numel() <= flat.shape[0] // 2:
                inputs[rows] = flat[rows]
                qkv[rows] = self._linear(rms_norm(flat[rows]), name)
                return qkv
        qkv = self._linear(rms_norm(flat), name)
        cache["first"] = flat.clone(), qkv
        return qkv

    def hidden(
        self,
        tokens: torch.Tensor,
        known: torch.Tensor,
        prev: torch.Tensor | None,
        time: int,
        positions: torch.Tensor | None = None,
        cache: dict | None = None,
    ) -> torch.Tensor:
        """The final normalised features of one latent frame (tokens, prev: (H, W); known: (H, W), or
        (G, H, W) for G passes at once, one per known mask): (H, W, dim) (one mask) or (G, H, W, dim),
        or (N, dim) for the flat indices `positions` into (G,) H, W only. The last block's queries
        and MLP are per position, so they run on those alone (the same values, a quarter of the work
        with 4 groups). `cache`: a dict the caller keeps across the passes of a latent frame (or a
        GOP), so block 0 recomputes only what the pass changed (_first_qkv)."""
        cfg = self.config
        lo, hi, plo, phi = input_indices(tokens, known, prev, cfg.sub_bits)
        t = self.t
        x = (
            t["embed_lo"][lo]
            + t["embed_hi"][hi]
            + (t["prev_lo"][plo] + t["prev_hi"][phi] + t["time"][min(time, cfg.max_time - 1)])
        )
        x = x.clamp_(-ACT_MAX, ACT_MAX)
        batched = x.dim() == 4
        x = x if batched else x[None]
        for i in range(cfg.depth):
            if i == cfg.depth - 1 and positions is not None:  # from here on, the coded positions only
                x = x.reshape(-1, cfg.dim)[positions] + self._attention(rms_norm(x), i, positions)
            elif i == 0 and cache is not None:  # x gives the shape only: q, k, v are made
                x = x + self._attention(x, i, qkv=self._first_qkv(x, cache)).view(x.shape)
            else:
                x = x + self._attention(rms_norm(x), i).view(x.shape)
            x = x.clamp_(-ACT_MAX, ACT_MAX)
            h = self._linear(rms_norm(x), f"blocks.{i}.fc1", low=0.0)  # ReLU
            x = (x + self._linear(h, f"blocks.{i}.fc2")).clamp_(-ACT_MAX, ACT_MAX)
        x = rms_norm(x)
        return x if positions is not None or batched else x[0]

    def frequencies(self, features: torch.Tensor, half: int | None = None):
        """Features (N, dim) of the positions to code -> frequency tables (N, 512) of the low (`half` 0)
        or high (1) sub-tokens, or both as a pair (None)."""
        if half is None:
            return self.frequencies(features, 0), self.frequencies(features, 1)
        weight, bias = self.heads_out[half]
        logits = F.linear(features, weight, bias).floor_()  # round_shift by A + W - LOGIT_BITS
        return softmax_frequencies(logits, self.exp_out)


# --- export: float model -> integer tensors -------------------------------------------


def _int(x: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.round(x.double() * (1 << bits)).to(torch.int64)


def integer_tensors(model) -> dict[str, torch.Tensor]:
    """The integer weights of a trained float model, an `mlm.TokenMLM` (int32 tensors, named as
    IntegerMLM reads them). The model is not imported here: coding must not depend on training code."""
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
        q_scale[: cfg.dim] = 1 / math.sqrt(hd)
        put_linear(f"blocks.{i}.attn.qkv", block.attn.qkv, block.norm1.gain, q_scale)
        put_linear(f"blocks.{i}.attn.proj", block.attn.proj, torch.ones(cfg.dim))
        out[f"blocks.{i}.attn.rel_bias"] = _int(block.attn.rel_bias, LOGIT_BITS)
        put_linear(f"blocks.{i}.fc1", block.fc1, block.norm2.gain)
        put_linear(f"blocks.{i}.fc2", block.fc2, torch.ones(cfg.mlp * cfg.dim))
    for name, table, bias in (("head_lo", model.embed_lo, model.bias_lo), ("head_hi", model.embed_hi, model.bias_hi)):
        w = table.weight[: cfg.vocab].double() * model.norm.gain.double()[None, :] * model.head_scale
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
    assert hd * ACT_MAX * ACT_MAX < EXACT and cfg.window**2 * (1 << EXP_ATTN_BITS) * ACT_MAX < EXACT


# --- what a weights file must be to be a prior (SPEC B.2, B.8) --------------------------

PRIOR_HEADER_MAX = 1 << 20  # bytes of a weights file's JSON header
CONFIG_BOUNDS = {
    "dim": (1, 8192),
    "depth": (1, 64),
    "heads": (1, 8192),
    "mlp": (1, 16),
    "window": (2, 256),
    "sub_bits": (1, 16),
    "max_time": (1, 1024),
}


def prior_shapes(cfg: MLMConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a prior of this configuration holds, and its shape (SPEC B.2)."""
    d, v, w = cfg.dim, cfg.vocab, cfg.window
    shapes = {name: (v + 1, d) for name in ("embed_lo", "embed_hi", "prev_lo", "prev_hi")}
    shapes.update({"time": (cfg.max_time, d), "exp_attn": (EXP_ATTN_LEN,), "exp_out": (EXP_OUT_LEN,)})
    for i in range(cfg.depth):
        for name, out, inp in (
            ("attn.qkv", 3 * d, d),
            ("attn.proj", d, d),
            ("fc1", cfg.mlp * d, d),
            ("fc2", d, cfg.mlp * d),
        ):
            shapes[f"blocks.{i}.{name}.weight"], shapes[f"blocks.{i}.{name}.bias"] = (out, inp), (out,)
        shapes[f"blocks.{i}.attn.rel_bias"] = (cfg.heads, (2 * w - 1) ** 2)
    for name in ("head_lo", "head_hi"):
        shapes[name + ".weight"], shapes[name + ".bias"] = (v, d), (v,)
    return shapes


def prior_problem(cfg: MLMConfig, tensors: dict[str, torch.Tensor]) -> str | None:
    """Why `tensors` are not a prior of configuration `cfg` (SPEC B.2, B.8), or None. A decoder
    checks this before it builds anything from a weights file (error 30)."""
    for key, (low, high) in CONFIG_BOUNDS.items():
        value = getattr(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"configuration {key} = {value!r} outside {low}..{high}"
    if cfg.dim % cfg.heads or cfg.window % 2:
        return f"configuration: dim {cfg.dim} not a multiple of heads {cfg.heads}, or window {cfg.window} odd"
    expected = prior_shapes(cfg)
    if missing := sorted(expected.keys() - tensors.keys()):
        return f"tensor {missing[0]} missing"
    for name, shape in expected.items():
        t = tensors[name]
        if t.dtype != torch.int32 or tuple(t.shape) != shape:
            return f"tensor {name}: {t.dtype} {tuple(t.shape)}, expected int32 {shape}"
    if tensors["exp_attn"][0] != 1 << EXP_ATTN_BITS or tensors["exp_out"][0] != 1 << EXP_OUT_BITS:
        return "exponential tables do not start at 2^16 and 2^20"
    try:
        check_bounds({k: v.to(torch.int64) for k, v in tensors.items()}, cfg)
    except (ValueError, AssertionError) as e:
        return f"outside the bounds of SPEC B.8: {e or 'attention sums'}"
    return None
