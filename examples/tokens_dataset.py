"""Feed tokcodec token grids to a model: a tiny next-latent-frame predictor over a folder of .tkc files.

    tokcodec transcode my_clips/ -o tokens/          # or: tokcodec tokens my_clips/ -o tokens/ (.npz)
    python examples/tokens_dataset.py tokens/ --steps 200

Reading tokens needs only numpy (`iter_gops` never decodes pixels); torch is
just the model here. Each token is `token_bits` bits, bit i the sign of latent
channel i, so a grid (T', H', W') unpacks to (T', bits, H', W') of 0/1. The
model sees latent frame t and predicts the bits of frame t + 1 at each position
(binary cross-entropy): a stand-in for whatever you train on tokens.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np


def token_grids(folder: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """(file name, int64 grid (T', H', W')) for every GOP of every .tkc or .npz export under `folder`."""
    from tokcodec.codec.tokens import iter_gops, load_npz

    for path in sorted(Path(folder).rglob("*")):
        if path.suffix == ".tkc":
            yield from ((path.name, g.tokens) for g in iter_gops(path))
        elif path.suffix == ".npz":
            yield from ((path.name, grid.astype(np.int64)) for grid in load_npz(path)[1])


def to_bits(grid: np.ndarray, bits: int) -> np.ndarray:
    """(T', H', W') tokens -> (T', bits, H', W') float32 of 0/1 (token bit i = latent channel i > 0)."""
    return ((grid[:, None] >> np.arange(bits)[None, :, None, None]) & 1).astype(np.float32)


def pairs(folder: str | Path, bits: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(latent frame t, latent frame t + 1) as bit planes, over every GOP with at least two latent frames."""
    for _, grid in token_grids(folder):
        planes = to_bits(grid, bits)
        for t in range(len(planes) - 1):
            yield planes[t], planes[t + 1]


def train(folder: str | Path, steps: int = 100, bits: int = 18, lr: float = 1e-2, seed: int = 0) -> list[float]:
    """A few steps of a 3x3-convolution predictor; returns the losses (they should go down)."""
    import torch

    torch.manual_seed(seed)
    data = list(pairs(folder, bits))
    if not data:
        raise SystemExit(f"{folder}: no GOP with two latent frames (.tkc or .npz) found")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(bits, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, bits, 3, padding=1)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        now, after = data[step % len(data)]  # one pair per step: grids differ in size between clips
        logits = model(torch.from_numpy(now)[None])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(after)[None])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of .tkc files (or tokcodec tokens .npz exports)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--bits", type=int, default=18, help="token bits (tokcodec info shows them)")
    args = parser.parse_args()
    grids = list(token_grids(args.folder))
    print(f"{len(grids)} GOPs, {sum(g.size for _, g in grids)} tokens")
    losses = train(args.folder, args.steps, args.bits)
    print(f"loss {losses[0]:.4f} -> {np.mean(losses[-10:]):.4f} (mean of the last 10 steps)")


if __name__ == "__main__":
    main()
