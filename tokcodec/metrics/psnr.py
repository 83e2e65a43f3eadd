"""PSNR on uint8 frames: per-frame PSNR, then the mean over frames.

Pooling: each frame's MSE is taken over all its pixels (and channels), turned
into dB, and the dB values are averaged over frames. This is not the PSNR of
the clip-wide MSE (what ffmpeg's psnr filter prints as its average); the two
differ when quality varies between frames.

A frame with zero error has PSNR `inf`, so identical inputs give `inf` and so
does any clip containing an identical frame; callers that plot or average
across clips cap it (e.g. `min(v, 100.0)`).
"""

from __future__ import annotations

import numpy as np


def _frames(x: np.ndarray, frame_ndim: int) -> np.ndarray:
    # A single frame becomes a clip of one, so pooling is the same code path.
    return x[None] if x.ndim == frame_ndim else x


def _check(a: np.ndarray, b: np.ndarray, frame_ndims: tuple[int, ...]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.ndim not in frame_ndims:
        raise ValueError(f"expected an array with {' or '.join(map(str, frame_ndims))} dims, got shape {a.shape}")


def _check_rgb(a: np.ndarray, b: np.ndarray) -> None:
    _check(a, b, (3, 4))
    if a.shape[-1] != 3:
        raise ValueError(f"expected RGB with 3 channels last, got shape {a.shape}")


def _mean_frame_psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = (diff * diff).reshape(len(diff), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        per_frame = 10.0 * np.log10(float(data_range) ** 2 / mse)
    return float(per_frame.mean())


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    """PSNR in dB of RGB frames (H, W, 3) or clips (T, H, W, 3): mean over frames of per-frame PSNR.

    Identical frames give `inf` (see the module docstring).
    """
    a, b = np.asarray(a), np.asarray(b)
    _check_rgb(a, b)
    return _mean_frame_psnr(_frames(a, 3), _frames(b, 3), data_range)


def psnr_y(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float = 255,
    *,
    y_planes: bool = False,
    matrix: int = 1,
    full_range: bool = False,
) -> float:
    """Luma PSNR in dB, per frame then mean over frames.

    With `y_planes=True`, `a` and `b` are luma planes (H, W) or (T, H, W) that the
    caller converted. Otherwise they are RGB (H, W, 3) / (T, H, W, 3) and Y comes
    from `tokcodec.io.colour.rgb_to_yuv420(frame, matrix=matrix, full_range=full_range)`
    (H.273 matrix code point, 1 = BT.709; limited range by default, as in coded video).
    """
    a, b = np.asarray(a), np.asarray(b)
    if not y_planes:
        _check_rgb(a, b)
        a, b = _luma(_frames(a, 3), matrix, full_range), _luma(_frames(b, 3), matrix, full_range)
    _check(a, b, (2, 3))
    return _mean_frame_psnr(_frames(a, 2), _frames(b, 2), data_range)


def _luma(clip: np.ndarray, matrix: int, full_range: bool) -> np.ndarray:
    # Imported here: colour conversion lives in tokcodec.io (the one place for
    # RGB <-> YUV), and plain RGB metrics should not depend on it.
    try:
        from tokcodec.io.colour import rgb_to_yuv420
    except ImportError as e:
        raise RuntimeError(
            "psnr_y on RGB needs tokcodec.io.colour; convert to Y yourself and pass y_planes=True"
        ) from e
    return np.stack([rgb_to_yuv420(f, matrix=matrix, full_range=full_range)[0] for f in clip])
