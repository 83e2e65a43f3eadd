"""Peak resident memory of coding one clip with a zoo model, against GOP length and frame size.

Each measurement runs in a fresh process (encode to memory, then decode), so
ru_maxrss is that run's peak; the baseline is the same process after loading
the model, before any frame. Frames are made as the encoder reads them and
dropped as the decoder yields them, like a file in and a file out. Prints a
Markdown table and writes JSON.

    python tools/peak_rss.py --model tc-2 --gops 5,17,65 --sizes 640x360,1920x1080 -o rss.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import io, json, resource, sys, time
import numpy as np, torch
from fractions import Fraction
from tokcodec.codec.container import ContainerReader
import tokcodec
from tokcodec.codec.pipeline import decode_frames
from tokcodec.io import ColourInfo, VideoInfo
name, gop, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model, entry = tokcodec.load_model(name)
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
base = rss()
rng = np.random.default_rng(0)
frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
frames = (np.roll(frame, 4 * i, axis=1) for i in range(gop))  # a panning picture, one GOP, made as read
buf = io.BytesIO()
t0 = time.perf_counter()
tokcodec.encode_frames(frames, VideoInfo(w, h, Fraction(25), gop, ColourInfo()), buf, model=name, entropy="raw",
                       gop=gop)
t1 = time.perf_counter()
n = sum(1 for _ in decode_frames(ContainerReader(buf.getvalue()), model))
t2 = time.perf_counter()
print(json.dumps({"model": name, "gop": gop, "size": f"{w}x{h}", "frames": n, "baseline_bytes": base,
                  "peak_bytes": rss(), "encode_s": t1 - t0, "decode_s": t2 - t1,
                  "threads": torch.get_num_threads()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--gops", default="5,17,65")
    parser.add_argument("--sizes", default="640x360,1920x1080")
    parser.add_argument("-o", "--output")
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        w, h = size.split("x")
        for gop in args.gops.split(","):
            p = subprocess.run([sys.executable, "-c", CHILD, args.model, gop, w, h], capture_output=True, text=True)
            if p.returncode != 0:
                rows.append(
                    {
                        "model": args.model,
                        "gop": int(gop),
                        "size": size,
                        "error": (p.stderr.strip().splitlines() or ["killed"])[-1],
                    }
                )
            else:
                rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print("| size | GOP | peak RSS (GiB) | after loading the model (GiB) | encode / decode s |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['size']} | {r['gop']} | failed: {r['error']} | | |")
        else:
            print(
                f"| {r['size']} | {r['gop']} | {r['peak_bytes'] / 2**30:.2f} | {r['baseline_bytes'] / 2**30:.2f} "
                f"| {r['encode_s']:.1f} / {r['decode_s']:.1f} |"
            )
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
