"""Move a decoder entry's weights along the line from its base model's decoder: validate each point on Vid4.

    python tools/decoder_blend.py tc-2.1-sharp --alpha 1.0 --alpha 1.25 --alpha 1.5 [--save 1.25 -o OUT.safetensors]

alpha 0 is the base model's own decoder, 1 the entry; above 1 extrapolates (network interpolation, as in
ESRGAN). Prints the training's validation (`train.tokenizer.validate`: PSNR, LPIPS-alex, flicker on
Vid4's 4 clips, 9 frames at 640x352; no DISTS) per alpha; `--save` writes one alpha as a decoder-only
safetensors file with the entry's metadata (a warm start for `init_from`).
"""

from __future__ import annotations

import argparse
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tokcodec.train.tokenizer import load_val_clips, validate
from tokcodec.zoo import load_model
from tokcodec.zoo.decoders import get_decoder

VID4 = [f"../shared/data/frames/vid4/{clip}" for clip in ("calendar", "city", "foliage", "walk")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("decoder", help="a decoder-only zoo entry")
    p.add_argument("--alpha", type=float, action="append", default=[])
    p.add_argument("--save", type=float, help="write this alpha's decoder to -o")
    p.add_argument("-o", "--output")
    args = p.parse_args()
    entry = get_decoder(args.decoder)
    model, _ = load_model(entry.base)
    state = model.state_dict()
    own = {k: v.clone() for k, v in state.items() if k.startswith("decoder.")}
    tuned = {k: v.float() for k, v in load_file(str(entry.file)).items()}

    def blend(alpha: float) -> dict[str, torch.Tensor]:
        return {k: own[k] + alpha * (tuned[k] - own[k]) for k in tuned}

    if args.alpha:
        clips = load_val_clips(VID4, 9, (640, 352))
    for alpha in args.alpha:
        with torch.no_grad():
            for k, v in blend(alpha).items():
                state[k].copy_(v)
        scores = validate(model, clips, "cpu", dists_frames=0)
        print(alpha, {k: round(v, 4) for k, v in scores.items()}, flush=True)
    if args.save is not None:
        with safe_open(str(entry.file), "pt") as f:
            metadata = f.metadata()
        blended = {k: v.half().contiguous() for k, v in blend(args.save).items()}
        save_file(blended, args.output, metadata=metadata)


if __name__ == "__main__":
    main()
