"""Make a zoo model the default and build the rate ladder on it.

Adds one `weights_from` entry per coding scale (NAME-x0.375 ... NAME-x1.5: the
same weights, coding frames resized by that factor, SPEC 3.4), sets the
ladder to those rungs with NAME itself as the 1x rung, and makes NAME the
default. Older models stay in the zoo, so their files still decode.
Measure the rungs afterwards with `tokcodec bench` and write their cards
with `tools/ladder_cards.py`.

    python tools/register_ladder.py tc-2
"""

from __future__ import annotations

import argparse
import json

from tokcodec.zoo import registry_path

SCALES = (0.375, 0.5, 0.75, 1.0, 1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    args = parser.parse_args()
    path = registry_path()
    registry = json.loads(path.read_text())
    if args.name not in registry["models"] or "files" not in registry["models"][args.name]:
        raise SystemExit(f"{args.name}: not a zoo model with weights")
    rungs = []
    for scale in SCALES:
        if scale == 1.0:
            rungs.append(args.name)
            continue
        rung = f"{args.name}-x{scale:g}"
        registry["models"][rung] = {
            "weights_from": args.name,
            "coding_scale": scale,
            "card": {
                "summary": f"{args.name}'s tokenizer coding frames resized to {scale:g}x their size (bicubic), "
                "resized back after decoding",
                "path": f"cards/{rung}.md",
            },
        }
        rungs.append(rung)
    registry["ladder"] = rungs
    registry["default"] = args.name
    path.write_text(json.dumps(registry, indent=2) + "\n")
    print(f"default {args.name}; ladder: {', '.join(rungs)}")


if __name__ == "__main__":
    main()
