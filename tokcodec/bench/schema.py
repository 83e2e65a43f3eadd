"""What the benchmark measures, and the published numbers it is set beside (report.py and plots.py read it)."""

from __future__ import annotations

# (key in results, label, higher is better)
METRICS = [
    ("psnr_rgb", "PSNR-RGB (dB)", True),
    ("psnr_y", "PSNR-Y (dB)", True),
    ("ms_ssim", "MS-SSIM (RGB)", True),
    ("lpips", "LPIPS-alex", False),
    ("vmaf", "VMAF", True),
]


# MAGVIT-v2 paper, Table 3: MCL-JCV at 640x360, 0.0384 bpp (other clips than ours).
PAPER_TABLE3 = {
    "bpp": 0.0384,
    "rows": {
        "HEVC": {"lpips": 0.199, "psnr": 30.10, "ms_ssim": 0.943},
        "VVC": {"lpips": 0.153, "psnr": 32.65, "ms_ssim": 0.966},
        "MAGVIT": {"lpips": 0.144, "psnr": 23.70, "ms_ssim": 0.846},
        "MAGVIT-v2": {"lpips": 0.104, "psnr": 26.18, "ms_ssim": 0.894},
    },
}


def is_tokcodec(codec: str) -> bool:
    return codec.startswith("tokcodec")
