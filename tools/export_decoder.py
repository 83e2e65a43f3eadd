"""Save a decoder-only fine-tuning run's decoder as fp16 safetensors: a warm start that survives the run folder.

    python tools/export_decoder.py ~/tokcodec-runs/sharp/gan/best.pt --base tc-2.1 -o DECODER.safetensors

Only the `decoder.*` tensors (the EMA's when the run kept one); the metadata names the zoo model whose
encoder and tokens they belong to, its weights' sha256, and the checkpoint's step and validation.
`tokcodec train tokenizer --init-from DECODER.safetensors` starts from the base model with this decoder.

    python tools/export_decoder.py DECODER.safetensors --base tc-2.1 --register tc-2.1-sharp --card CARD.json

publishes a kept decoder (or a checkpoint's) as a decoder entry of the zoo (`tokcodec decode --decoder NAME`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tokcodec.zoo import get_entry, use_zoo
from tokcodec.zoo.decoders import register_decoder


def decoder_shape(trained: dict, base: dict) -> dict:
    """The config keys the trained model changed from its base's: decoder keys only (the encoder, and so
    the tokens, must be the base's)."""
    changed = {k: v for k, v in trained.items() if base.get(k) != (tuple(v) if isinstance(v, list) else v)}
    if any(not k.startswith("dec_") for k in changed):
        raise SystemExit(f"the checkpoint's model differs from its base's beyond the decoder: {sorted(changed)}")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--base", required=True, help="the zoo model whose tokens the decoder decodes")
    parser.add_argument("-o", "--output", help="write the decoder here (fp16 safetensors)")
    parser.add_argument("--register", metavar="NAME", help="add it to the zoo as decoder entry NAME")
    parser.add_argument("--card", help="JSON facts for the entry's card (with --register)")
    parser.add_argument("--zoo", help="register into this registry file instead of the shipped one")
    args = parser.parse_args()
    use_zoo(args.zoo)
    if not (args.output or args.register):
        parser.error("give -o, --register or both")
    entry = get_entry(args.base)
    if args.checkpoint.endswith(".safetensors"):  # a kept decoder: its tensors and metadata as they are
        decoder = load_file(args.checkpoint)
        with safe_open(args.checkpoint, "pt") as f:
            meta = f.metadata() or {}
        if meta.get("base_sha256") != entry.weights_hash.hex():
            raise SystemExit(f"{args.checkpoint} decodes other tokens than {entry.name}'s")
    else:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        weights = state.get("ema") or state["model"]
        decoder = {k: v.half().contiguous() for k, v in weights.items() if k.startswith("decoder.")}
        meta = {
            "base": entry.name,
            "base_sha256": entry.weights_hash.hex(),
            "step": str(state["step"]),
            "metrics": json.dumps(state.get("metrics", {})),
        }
        shape = decoder_shape(state["config"]["model"], entry.config.to_dict())
        if shape:
            meta["decoder_config"] = json.dumps(shape)
    if args.output:
        save_file(decoder, args.output, metadata=meta)
        print(f"{args.output}: {len(decoder)} tensors, step {meta.get('step', '?')}, base {entry.name}")
    if args.register:
        card = json.loads(Path(args.card).read_text()) if args.card else {}
        shape = json.loads(meta.get("decoder_config", "{}"))
        registered = register_decoder(args.register, entry.name, decoder, card, config=shape)
        print(f"registered decoder '{registered.name}' for {entry.name}'s tokens: {registered.file}")


if __name__ == "__main__":
    main()
