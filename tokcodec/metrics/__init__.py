"""Quality metrics on uint8 RGB frames: PSNR, MS-SSIM, LPIPS (each per frame, then the mean over frames)."""

from tokcodec.metrics.lpips import LPIPS, get_lpips, lpips_video
from tokcodec.metrics.msssim import ms_ssim
from tokcodec.metrics.psnr import psnr, psnr_y

__all__ = ["LPIPS", "get_lpips", "lpips_video", "ms_ssim", "psnr", "psnr_y"]
