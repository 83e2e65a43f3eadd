"""The per-GOP colour offset (SPEC 4.1 bytes 24..26, revision 1.3): a DC correction sent beside the tokens.

A tokenizer reconstructs texture well but can miss a GOP's mean colour by a
few 8-bit levels (tc-2: up to 5.7 on the benchmark clips, a visible cast).
The encoder knows both means, so it sends the difference: one signed byte per
R'G'B' channel in quarter levels, added by the decoder to the network's
output before resizing and rounding. It costs no bytes (it fills the chunk
header's reserved word) and a decoder that ignores it still shows the video,
with the cast.

The decoded mean is estimated on frames 0 and s of the GOP (its first
SAMPLED_LATENT_FRAMES latent frames, `decode_stream(..., sampled=True)`),
against the same source frames. How the encoder estimates is its own choice
(the decoder only adds the byte); sampling every latent frame, 0, s, 2s, ...,
cost about 55% of a decode at GOP 17 (74 ms a 640x360 frame on 2 cores, 23% of
a default-mode encode), and on 20 GOPs of 10 clips moved the offset by at most
2 quarter levels (0.5 of a level) against sampling the first two.
"""

from __future__ import annotations

import numpy as np
import torch

UNITS_PER_LEVEL = 4  # the offset's unit is 1/4 of an 8-bit level
NONE = (0, 0, 0)
SAMPLED_LATENT_FRAMES = 2  # the estimate decodes GOP frames 0 and s only


def frame_means(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, t, H, W) in [-1, 1] -> (t, 3) float64 mean per frame and channel."""
    return x[0].double().mean((2, 3)).T


def estimate(
    model: torch.nn.Module, tokens: torch.Tensor, source_means: torch.Tensor, width: int, height: int, progress=None
) -> tuple[int, int, int]:
    """The offset (quarter levels, R'G'B') that brings the decoded GOP's mean to the source's.

    tokens: (1, T', H', W'); source_means: (T', 3), the means of source frames 0, s, 2s, ...
    (as padded for coding) at the coded size `width` x `height`; the first SAMPLED_LATENT_FRAMES
    of them are used. `progress(share)`: called with the share of the estimate's decode each piece
    held (the shares sum to 1).
    """
    tokens, source_means = tokens[:, :SAMPLED_LATENT_FRAMES], source_means[:SAMPLED_LATENT_FRAMES]
    pieces = []
    for x in model.decode_stream(tokens, sampled=True):
        pieces.append(frame_means(x[:, :, :, :height, :width]).cpu())  # one piece at a time: bounded memory
        if progress is not None:
            progress(x.shape[2] / tokens.shape[1])
    decoded = torch.cat(pieces)
    difference = (source_means.cpu() - decoded).mean(0) * 127.5  # 8-bit levels
    code = np.clip(np.round(difference.numpy() * UNITS_PER_LEVEL), -128, 127)
    return tuple(int(v) for v in code)


def apply(x: torch.Tensor, offset: tuple[int, int, int]) -> torch.Tensor:
    """Add the offset to (1, 3, t, H, W) network output in [-1, 1] (before resizing and rounding, SPEC A.3)."""
    if offset == NONE:
        return x
    shift = torch.tensor(offset, dtype=x.dtype, device=x.device) / (UNITS_PER_LEVEL * 127.5)
    return x + shift.view(1, 3, 1, 1, 1)
