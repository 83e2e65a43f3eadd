"""Frames (uint8 RGB numpy) <-> clips (float32 torch in [-1, 1]): the only
conversions between the two, so rounding happens in exactly one way."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(frames: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """uint8 frames, a list of (H, W, 3) or one (T, H, W, 3) array ->
    float32 (1, 3, T, H, W) with x = rgb / 127.5 - 1."""
    clip = np.stack(frames) if isinstance(frames, (list, tuple)) else np.asarray(frames)
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {clip.dtype} {clip.shape}")
    x = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2).unsqueeze(0)
    return x.float() / 127.5 - 1.0


def to_frames(x: torch.Tensor) -> np.ndarray:
    """float (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3), rounded and clamped."""
    if x.ndim != 5 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected a (1, 3, T, H, W) tensor, got {tuple(x.shape)}")
    rgb = ((x.detach()[0].float() + 1.0) * 127.5).round().clamp(0, 255)
    return rgb.to(torch.uint8).permute(1, 2, 3, 0).contiguous().cpu().numpy()


def resize_area(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 (H, W, 3) frame to size = (W, H) by area averaging.

    torch's "area" mode is adaptive average pooling: for integer factors it is
    the exact box filter (each output pixel the mean of a k x k block); for
    other factors each output pixel is the plain mean of the input pixels its
    cell overlaps. Meant for downscaling (upscaling repeats pixels).
    """
    width, height = size
    if frame.shape[:2] == (height, width):
        return frame
    # A channels-last view (no copy): the pooling kernels are fastest on it.
    x = torch.from_numpy(np.ascontiguousarray(frame)).unsqueeze(0).float().permute(0, 3, 1, 2)
    y = F.interpolate(x, size=(height, width), mode="area")
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)[0].contiguous().numpy()
