"""MS-SSIM on uint8 RGB frames via pytorch-msssim: per frame, then the mean over frames.

Each frame is scored on float [0, 255] tensors with data_range=255, averaged over
the three RGB channels (pytorch-msssim's default), with its standard 5 scales,
11-tap Gaussian window (sigma 1.5) and weights.

Small frames: 5 scales need the smaller side > (win_size - 1) * 16, i.e. > 160
for the standard window. For sides 33..160 the window shrinks to the largest odd
size that fits (values then are not comparable with standard MS-SSIM); below 33
it falls back to single-scale SSIM with a window of at most 11 taps and at most
the smaller side. `window_for(h, w)` says which applies.
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim

STANDARD_WIN = 11
_DOWNSAMPLE = 2**4  # 5 scales = 4 halvings


def window_for(height: int, width: int) -> tuple[int, bool]:
    """(window size, multi-scale?) used for frames of this size; False means the SSIM fallback."""
    side = min(height, width)
    for win in range(STANDARD_WIN, 1, -2):
        if side > (win - 1) * _DOWNSAMPLE:
            return win, True
    return min(STANDARD_WIN, side - 1 + side % 2), False  # largest odd size <= side


def ms_ssim(a: np.ndarray, b: np.ndarray, batch: int = 8) -> float:
    """MS-SSIM of RGB uint8 frames (H, W, 3) or clips (T, H, W, 3): mean over frames (1.0 = identical)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.shape[-1] != 3 or a.ndim not in (3, 4):
        raise ValueError(f"expected two equal (T, H, W, 3) or (H, W, 3) arrays, got {a.shape} and {b.shape}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    win, multiscale = window_for(*a.shape[1:3])
    scores = []
    for i in range(0, len(a), batch):  # bounded memory for long clips
        # torch.tensor copies: the frames may be read-only views (e.g. from PIL).
        x = torch.tensor(a[i : i + batch]).permute(0, 3, 1, 2).float()
        y = torch.tensor(b[i : i + batch]).permute(0, 3, 1, 2).float()
        if multiscale:
            scores.append(_ms_ssim(x, y, data_range=255, size_average=False, win_size=win))
        else:
            scores.append(_ssim(x, y, data_range=255, size_average=False, win_size=win))
    return float(torch.cat(scores).double().mean())
