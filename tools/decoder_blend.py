"""Move a decoder entry's weights along the line from its base model's decoder; validate each point.

    python tools/decoder_blend.py tc-2.1-sharp --alpha 1.0 --alpha 1.25 --alpha 1.5 [--save 1.25 -o OUT.safetensors]
    python tools/decoder_blend.py tc-2.1-sharp --recipe tokcodec/zoo/recipes/sharp/wide-b.json --alpha 0.8 --alpha 0.9

alpha 0 is the base model's own decoder, 1 the entry; above 1 extrapolates (network interpolation, as in
ESRGAN). A wider entry (its `config`) blends with the own decoder grown to its shape, the new channels
silent (`train.tokenizer.grown_state`). Prints the training's validation (`train.tokenizer.validate`:
PSNR, LPIPS-alex, flicker; no DISTS) per alpha: on Vid4's 4 clips (9 frames at 640x352), or with
`--recipe` on that recipe's selection clips (its select_data, as sel_*). `--save` writes one alpha as a
decoder-only safetensors file with the entry's metadata (a warm start for `init_from`).
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tokcodec.train.tokenizer import TrainConfig, grown_state, recipe_validation, validate, validation_sets
from tokcodec.zoo import load_model, use_zoo
from tokcodec.zoo.decoders import load_decoder

VID4 = [f"../shared/data/frames/vid4/{clip}" for clip in ("calendar", "city", "foliage", "walk")]


def decoder_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().float() for k, v in model.state_dict().items() if k.startswith("decoder.")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("decoder", help="a decoder-only zoo entry")
    p.add_argument("--alpha", type=float, action="append", default=[])
    p.add_argument("--recipe", help="validate on this recipe's select_data instead of Vid4")
    p.add_argument("--save", type=float, help="write this alpha's decoder to -o")
    p.add_argument("--zoo", help="look decoders and models up in this registry file (a scratch zoo)")
    p.add_argument("-o", "--output")
    p.add_argument("--json", help="write the numbers per alpha here")
    args = p.parse_args()
    use_zoo(args.zoo)
    model, _, entry = load_decoder(args.decoder)
    tuned = decoder_tensors(model)
    own = grown_state(tuned, decoder_tensors(load_model(entry.base)[0]))  # the entry's shape

    def blend(alpha: float) -> dict[str, torch.Tensor]:
        return {k: own[k] + alpha * (tuned[k] - own[k]) for k in tuned}

    if args.alpha:
        vid4 = TrainConfig([], "", val_data=VID4, val_frames=9, val_size=(640, 352))
        clips = validation_sets(vid4)
        if args.recipe:
            clips = {"sel_": validation_sets(recipe_validation(args.recipe))["sel_"]}
    results = {}
    for alpha in args.alpha:
        model.load_state_dict(blend(alpha), strict=False)
        scores = {}
        for prefix, some in clips.items():
            if some:
                scores.update(validate(model, some, "cpu", dists_frames=0, prefix=prefix))
        results[alpha] = scores
        print(alpha, {k: round(v, 4) for k, v in scores.items()}, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"decoder": args.decoder, "recipe": args.recipe, "alphas": results}, f, indent=1)
    if args.save is not None:
        with safe_open(str(entry.file), "pt") as f:
            metadata = f.metadata()
        blended = {k: v.half().contiguous() for k, v in blend(args.save).items()}
        save_file(blended, args.output, metadata=metadata)


if __name__ == "__main__":
    main()
