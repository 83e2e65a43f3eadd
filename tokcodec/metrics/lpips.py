"""LPIPS v0.1 (Zhang et al., "The Unreasonable Effectiveness of Deep Features
as a Perceptual Metric", CVPR 2018, https://arxiv.org/abs/1801.03924).

Reproduces richzhang/PerceptualSimilarity `lpips.LPIPS(net=..., version="0.1")`:
scale the [-1, 1] input, take five ReLU feature maps of an ImageNet backbone,
unit-normalise each over channels, square the difference, weight channels with a
learned 1x1 conv, average over space and sum over layers. The backbones are
plain `torch.nn` (no torchvision); weights ship in `weights/` (see
`LICENSE-lpips.txt`, converted by `tools/convert_lpips_weights.py`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from tokcodec.errors import ModelError

WEIGHTS_DIR = Path(__file__).parent / "weights"  # AlexNet (evaluation) and DISTS' alpha/beta


def weights_dir_for(net: str) -> Path:
    """Where a backbone's weights are: AlexNet's ship with tokcodec; VGG's (training, DISTS) with the
    companion package tokcodec-extra, which keeps them out of the main wheel."""
    if net != "vgg":
        return WEIGHTS_DIR
    from tokcodec.companion import INSTALL_HINT, companion_dir

    extra = companion_dir()
    if extra is None:
        raise ModelError(f"LPIPS-VGG (training losses, DISTS) is in the companion package: {INSTALL_HINT}")
    return extra / "weights"


NETS = ("alex", "vgg")


class ScalingLayer(nn.Module):
    """Maps [-1, 1] RGB to the backbone's ImageNet normalisation (LPIPS v0.1 constants)."""

    def __init__(self):
        super().__init__()
        # Not persistent: constants of the metric, not weights to ship.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


def _conv_relu(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding), nn.ReLU()]


def _alexnet_stages() -> list[nn.Sequential]:
    """torchvision `alexnet().features` cut after relu1..relu5 (the LPIPS slices)."""
    return [
        nn.Sequential(*_conv_relu(3, 64, 11, stride=4, padding=2)),
        nn.Sequential(nn.MaxPool2d(3, 2), *_conv_relu(64, 192, 5, padding=2)),
        nn.Sequential(nn.MaxPool2d(3, 2), *_conv_relu(192, 384, 3, padding=1)),
        nn.Sequential(*_conv_relu(384, 256, 3, padding=1)),
        nn.Sequential(*_conv_relu(256, 256, 3, padding=1)),
    ]


def _vgg16_stages() -> list[nn.Sequential]:
    """torchvision `vgg16().features` cut after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    def block(cin: int, cout: int, convs: int, pool: bool) -> nn.Sequential:
        layers: list[nn.Module] = [nn.MaxPool2d(2, 2)] if pool else []
        for i in range(convs):
            layers += _conv_relu(cin if i == 0 else cout, cout, 3, padding=1)
        return nn.Sequential(*layers)

    return [
        block(3, 64, 2, False),
        block(64, 128, 2, True),
        block(128, 256, 3, True),
        block(256, 512, 3, True),
        block(512, 512, 3, True),
    ]


_STAGES = {"alex": _alexnet_stages, "vgg": _vgg16_stages}


class FeatureStages(nn.Module):
    """A backbone returning the output of each stage (the five LPIPS layers)."""

    def __init__(self, stages: list[nn.Sequential]):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels = [[m for m in s if isinstance(m, nn.Conv2d)][-1].out_channels for s in stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _normalize(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    # Same eps placement as the reference (added to the norm, not under the sqrt).
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_verified_weights(
    net: str, weights_dir: Path | None = None, stem: str | None = None
) -> dict[str, torch.Tensor]:
    """State dict of `net` from `weights_dir` (default: weights_dir_for(net)), every file checked against
    SHA256SUMS, upcast to fp32.

    Files are `<stem>.safetensors` or shards `<stem>-0000k-of-0000N.safetensors` (stem:
    `lpips_<net>` unless given), all listed in `SHA256SUMS` (sha256sum format). Raises
    ModelError when the list, a file, or a hash does not match.
    """
    stem = stem or f"lpips_{net}"
    weights_dir = Path(weights_dir or weights_dir_for(net))
    sums_path = weights_dir / "SHA256SUMS"
    try:
        lines = sums_path.read_text().splitlines()
    except OSError as e:
        raise ModelError(f"LPIPS weights: cannot read {sums_path}: {e.strerror}") from None
    pattern = re.compile(rf"{re.escape(stem)}(-\d{{5}}-of-\d{{5}})?\.safetensors")
    expected = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and pattern.fullmatch(parts[1].lstrip("*")):
            expected[parts[1].lstrip("*")] = parts[0].lower()
    if not expected:
        raise ModelError(f"LPIPS weights: no {stem} files listed in {sums_path}")
    state: dict[str, torch.Tensor] = {}
    for name, digest in sorted(expected.items()):
        path = Path(weights_dir) / name
        if not path.is_file():
            raise ModelError(f"LPIPS weights: missing file {path}")
        if _sha256(path) != digest:
            raise ModelError(f"LPIPS weights: sha256 mismatch for {path}")
        state.update({k: v.float() for k, v in load_file(str(path)).items()})
    return state


class LPIPS(nn.Module):
    """LPIPS v0.1 distance between two batches of RGB images in [-1, 1], shape (B, 3, H, W).

    `forward(x0, x1)` returns a (B,) tensor (the reference returns (B, 1, 1, 1)).
    Frozen and in eval mode; gradients still flow to the inputs, so it serves as
    a training loss (use net="vgg" there, "alex" for evaluation as in the papers).
    The module has no dropout or batch norm, so `.train()` on a parent changes nothing.
    """

    def __init__(self, net: str = "alex", weights_dir: str | Path | None = None):
        super().__init__()
        if net not in NETS:
            raise ValueError(f"net must be one of {NETS}, got {net!r}")
        self.net_name = net
        self.scaling = ScalingLayer()
        self.backbone = FeatureStages(_STAGES[net]())
        # The reference wraps each 1x1 conv in Dropout; a no-op in eval mode, so omitted.
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.backbone.channels)
        state = load_verified_weights(net, Path(weights_dir) if weights_dir else None)
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelError(f"LPIPS weights for {net!r} do not fit the model: {str(e).splitlines()[0]}") from None
        self.requires_grad_(False)
        self.eval()

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        f0 = self.backbone(self.scaling(x0))
        f1 = self.backbone(self.scaling(x1))
        total = 0
        for a, b, lin in zip(f0, f1, self.lins):
            total = total + lin((_normalize(a) - _normalize(b)).pow(2)).mean(dim=(2, 3))
        return total.flatten()


@functools.lru_cache(maxsize=None)
def _cached(net: str, device: str) -> LPIPS:
    return LPIPS(net).to(device)


def get_lpips(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """The shared LPIPS module for (net, device): weights load and verify once per process."""
    return _cached(net, str(torch.device(device)))


def _frames_to_batch(frames: np.ndarray, device: str | torch.device) -> torch.Tensor:
    # (N, H, W, 3) uint8 -> (N, 3, H, W) in [-1, 1], the same scaling as
    # tokcodec.io.frames.to_tensor (which builds clips, not frame batches).
    x = torch.tensor(frames, device=device)  # a copy: frames may be read-only (e.g. from PIL)
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def lpips_video(
    a: np.ndarray, b: np.ndarray, net: str = "alex", device: str | torch.device = "cpu", batch: int = 8
) -> float:
    """Mean over frames of per-frame LPIPS between uint8 RGB (T, H, W, 3) or (H, W, 3) arrays."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.shape[-1] != 3 or a.ndim not in (3, 4):
        raise ValueError(f"expected two equal (T, H, W, 3) or (H, W, 3) arrays, got {a.shape} and {b.shape}")
    if a.ndim == 3:
        a, b = a[None], b[None]
    model = get_lpips(net, device)
    dists = []
    with torch.inference_mode():
        for i in range(0, len(a), batch):
            dists.append(model(_frames_to_batch(a[i : i + batch], device), _frames_to_batch(b[i : i + batch], device)))
    return float(torch.cat(dists).double().mean())
