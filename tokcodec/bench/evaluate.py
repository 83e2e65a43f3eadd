"""Quality and rate of one decoded clip against its reference.

- bpp = 8 * bytes of the file written / (frames x width x height): the real
  stream (elementary stream or .tkc container), headers included.
- PSNR-RGB: per frame over the three RGB channels, then the mean over frames
  (`tokcodec.metrics.psnr`); a frame with no error counts as 100 dB.
- PSNR-Y: the same pooling on the luma plane. Reference Y is the plane given to
  the anchors; decoded Y is the anchor's decoded plane, or for tokcodec the Y
  of its RGB output converted with the benchmark matrix (BT.709, limited).
- MS-SSIM on RGB (pytorch-msssim via `tokcodec.metrics.ms_ssim`), mean over frames.
- LPIPS-alex v0.1 (`tokcodec.metrics.lpips_video`), mean over frames.
- VMAF v0.6.1 (libvmaf in the same ffmpeg binary as the anchors, on yuv420p,
  mean over frames); None when the binary has no libvmaf.
"""

from __future__ import annotations

import math

import numpy as np

from tokcodec.bench.datasets import REF_FULL_RANGE, REF_MATRIX, Reference
from tokcodec.metrics.vmaf import VMAF_MODEL, vmaf_available  # noqa: F401  (re-exported: the runner's)

PSNR_CAP = 100.0


def bits_per_pixel(num_bytes: int, num_frames: int, width: int, height: int) -> float:
    """8 * bytes / (frames * width * height)."""
    if num_frames <= 0 or width <= 0 or height <= 0:
        raise ValueError("frames, width and height must be positive")
    return 8.0 * num_bytes / (num_frames * width * height)


def _capped_mean(per_frame: list[float]) -> float:
    return float(np.mean(np.minimum(np.asarray(per_frame, np.float64), PSNR_CAP)))


def psnr_rgb(ref: np.ndarray, dec: np.ndarray) -> float:
    """Mean over frames of per-frame RGB PSNR (dB, `tokcodec.metrics.psnr`), each frame capped at 100 dB."""
    from tokcodec.metrics import psnr

    if ref.shape != dec.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {dec.shape}")
    return _capped_mean([psnr(r, d) for r, d in zip(ref, dec)])


def psnr_y(ref_y: np.ndarray, dec_y: np.ndarray) -> float:
    """Mean over frames of per-frame luma PSNR (dB, `tokcodec.metrics.psnr_y` on planes), capped at 100 dB."""
    from tokcodec.metrics import psnr_y as _psnr_y

    if ref_y.shape != dec_y.shape:
        raise ValueError(f"shape mismatch: {ref_y.shape} vs {dec_y.shape}")
    return _capped_mean([_psnr_y(r, d, y_planes=True) for r, d in zip(ref_y, dec_y)])


def rgb_clip_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tokcodec.metrics.vmaf import rgb_clip_to_yuv420 as convert

    return convert(rgb, matrix=REF_MATRIX, full_range=REF_FULL_RANGE)


def yuv420_clip_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    from tokcodec.io.colour import yuv420_to_rgb

    return np.stack(
        [yuv420_to_rgb(y[i], u[i], v[i], matrix=REF_MATRIX, full_range=REF_FULL_RANGE) for i in range(len(y))]
    )


_REF_FEATURES: dict = {}


def lpips_against_reference(ref: Reference, rgb: np.ndarray, device: str = "cpu", batch: int = 4) -> float:
    """LPIPS-alex, mean over frames, with the reference's normalised features computed once per clip.

    The same arithmetic as `tokcodec.metrics.LPIPS.forward` (checked against
    `lpips_video` in the tests); every rate point of a clip reuses the
    reference half, which halves the cost of the slowest metric.
    """
    import torch

    from tokcodec.metrics import get_lpips
    from tokcodec.metrics.lpips import _frames_to_batch, _normalize

    model = get_lpips("alex", device)
    key = (ref.name, ref.source, ref.width, ref.height, ref.num_frames, device)

    def features(frames: np.ndarray) -> list[list[torch.Tensor]]:
        out = []
        for i in range(0, len(frames), batch):
            f = model.backbone(model.scaling(_frames_to_batch(frames[i : i + batch], device)))
            out.append([_normalize(t) for t in f])
        return out

    with torch.inference_mode():
        if key not in _REF_FEATURES:
            _REF_FEATURES.clear()  # one clip at a time: jobs run clip by clip
            _REF_FEATURES[key] = features(ref.rgb)
        dists = []
        for fr, fd in zip(_REF_FEATURES[key], features(rgb)):
            total = 0
            for a, b, lin in zip(fr, fd, model.lins):
                total = total + lin((a - b).pow(2)).mean(dim=(2, 3))
            dists.append(total.flatten())
    return float(torch.cat(dists).double().mean())


def vmaf(ref: Reference, y: np.ndarray, u: np.ndarray, v: np.ndarray, threads: int = 1) -> float | None:
    """VMAF (v0.6.1, mean over frames) of decoded yuv420p planes against the reference; None without libvmaf."""
    from tokcodec.metrics.vmaf import vmaf as vmaf_planes

    return vmaf_planes((ref.y, ref.u, ref.v), (y, u, v), threads)


def quality(
    ref: Reference,
    rgb: np.ndarray,
    yuv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    use_vmaf: bool = True,
    threads: int = 1,
    lpips_device: str = "cpu",
    use_dists: bool = False,
) -> dict:
    """All quality metrics of a decoded clip (RGB, and its yuv420p planes when the codec produced them);
    DISTS (VGG16 on every frame, as `tokcodec eval`: seconds a point on a CPU) only with `use_dists`."""
    from tokcodec.metrics import dists_video, ms_ssim

    if rgb.shape != ref.rgb.shape:
        raise ValueError(f"decoded clip is {rgb.shape}, the reference {ref.rgb.shape}")
    if yuv is None:
        yuv = rgb_clip_to_yuv420(rgb)
    out = {
        "psnr_rgb": psnr_rgb(ref.rgb, rgb),
        "psnr_y": psnr_y(ref.y, yuv[0]),
        "ms_ssim": float(ms_ssim(ref.rgb, rgb)),
        "lpips": lpips_against_reference(ref, rgb, device=lpips_device),
        "vmaf": vmaf(ref, *yuv, threads=threads) if use_vmaf else None,
        "dists": dists_video(ref.rgb, rgb, device=lpips_device) if use_dists else None,
    }
    for k, val in out.items():
        if isinstance(val, float) and not math.isfinite(val):
            raise RuntimeError(f"metric {k} is {val}")
    return out
