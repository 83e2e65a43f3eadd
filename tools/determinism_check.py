"""Decode one mode 1 file under several CPU settings and with the reference decoder; compare tokens.

    python tools/determinism_check.py CLIP [--frames 17] [--size 640x360] [--prior NAME]

Encodes CLIP with the default model in entropy mode 1 (under its default prior, or --prior), then decodes its tokens
(`iter_gops`: prior + range decoder, every tokens CRC checked) in fresh
processes with 1 and 2 threads, ATEN_CPU_CAPABILITY=default (no AVX2/AVX-512
kernels), oneDNN off, MKL_ENABLE_INSTRUCTIONS=SSE4_2 and ONEDNN_MAX_CPU_ISA=AVX2, and with the
numpy-only reference decoder (bitstream_spec/reference_decoder.py). Prints
one line per setting with the CRC-32 of all decoded tokens and the time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DECODE = """
import sys, time, zlib, torch
if sys.argv[2] == "onednn-off":
    torch.backends.mkldnn.enabled = False
from tokcodec.codec.tokens import iter_gops
t0 = time.perf_counter()
tokens = b"".join(g.tokens.astype("<i8").tobytes() for g in iter_gops(sys.argv[1]))
print(zlib.crc32(tokens), time.perf_counter() - t0)
"""
REFERENCE = """
import sys, time, zlib, numpy as np
sys.path.insert(0, sys.argv[3])
import reference_decoder as ref
t0 = time.perf_counter()
header, chunks = ref.decode(open(sys.argv[1], "rb").read(), priors={sys.argv[2]: sys.argv[4]})
print(zlib.crc32(b"".join(np.asarray(c.tokens, dtype="<i8").tobytes() for c in chunks)), time.perf_counter() - t0)
"""
SETTINGS = {
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "ATEN_CPU_CAPABILITY=default": {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"},
    "onednn-off": {"OMP_NUM_THREADS": "2"},
    "MKL_ENABLE_INSTRUCTIONS=SSE4_2": {"OMP_NUM_THREADS": "2", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"OMP_NUM_THREADS": "2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clip")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--size", default="640x360")
    p.add_argument("--out", help="keep the encoded file here")
    p.add_argument("--prior", help="a zoo prior of the default model other than its default")
    args = p.parse_args()
    out = Path(args.out) if (args.out or "").endswith(".tkc") else Path(args.out or tempfile.mkdtemp()) / "det.tkc"
    out.parent.mkdir(parents=True, exist_ok=True)
    w, h = map(int, args.size.split("x"))
    import numpy as np
    import tokcodec
    from tokcodec.codec.container import ContainerReader
    from tokcodec.io import read_frames
    from tokcodec.zoo.priors import get_prior

    frames, info = read_frames(args.clip, max_frames=args.frames, size=(w, h))
    _, _, coder = tokcodec.api.encoder("default", entropy="mlm", prior=args.prior)
    tokcodec.encode_frames(frames, info, out, entropy="mlm", prior=args.prior, gop=17, force=True)
    with ContainerReader(out) as reader:
        encoded = np.concatenate([reader.read_tokens(i, coder.unpack).ravel() for i in range(reader.header.num_gops)])
    expected = zlib.crc32(encoded.astype("<i8").tobytes())
    prior = get_prior(coder.prior_name)
    rows = [{"setting": "encoder (this process)", "crc32": expected}]
    for name, env in SETTINGS.items():
        r = subprocess.run(
            [sys.executable, "-c", DECODE, str(out), name], env={**os.environ, **env}, capture_output=True, text=True
        )
        crc, seconds = r.stdout.split() if r.returncode == 0 else (r.stderr.strip().splitlines()[-1], "nan")
        rows.append({"setting": name, "crc32": int(crc) if crc.isdigit() else crc, "seconds": float(seconds)})
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", REFERENCE, str(out), prior.name, str(REPO / "bitstream_spec"), str(prior.file)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    crc = r.stdout.split()[0] if r.returncode == 0 else r.stderr.strip().splitlines()[-1]
    rows.append(
        {
            "setting": "reference decoder (numpy)",
            "crc32": int(crc) if crc.isdigit() else crc,
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    for row in rows:
        row["identical"] = row["crc32"] == expected
    report = {"file": str(out), "bytes": out.stat().st_size, "prior": prior.name, "rows": rows}
    report["encoder_precision"] = tokcodec.api.selected_precision()  # its tokens: auto's differ from fp32's
    print(json.dumps(report, indent=1))
    sys.exit(0 if all(r["identical"] for r in rows) else 1)


if __name__ == "__main__":
    main()
