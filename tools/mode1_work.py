"""Time the costliest legal entropy mode 1 files: the rationale of SPEC 3.5's prior work limit.

Each case is a file as small as the limit allows (128 prior positions per byte): one steps byte
and the zero words the writer pads with, naming the shipped default tokenizer and its prior. The
range decoder reads zeros as valid data, so the prior runs every pass the header announces before
the tokens CRC fails (error 25): the most work a file of that size can ask for.

    python tools/mode1_work.py [--case 8x8x1024 --case 640x352x17 ...] [--threads 2]

Prints per case the file's bytes, its prior positions, the seconds `tokcodec tokens` took and
seconds per KB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokcodec.codec import container
from tokcodec.codec.container import ContainerWriter, Header
from tokcodec.zoo import get_entry
from tokcodec.zoo.priors import prior_for

CASES = ["8x8x1024", "64x64x1024", "128x128x1024", "640x352x17", "1016x1016x5"]


def worst_file(path: Path, width: int, height: int, frames: int, pad: bool = True) -> Header:
    """One GOP of `frames` frames under the shipped default tokenizer and its prior: a steps byte and
    the writer's zero words. Without `pad`, only those the output limit needs, as a writer that
    ignores the prior work limit (revision 1.4) would write: the file then breaks it (error 11)."""
    entry = get_entry("default")
    prior = prior_for(entry.weights_hash)
    cfg = entry.config
    header = Header(
        width=width,
        height=height,
        frame_count=frames,
        fps_num=25,
        fps_den=1,
        gop_length=frames,
        model_name=entry.name,
        weights_hash=entry.weights_hash,
        token_bits=cfg.token_bits,
        temporal_stride=cfg.temporal_stride,
        spatial_stride=cfg.spatial_stride,
        entropy_mode=1,
        mlm_name=prior.name,
        mlm_hash=prior.weights_hash,
    )
    saved = container.MAX_PRIOR_WORK_PER_BYTE
    container.MAX_PRIOR_WORK_PER_BYTE = saved if pad else 1 << 62
    try:
        with ContainerWriter(path, header, force=True) as w:
            w.write_chunk(0, frames, np.zeros(header.latent_shape(frames), np.int64), payload=b"\x04")
    finally:
        container.MAX_PRIOR_WORK_PER_BYTE = saved
    return header


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", action="append", help=f"WxHxFRAMES, one GOP (default: {' '.join(CASES)})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"{'case':>14} {'bytes':>8} {'positions':>10} {'seconds':>8} {'s/KB':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.case or CASES:
            width, height, frames = (int(v) for v in case.split("x"))
            path = Path(tmp) / f"{case}.tkc"
            header = worst_file(path, width, height, frames)
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-m", "tokcodec_cli.main", "tokens", str(path), "-o", str(Path(tmp) / f"{case}.npz")],
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - start
            last = (run.stderr.strip().splitlines() or [""])[-1]
            if "mismatch" not in last:  # error 25 after the whole decode is the expected end
                print(f"{case}: unexpected end: {last}", file=sys.stderr)
            size = path.stat().st_size
            print(f"{case:>14} {size:>8} {header.prior_work():>10} {seconds:>8.1f} {seconds / size * 1024:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
