"""Flicker: how much a decoded clip's frame-to-frame change departs from the source's.

For consecutive frames t-1, t: the mean over pixels of
|(decoded_t - decoded_t-1) - (source_t - source_t-1)| on luma (BT.601 weights,
0-255 scale), averaged over pairs. Texture invented independently per frame
changes when the source does not, which raises it; a decoder that holds
detail steady does not. Pairs that straddle a GOP boundary (a GOP decodes
alone) are reported apart from pairs inside a GOP.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def _luma(frames: np.ndarray) -> np.ndarray:
    return np.asarray(frames, dtype=np.float64) @ LUMA


def flicker(source: np.ndarray, decoded: np.ndarray, gop: int | None = None) -> dict:
    """(T, H, W, 3) uint8 clips -> {"flicker": mean inside GOPs, "flicker_gop_boundary": mean across
    GOP boundaries (None without any)}; frame t starts a GOP when t % gop == 0 (gop None: one GOP)."""
    if source.shape != decoded.shape or source.ndim != 4:
        raise ValueError(f"expected two equal (T, H, W, 3) clips, got {source.shape} and {decoded.shape}")
    inside, boundary = [], []
    previous = None
    for t in range(len(source)):
        current = _luma(decoded[t]) - _luma(source[t])  # the difference of changes, per frame
        if previous is not None:
            (boundary if gop and t % gop == 0 else inside).append(float(np.abs(current - previous).mean()))
        previous = current
    return {
        "flicker": float(np.mean(inside)) if inside else None,
        "flicker_gop_boundary": float(np.mean(boundary)) if boundary else None,
    }
