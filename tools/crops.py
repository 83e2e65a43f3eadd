"""The crops of benchmarks/crops.json as PNGs: the source, tokcodec's default file drawn by each decoder,
and x265 (preset medium) at the same file size, for judging decoders by eye.

    python tools/crops.py [--model tc-2.1-x0.375] [--decoder NAME ...] [-o benchmarks/crops]

Per crop: the clip as the benchmark makes it (its size and frames), encoded once with the model (default:
the default model; a rung of its ladder, such as tc-2.1-x0.375, codes a downscaled frame and decodes back
to full size, where a sharp decoder's invented texture is magnified) in the default mode (entropy mode 1,
GOP 17); the file decoded with the model's own decoder and with each --decoder (the same bytes); x265
medium at the CRF whose file is nearest that size from below. Writes OUT/crops.png (OUT/crops-MODEL.png
with --model; every box at 3x, nearest neighbour, one row a crop) and, with --tiles, OUT/<crop>/<what>.png.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def x265_at(ref, target_bytes: int, work: Path):
    """(frames, bytes, crf) of x265 medium at the highest-quality CRF not above `target_bytes`."""
    from tokcodec.bench import anchors as anc
    from tokcodec.bench.evaluate import yuv420_clip_to_rgb

    spec = anc.AnchorSpec.from_dict(
        {"name": "x265-medium", "family": "x265", "points": [], "options": {"preset": "medium"}}
    )
    raw = work / "ref.yuv"
    raw.write_bytes(ref.yuv_bytes())
    sizes: dict[int, tuple[Path, int]] = {}

    def size_at(crf: int) -> int:
        out = work / f"x265_{crf}.mp4"
        anc.encode(spec, crf, str(raw), ref.width, ref.height, ref.fps, ref.num_frames, str(out))
        sizes[crf] = (out, out.stat().st_size)
        return sizes[crf][1]

    # the lowest CRF (the best quality) whose file is not larger: the size falls as the CRF rises
    low, high = 0, 51
    if size_at(high) > target_bytes:
        return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if size_at(mid) <= target_bytes else (mid, high)
    best = (*sizes[high], high)
    dec = anc.decode(spec, str(best[0]))
    return yuv420_clip_to_rgb(dec.y, dec.u, dec.v), best[1], best[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="zoo model (a rung of the ladder) that encodes")
    p.add_argument("--decoder", action="append", default=[], help="a decoder entry for the model's tokens")
    p.add_argument("--spec", default=str(REPO / "benchmarks" / "crops.json"))
    p.add_argument("-o", "--output", default=str(REPO / "benchmarks" / "crops"))
    p.add_argument("--tiles", action="store_true", help="also each box as its own PNG")
    args = p.parse_args()
    import tokcodec
    from tokcodec.bench.datasets import discover_clips, make_reference
    from tokcodec.io import ColourInfo, VideoInfo, read_frames

    spec = json.loads(Path(args.spec).read_text())
    out = Path(args.output)
    rows, scale = [], 3
    for crop in spec["crops"]:
        ref = make_reference(
            discover_clips([REPO.parent / "shared" / "data" / "video" / crop["clip"]])[0],
            spec["frames"],
            tuple(spec["size"]),
        )
        x, y, w, h = crop["box"]
        f = crop["frame"]
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            info = VideoInfo(
                ref.width, ref.height, Fraction(ref.fps).limit_denominator(1001), ref.num_frames, ColourInfo()
            )
            tokcodec.encode_frames(list(ref.rgb), info, work / "a.tkc", model=args.model, force=True)
            size = (work / "a.tkc").stat().st_size
            panels = {"source": ref.rgb[f]}
            for decoder in [None, *args.decoder]:
                tokcodec.decode(work / "a.tkc", work / "a.y4m", decoder=decoder, force=True)
                frames, _ = read_frames(work / "a.y4m")
                label = decoder or f"{tokcodec.open(work / 'a.tkc').header.model_name} (its own decoder)"
                panels[f"{label}, {size * 8 / ref.num_pixels:.4f} bpp"] = frames[f]
            found = x265_at(ref, size, work)
            if found is not None:
                frames, x_size, crf = found
                panels[f"x265 medium crf {crf}, {x_size * 8 / ref.num_pixels:.4f} bpp"] = frames[f]
        folder = out / crop["name"]
        row = []
        for label, frame in panels.items():
            tile = np.asarray(frame)[y : y + h, x : x + w].repeat(scale, 0).repeat(scale, 1)
            row.append((label, tile))
            if not args.tiles:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(tile).save(
                folder / (label.split(",")[0].replace(" ", "_").replace("(", "").replace(")", "") + ".png")
            )
        rows.append((crop, row))
        print(crop["name"], [label for label, _ in row])
    out.mkdir(parents=True, exist_ok=True)
    sheet(rows, out / ("crops.png" if args.model == "default" else f"crops-{args.model}.png"))


def sheet(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = max(len(r) for _, r in rows)
    h, w = rows[0][1][0][1].shape[:2]
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * w / 100, len(rows) * (h / 100 + 0.5)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (crop, row) in enumerate(rows):
        for j, (label, tile) in enumerate(row):
            axes[i, j].imshow(tile, interpolation="nearest")
            axes[i, j].set_title(f"{crop['name']}: {label}" if j == 0 else label, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
