"""Validate decoders on a recipe's selection clips (and Vid4), per clip: the numbers a decoder stage selects on.

    python tools/validate_decoders.py --recipe tokcodec/zoo/recipes/sharp/wide-b.json \
        tc-2.1 tc-2.1-sharp ~/tokcodec-runs/sharp/wide-b/best.pt -o OUT.json

Each decoder is a zoo model (its own decoder), a decoder entry (`tokcodec decode --decoder`'s names) or a
training checkpoint (.pt: its EMA weights). The clips are the recipe's `select_data` at `select_size`,
`select_frames` (logged as sel_*) and its `val_data` at `val_size`, `val_frames` (val_*), validated as the
trainer does (`train.tokenizer.validate`). Checks how well the selection set stands in for the benchmark
before a stage trusts it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from tokcodec.models import build_tokenizer, config_from_dict
from tokcodec.train.tokenizer import recipe_validation, validate, validation_sets
from tokcodec.zoo import find_in_zoo, load_model, use_zoo
from tokcodec.zoo.decoders import load_decoder


def load_any(name: str) -> torch.nn.Module:
    if name.endswith(".pt"):
        state = torch.load(Path(name).expanduser(), map_location="cpu", weights_only=True)
        model = build_tokenizer(config_from_dict(state["config"]["model"]))
        model.load_state_dict(state.get("ema") or state["model"])
        return model.eval()
    if find_in_zoo("decoders", name):
        return load_decoder(name)[0]
    return load_model(name)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("decoders", nargs="+")
    p.add_argument("--recipe", required=True, help="a tokenizer recipe with select_data (and val_data)")
    p.add_argument("--dists-frames", type=int, default=3, help="DISTS on this many frames of a clip (0: none)")
    p.add_argument("--zoo", help="look decoders and models up in this registry file (a scratch zoo)")
    p.add_argument("-o", "--output", help="write the numbers as JSON")
    args = p.parse_args()
    use_zoo(args.zoo)
    cfg = recipe_validation(args.recipe)
    names = {"sel_": cfg.select_data, "val_": cfg.val_data}
    clips = {prefix: (names[prefix], loaded) for prefix, loaded in validation_sets(cfg).items()}
    results = {}
    for name in args.decoders:
        model = load_any(name)
        per_clip, means = {}, {}
        for prefix, (paths, loaded) in clips.items():
            scores = [
                validate(model, [clip], "cpu", dists_frames=args.dists_frames, prefix=prefix)
                for clip in tqdm(loaded, desc=f"{name} {prefix}", leave=False)
            ]
            per_clip.update({Path(path).name: s for path, s in zip(paths, scores)})
            means.update({k: float(np.mean([s[k] for s in scores])) for k in scores[0]} if scores else {})
        results[name] = {"mean": means, "clips": per_clip}
        print(name, " ".join(f"{k} {v:.4f}" for k, v in means.items()), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
