"""Multiply-adds per pixel of a tokenizer's encoder and decoder, counted from the convolutions it runs.

Counted with forward hooks on every Conv2d/Conv3d/Linear during a real
encode and decode of a clip (so streaming, skipped frames and folds are
counted as they run), divided by the clip's pixels x frames. Norms,
activations and resampling are not counted (they are a few per pixel).

    python -m tokcodec.bench.macs tc-2 --frames 17 --size 640x360
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn as nn


def _conv_macs(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    kernel = 1
    for k in module.kernel_size:
        kernel *= k
    return out.numel() * module.in_channels // module.groups * kernel


def count_macs(model: nn.Module, frames: int = 17, height: int = 360, width: int = 640) -> dict:
    """{'encode': MACs/pixel, 'decode': MACs/pixel, 'params': n} for a (frames, height, width) clip."""
    total = [0]

    def hook(module, _inputs, out):
        total[0] += _conv_macs(module, out)

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))
    ]
    s, ss = model.config.temporal_stride, model.config.spatial_stride
    frames = 1 + (frames - 1) // s * s
    height, width = -(-height // ss) * ss, -(-width // ss) * ss
    x = torch.zeros(1, 3, frames, height, width)
    try:
        with torch.no_grad():
            tokens = model.encode(x)
            encode = total[0]
            total[0] = 0
            model.decode(tokens)
            decode = total[0]
    finally:
        for h in handles:
            h.remove()
    pixels = frames * height * width
    return {
        "encode_macs_per_pixel": round(encode / pixels),
        "decode_macs_per_pixel": round(decode / pixels),
        "params": sum(p.numel() for p in model.parameters()),
        "clip": [frames, height, width],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="zoo model name")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    from ..zoo import load_model

    model, _ = load_model(args.model)
    w, h = map(int, args.size.split("x"))
    print(json.dumps(count_macs(model, args.frames, h, w)))


if __name__ == "__main__":
    main()
