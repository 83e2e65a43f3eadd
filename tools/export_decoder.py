"""Save a decoder-only fine-tuning run's decoder as fp16 safetensors: a warm start that survives the run folder.

    python tools/export_decoder.py ~/tokcodec-runs/sharp/gan/best.pt --base tc-2.1 -o DECODER.safetensors

Only the `decoder.*` tensors (the EMA's when the run kept one); the metadata names the zoo model whose
encoder and tokens they belong to, its weights' sha256, and the checkpoint's step and validation.
`tokcodec train tokenizer --init-from DECODER.safetensors` starts from the base model with this decoder.
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import save_file

from tokcodec.zoo import get_entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--base", required=True, help="the zoo model whose tokens the decoder decodes")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    weights = state.get("ema") or state["model"]
    decoder = {k: v.half().contiguous() for k, v in weights.items() if k.startswith("decoder.")}
    entry = get_entry(args.base)
    meta = {
        "base": entry.name,
        "base_sha256": entry.weights_hash.hex(),
        "step": str(state["step"]),
        "metrics": json.dumps(state.get("metrics", {})),
    }
    save_file(decoder, args.output, metadata=meta)
    print(f"{args.output}: {len(decoder)} tensors, step {state['step']}, base {entry.name}")


if __name__ == "__main__":
    main()
