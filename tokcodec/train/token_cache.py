"""Tokenize training data once: the MLM trains on token grids, not pixels.

The cache holds, for each source, the token grids of its GOPs exactly as
`tokcodec encode` would write them (GOP 17, the zoo tokenizer's own
padding), at the source's size and at half size (the ladder's lower rungs
code downscaled frames, so the prior should know their statistics too).
Stills are 1-frame GOPs (one latent frame). The file is a torch pickle of
plain tensors: {"tokenizer": sha256, "gops": [int32 (T', h, w), ...],
"names": [...]}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..codec.pipeline import pad_gop
from .data import FrameBank


def _gop_tokens(model, frames: list[np.ndarray], scale: float) -> torch.Tensor:
    h, w = frames[0].shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    with torch.no_grad():
        return model.encode(pad_gop(frames, model, size))[0].to(torch.int32)


def build_token_cache(
    model,
    model_hash: str,
    bank: FrameBank,
    out: str | Path,
    gop: int = 17,
    gops_per_video: int = 6,
    scales: tuple[float, ...] = (1.0, 0.5),
    max_stills: int = 300,
    quiet: bool = False,
) -> dict:
    """Encode the bank's videos (up to `gops_per_video` GOPs per scale) and stills into `out`."""
    model.eval()
    jobs = []
    for i, video in enumerate(bank.videos):
        frames = list(video.permute(0, 2, 3, 1).numpy())
        starts = list(range(0, len(frames), gop))[:gops_per_video]
        for scale in scales:
            jobs += [(f"video{i}@{scale}:{s}", frames[s : s + gop], scale) for s in starts]
    for i, still in enumerate(bank.stills[:max_stills]):
        jobs.append((f"still{i}", list(still.permute(0, 2, 3, 1).numpy()), 1.0))
    names, grids = [], []
    for name, frames, scale in tqdm(jobs, desc="tokenize", unit="gop", disable=quiet):
        names.append(name)
        grids.append(_gop_tokens(model, frames, scale))
    cache = {"tokenizer": model_hash, "gops": grids, "names": names}
    tmp = Path(str(out) + ".tmp")
    torch.save(cache, tmp)
    tmp.replace(out)
    return cache


def load_token_cache(path: str | Path, model_hash: str | None = None) -> dict:
    cache = torch.load(path, weights_only=True)
    if model_hash is not None and cache["tokenizer"] != model_hash:
        raise ValueError(f"{path} holds tokens of another tokenizer ({cache['tokenizer'][:12]})")
    return cache
