"""Entropy mode 1: a GOP's tokens range-coded under the integer MLM (SPEC 6.2).

Payload of one chunk:
    u8    steps      the schedule (1, 2 or 4 groups per latent frame; models.mlm.SCHEDULES)
    u32[] words      the range coder's output (range_coding), little-endian

For each latent frame t = 0 .. T'-1, and each group g = 0 .. steps-1, the
prior sees the frame's tokens of groups < g (the rest masked) and latent
frame t-1 (none for t = 0): it gives frequency tables for the positions of
group g, in raster order, and those positions' low sub-tokens are coded,
then their high sub-tokens. The decoder replays the same loop. Nothing
crosses a GOP: every chunk decodes on its own. Features are computed one group
of one latent frame at a time (`IntegerMLM`: memory follows the frame size),
tables for at most TABLE_BLOCK positions at a time.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..models.mlm_layout import SCHEDULES, schedule
from ..models.mlm_int import PRECISION, IntegerMLM
from .range_coding import Decoder, Encoder, words_to_bytes

DEFAULT_STEPS = 4


def _frame_plan(height: int, width: int, steps: int) -> list[tuple[torch.Tensor, np.ndarray]]:
    """Per group: (known mask (H, W) before it, flat raster positions of the group)."""
    groups = schedule(height, width, steps)
    return [(torch.from_numpy(groups < g), np.flatnonzero(groups == g)) for g in range(steps)]


# Positions whose frequency tables exist at once (SPEC 6.2: tables per bounded block): 2 x 4096 x 512
# int64 = 32 MiB, whatever the frame size or schedule. The features of a group are kept (N x dim).
TABLE_BLOCK = 4096


def _group_tables(
    prior: IntegerMLM,
    frame: torch.Tensor,
    known: torch.Tensor,
    prev: torch.Tensor | None,
    t: int,
    positions: np.ndarray,
    cache: dict,
):
    """(half, block, tables) for one group: the low sub-tokens' tables block by block, then the high
    ones' (the coding order of SPEC 6.2); `block` slices `positions`. Nothing for an empty group.
    `cache`: the prior's, kept across the groups of the GOP (IntegerMLM.hidden)."""
    if positions.size == 0:  # a group with no position in this grid (e.g. 1 x 1): nothing to code
        return
    features = prior.hidden(frame, known, prev, t, torch.from_numpy(positions), cache)
    for half in (0, 1):
        for start in range(0, positions.size, TABLE_BLOCK):
            block = slice(start, start + TABLE_BLOCK)
            yield half, block, prior.frequencies(features[block], half).numpy()


def encode_gop(
    prior: IntegerMLM,
    tokens: np.ndarray,
    steps: int = DEFAULT_STEPS,
    ideal: list | None = None,
    progress: Callable[[], None] | None = None,
) -> bytes:
    """(T', H', W') tokens -> mode 1 payload. `ideal`, if given, receives the information content
    (bits) of the tokens under the tables used, sum of -log2(f / 2^24): what the payload approaches.
    `progress` is called after each latent frame."""
    if steps not in SCHEDULES:
        raise ValueError(f"schedule of {steps} steps (known: {sorted(SCHEDULES)})")
    sub = prior.config.sub_bits
    grid = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    plan = _frame_plan(grid.shape[1], grid.shape[2], steps)
    encoder, cache = Encoder(), {}
    with torch.no_grad():
        for t in range(grid.shape[0]):
            flat = grid[t].reshape(-1).numpy()
            for known, positions in plan:
                symbols = flat[positions]
                halves = (symbols & ((1 << sub) - 1), symbols >> sub)
                for half, block, tables in _group_tables(
                    prior, grid[t], known, grid[t - 1] if t else None, t, positions, cache
                ):
                    coded = halves[half][block]
                    encoder.encode(coded, tables)
                    if ideal is not None:
                        f = tables[np.arange(len(coded)), coded].astype(np.float64)
                        ideal.append(float(np.sum(PRECISION - np.log2(f))))
            if progress is not None:
                progress()
    return bytes([steps]) + words_to_bytes(encoder.finish())


def decode_gop(
    prior: IntegerMLM, payload: bytes, shape: tuple[int, int, int], progress: Callable[[], None] | None = None
) -> np.ndarray:
    """Mode 1 payload -> (T', H', W') int64 tokens. A payload no encoder writes (a schedule byte
    other than 1, 2, 4; data the range decoder cannot decode) raises ValueError; one coded under
    another prior mostly decodes to other tokens, which the chunk's tokens CRC rejects (SPEC 6.2)."""
    if len(payload) < 1 or payload[0] not in SCHEDULES or (len(payload) - 1) % 4:
        raise ValueError(f"not a mode 1 payload (schedule byte {payload[:1].hex() or 'missing'}, {len(payload)} bytes)")
    steps = payload[0]
    sub = prior.config.sub_bits
    decoder = Decoder(payload[1:])
    grid = torch.zeros(shape, dtype=torch.int64)
    plan = _frame_plan(shape[1], shape[2], steps)
    cache = {}
    with torch.no_grad():
        for t in range(shape[0]):
            flat = grid[t].view(-1)
            for known, positions in plan:
                decoded = np.zeros(positions.size, dtype=np.int64)  # low, then high sub-tokens added
                for half, block, tables in _group_tables(
                    prior, grid[t], known, grid[t - 1] if t else None, t, positions, cache
                ):
                    decoded[block] += decoder.decode(tables).astype(np.int64) << (sub * half)
                flat[torch.from_numpy(positions)] = torch.from_numpy(decoded)
            if progress is not None:
                progress()
    return grid.numpy()
