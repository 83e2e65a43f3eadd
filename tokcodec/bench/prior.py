"""Measure a token prior on the benchmark clips: `python -m tokcodec.bench.prior`.

For each clip (the benchmark's references: same frames, size and crop) the
tokenizer's tokens are coded in entropy mode 0 and mode 1 (one schedule or
several), and beside them two simple baselines, each given its ideal cost
(empirical entropies, no table or side-information cost: generous to them):

- **order-0**: per clip, the frequencies of the two 9-bit sub-tokens (the
  symbols mode 1 codes), H(low) + H(high) bits per token;
- **copy-previous**: a latent frame is predicted by the one before it (the
  first of a GOP by nothing): a hit flag per token (its empirical entropy),
  the misses and the first latent frames coded order-0.

Reported per clip and schedule: mode 1 payload bits per token, the
information content under the integer tables (the coded size should be
within a fraction of a percent of it), container bpp of both modes, and the
entropy stage's time to encode and to decode (prior + range coder, tokens
given; no tokenizer, no file I/O), against the tokenizer's own encode and
decode time on the same frames and threads.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..allocator import keep_freed_memory
from ..codec.container import ContainerWriter
from ..codec.entropy import EntropyCoder
from ..codec.mlm_coding import decode_gop, encode_gop
from ..codec.pipeline import make_header, pad_gop
from ..io import ColourInfo, VideoInfo
from ..precision import selected_precision, use_precision
from ..zoo import load_model
from ..zoo.priors import get_prior, load_prior, prior_for
from .datasets import discover_clips, make_reference


def entropy_bits(symbols: np.ndarray, alphabet: int) -> float:
    """Total empirical (order-0) information of `symbols`, in bits."""
    if symbols.size == 0:
        return 0.0
    counts = np.bincount(symbols.ravel(), minlength=alphabet)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / symbols.size)).sum())


def order0_bits(gops: list[np.ndarray], sub_bits: int = 9) -> float:
    tokens = np.concatenate([g.ravel() for g in gops])
    mask = (1 << sub_bits) - 1
    return entropy_bits(tokens & mask, 1 << sub_bits) + entropy_bits(tokens >> sub_bits, 1 << sub_bits)


def copy_previous_bits(gops: list[np.ndarray], sub_bits: int = 9) -> float:
    hits, coded = [], []
    for g in gops:
        coded.append(g[0].ravel())
        same = g[1:] == g[:-1]
        hits.append(same.ravel())
        coded.append(g[1:][~same])
    hits_all = np.concatenate(hits) if hits else np.zeros(0, bool)
    return entropy_bits(hits_all.astype(np.int64), 2) + order0_bits(coded, sub_bits)


def container_bytes(header, gops: list[np.ndarray], frames: list[int], payloads: list[bytes | None]) -> int:
    buffer = io.BytesIO()
    with ContainerWriter(buffer, header) as writer:
        for i, (tokens, n, payload) in enumerate(zip(gops, frames, payloads)):
            writer.write_chunk(i, n, tokens, payload)
    return len(buffer.getvalue())


def measure_clip(ref, model, entry, prior, prior_entry, gop: int, steps_list: list[int]) -> dict:
    frames = list(ref.rgb)
    chunks = [frames[i : i + gop] for i in range(0, len(frames), gop)]
    t0 = time.perf_counter()
    with torch.no_grad():
        gops = [model.encode(pad_gop(c, model))[0].numpy() for c in chunks]
    tok_encode = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        for g in gops:
            model.decode(torch.from_numpy(g)[None])
    tok_decode = time.perf_counter() - t0
    count = sum(g.size for g in gops)
    info = VideoInfo(ref.width, ref.height, Fraction(ref.fps).limit_denominator(1001), len(frames), ColourInfo())
    pixels = ref.width * ref.height * len(frames)
    mode0 = container_bytes(
        make_header(info, entry, gop, len(frames)), gops, [len(c) for c in chunks], [None] * len(gops)
    )
    out = {
        "clip": ref.name,
        "frames": len(frames),
        "tokens": count,
        "gops": len(gops),
        "mode0_bits_per_token": 18.0,
        "mode0_bpp": mode0 * 8 / pixels,
        "order0_bits_per_token": order0_bits(gops) / count,
        "copy_previous_bits_per_token": copy_previous_bits(gops) / count,
        "tokenizer_encode_fps": len(frames) / tok_encode,
        "tokenizer_decode_fps": len(frames) / tok_decode,
        "mode1": {},
    }
    coder = EntropyCoder(1, prior, prior_entry.name, prior_entry.weights_hash)
    for steps in steps_list:
        ideal: list[float] = []
        t0 = time.perf_counter()
        payloads = [encode_gop(prior, g, steps, ideal) for g in gops]
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = [decode_gop(prior, p, g.shape) for p, g in zip(payloads, gops)]
        dec = time.perf_counter() - t0
        if not all(np.array_equal(a, b) for a, b in zip(back, gops)):
            raise AssertionError(f"{ref.name}: mode 1 did not round-trip")
        size = container_bytes(
            make_header(info, entry, gop, len(frames), coder), gops, [len(c) for c in chunks], payloads
        )
        payload_bits = sum(len(p) for p in payloads) * 8
        out["mode1"][str(steps)] = {
            "bits_per_token": payload_bits / count,
            "ideal_bits_per_token": sum(ideal) / count,
            "overhead_vs_ideal": payload_bits / sum(ideal) - 1,
            "bpp": size * 8 / pixels,
            "encode_fps": len(frames) / enc,
            "decode_fps": len(frames) / dec,
        }
    return out


def summarise(rows: list[dict], steps_list: list[int]) -> dict:
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    s = {
        "clips": len(rows),
        "order0_bits_per_token": mean("order0_bits_per_token"),
        "copy_previous_bits_per_token": mean("copy_previous_bits_per_token"),
        "mode0_bpp": mean("mode0_bpp"),
        "tokenizer_encode_fps": mean("tokenizer_encode_fps"),
        "tokenizer_decode_fps": mean("tokenizer_decode_fps"),
    }
    tokens = sum(r["tokens"] for r in rows)
    for steps in map(str, steps_list):
        m = [r["mode1"][steps] for r in rows]
        bits = sum(x["bits_per_token"] * r["tokens"] for x, r in zip(m, rows)) / tokens
        ideal = sum(x["ideal_bits_per_token"] * r["tokens"] for x, r in zip(m, rows)) / tokens
        frames = sum(r["frames"] for r in rows)
        enc = frames / sum(r["frames"] / x["encode_fps"] for x, r in zip(m, rows))
        dec = frames / sum(r["frames"] / x["decode_fps"] for x, r in zip(m, rows))
        best_baseline = min(s["order0_bits_per_token"], s["copy_previous_bits_per_token"])
        s[f"mode1_steps{steps}"] = {
            "bits_per_token": bits,
            "saving_vs_mode0": 1 - bits / 18.0,
            "saving_vs_best_baseline": 1 - bits / best_baseline,
            "overhead_vs_ideal": bits / ideal - 1,
            "bpp": float(np.mean([x["bpp"] for x in m])),
            "encode_fps": enc,
            "decode_fps": dec,
        }
    return s


def checkpoint_prior(path: str):
    """(IntegerMLM, an entry-like record) of a prior run's float checkpoint: the integer network the
    weights would be exported as (`tokcodec train export-mlm`), named after the file, hash unknown."""
    from types import SimpleNamespace

    from ..models.mlm import MLMConfig, TokenMLM
    from ..models.mlm_int import IntegerMLM, integer_tensors

    if path.endswith(".safetensors"):
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(path, "pt") as f:
            config = MLMConfig.from_dict(json.loads(f.metadata()["config"]))
        weights = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        config, weights = MLMConfig.from_dict(state["config"]["model"]), state["model"]
    model = TokenMLM(config)
    model.load_state_dict(weights)
    entry = SimpleNamespace(name=Path(path).stem, weights_hash=bytes(32), sha256="(a checkpoint: " + path + ")")
    return IntegerMLM(config, integer_tensors(model)), entry


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="benchmarks/config.json")
    p.add_argument("--model", default="default")
    p.add_argument("--gop", type=int, default=17)
    p.add_argument("--steps", default="1,2,4", help="schedules to measure")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clips", type=int, default=None, help="only the first N clips")
    p.add_argument(
        "--checkpoint",
        help="measure a prior training run's checkpoint (RUN/best.pt, or float weights .safetensors) as its "
        "integer network, instead of the zoo's prior of the model",
    )
    p.add_argument("--prior", help="a zoo prior of the model other than its default (as `encode --prior`)")
    p.add_argument("--precision", help="the tokenizer's (tokcodec.precision): fp32 (the default), auto, bf16")
    p.add_argument("-o", "--output", help="write the JSON here")
    args = p.parse_args(argv)
    use_precision(args.precision)
    keep_freed_memory()  # as the command line does (allocator.py)
    torch.set_num_threads(args.threads)
    cfg = json.loads(Path(args.config).read_text())
    root = (Path(args.config).parent / cfg["data_root"]).resolve()
    sources = discover_clips([root / c for c in cfg["clips"]])[: args.clips]
    model, entry = load_model(args.model)
    if args.checkpoint:
        prior, prior_entry = checkpoint_prior(args.checkpoint)
    else:
        prior_entry = get_prior(args.prior) if args.prior else prior_for(entry.weights_hash)
        if prior_entry is None:
            raise SystemExit(f"no token prior for {entry.name}")
        prior = load_prior(prior_entry)
    steps_list = [int(s) for s in args.steps.split(",")]
    rows = []
    for src in tqdm(sources, desc="clips", unit="clip"):
        ref = make_reference(src, cfg["frames"], tuple(cfg["size"]))
        rows.append(measure_clip(ref, model, entry, prior, prior_entry, args.gop, steps_list))
    result = {
        "command": "python -m tokcodec.bench.prior " + " ".join(argv or sys.argv[1:]),
        "model": entry.name,
        "prior": prior_entry.name,
        "prior_sha256": prior_entry.sha256,
        "gop": args.gop,
        "threads": args.threads,
        "precision": selected_precision(),
        "torch": torch.__version__,
        "summary": summarise(rows, steps_list),
        "clips": rows,
    }
    text = json.dumps(result, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
