"""Tokenizer families, chosen by the `family` key of a model's config (the zoo's registry).

Every family has the same contract (see tokenizer.Tokenizer): `encode`
(B, 3, 1 + s*k, H, W) in [-1, 1] -> int64 tokens (B, 1 + k, H/ss, W/ss),
`decode` back, `forward` for training, `config` with `temporal_stride`,
`spatial_stride`, `token_bits` and `latent_shape`, and
`coding_memory_bytes(frames, height, width)` for the memory guard. The codec
calls the streaming forms: `encode_stream(groups)` (frame 0, then s frames
per group), `decode_stream(tokens, sampled=False)` (pieces of frames in order; sampled:
only frames 0, s, 2s, ..., for the colour offset's estimate) and
`frames_held(frames)` (how many frames of a GOP are alive at once).
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn as nn

from .patch import PatchTokenizer, PatchTokenizerConfig
from .tokenizer import Tokenizer, TokenizerConfig


class Family(NamedTuple):
    model: type[nn.Module]
    config: type


FAMILIES: dict[str, Family] = {
    "magvit2": Family(Tokenizer, TokenizerConfig),  # tc-small-1: full-resolution causal 3D convolutions
    "patch": Family(PatchTokenizer, PatchTokenizerConfig),  # tc-2: patchified, compute at low resolution
}


def config_from_dict(d: dict):
    """A family's config from its dict form (configs without `family` are the original magvit2 family)."""
    family = d.get("family", "magvit2")
    if family not in FAMILIES:
        raise ValueError(f"unknown tokenizer family '{family}' (known: {', '.join(FAMILIES)})")
    return FAMILIES[family].config.from_dict({k: v for k, v in d.items() if k != "family" or family != "magvit2"})


def build_tokenizer(config) -> nn.Module:
    family = getattr(config, "family", "magvit2")
    return FAMILIES[family].model(config)
