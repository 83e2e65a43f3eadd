"""Quality metrics on uint8 RGB frames: PSNR, MS-SSIM, LPIPS, DISTS (each per frame, then the mean over
frames), and flicker (over consecutive frame pairs)."""

from tokcodec.metrics.dists import dists_video
from tokcodec.metrics.flicker import flicker
from tokcodec.metrics.lpips import LPIPS, get_lpips, lpips_video
from tokcodec.metrics.msssim import ms_ssim
from tokcodec.metrics.psnr import psnr, psnr_y

__all__ = ["LPIPS", "dists_video", "flicker", "get_lpips", "lpips_video", "ms_ssim", "psnr", "psnr_y"]
