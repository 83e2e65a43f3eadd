"""Two decoders of the same tokens, rung by rung: a Markdown table from `tokcodec eval` results and the
committed benchmark (issue 19).

    python tools/decoder_table.py --evals DIR --decoder tc-2.1-sharp [--points benchmarks/results/points.csv]

DIR holds `own-q<N>.json` (the model's own decoder) and `<decoder>-q<N>.json` (the decoder entry),
written by `tokcodec eval CLIPS --quality N [--decoder NAME] -o ...` on the same clips, frames and GOP.
Per rung: the benchmark's mode 1 rate (one GOP per clip) and x265-medium's LPIPS-alex interpolated at
that rate (both from points.csv: mean curves over the clips), then each decoder's LPIPS-alex, PSNR and
flicker from the evals (the same tokens, so the same bytes). The benchmark and eval read the clips
through different colour paths (yuv420p reference against RGB), so compare the x265 column with the
others loosely; the two decoders' columns are one measurement each on identical inputs.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from tokcodec.bench.bdrate import interpolate_at_rate


def mean_curves(points: Path) -> dict[str, dict[str, dict[str, float]]]:
    """codec -> point -> {"bpp", "lpips"}: means over the clips, as the benchmark's report takes them."""
    rows = defaultdict(lambda: defaultdict(list))
    for r in csv.DictReader(points.open()):
        rows[r["codec"]][r["value"]].append(r)
    return {
        codec: {
            value: {k: sum(float(r[k]) for r in rs) / len(rs) for k in ("bpp", "lpips")} for value, rs in points.items()
        }
        for codec, points in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", required=True, type=Path)
    parser.add_argument("--decoder", required=True)
    parser.add_argument("--points", type=Path, default=Path("benchmarks/results/points.csv"))
    parser.add_argument("--anchor", default="x265-medium")
    args = parser.parse_args()
    curves = mean_curves(args.points)
    anchor = sorted(curves[args.anchor].values(), key=lambda p: p["bpp"])
    print(
        f"| rung | model | mode 1 bpp (bench) | LPIPS {args.anchor} at it | LPIPS own | LPIPS {args.decoder} "
        f"| PSNR own | PSNR {args.decoder} | flicker own | flicker {args.decoder} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for q in range(1, 10):
        own_path, dec_path = args.evals / f"own-q{q}.json", args.evals / f"{args.decoder}-q{q}.json"
        if not own_path.exists():
            break
        own = json.loads(own_path.read_text())
        dec = json.loads(dec_path.read_text())["mean"] if dec_path.exists() else None
        rate = curves["tokcodec-m1"][own["model"]]["bpp"]
        x265, _ = interpolate_at_rate([p["bpp"] for p in anchor], [p["lpips"] for p in anchor], rate, "lpips")
        m = own["mean"]

        def cell(d, key, digits):
            return "-" if d is None or d.get(key) is None else f"{d[key]:.{digits}f}"

        cells = [str(q), own["model"], f"{rate:.4f}", "-" if x265 is None else f"{x265:.4f}"]
        cells += [cell(m, "lpips_alex", 4), cell(dec, "lpips_alex", 4), cell(m, "psnr", 2), cell(dec, "psnr", 2)]
        cells += [cell(m, "flicker", 3), cell(dec, "flicker", 3)]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
