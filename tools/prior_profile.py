"""Where one 4-group latent frame of mode 1 spends its time under a token prior (default: mlm-tc-2.1).

torch.profiler's self times, grouped into matrix products, copies, table lookups and other
elementwise work, scaled to the frame's wall time (the mean of 3 unprofiled runs). The tokens are
random, half of them copies of the previous latent frame; the cost does not depend on them.

    OMP_NUM_THREADS=2 python tools/prior_profile.py [--prior mlm-tc-2.1] [--grid 45x80] [--no-cache]

The passes share a cache as coding's do (block 0 recomputes only the positions a pass changed);
`--no-cache` runs every pass whole, as coding did before the eighth session.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from tokcodec.models.mlm_layout import schedule
from tokcodec.zoo.priors import get_prior, load_prior

GROUPS = {
    "matrix products (float64 GEMMs)": ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm"),
    "copies and fills": ("aten::copy_", "aten::fill_", "aten::index", "aten::_to_copy"),
    "table lookups": ("aten::take",),
}
OTHER = "other elementwise (floor, clamp, div, sums)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default="mlm-tc-2.1")
    parser.add_argument("--grid", default="45x80", help="latent rows x columns (45x80 is 640x360)")
    parser.add_argument("--no-cache", action="store_true", help="every pass whole (IntegerMLM.hidden's cache off)")
    args = parser.parse_args()
    height, width = map(int, args.grid.split("x"))
    prior = load_prior(get_prior(args.prior))
    rng = np.random.default_rng(0)
    prev = torch.from_numpy(rng.integers(0, 1 << 18, (height, width)))
    fresh = torch.from_numpy(rng.integers(0, 1 << 18, (height, width)))
    tokens = torch.where(torch.from_numpy(rng.random((height, width)) < 0.5), prev, fresh)
    groups = schedule(height, width, 4)

    def latent_frame() -> None:
        cache = None if args.no_cache else {}
        for g in range(4):
            positions = torch.from_numpy(np.flatnonzero(groups == g))
            prior.frequencies(prior.hidden(tokens, torch.from_numpy(groups < g), prev, 1, positions, cache))

    latent_frame()  # warm-up
    t0 = time.perf_counter()
    for _ in range(3):
        latent_frame()
    wall = (time.perf_counter() - t0) / 3
    with profile(activities=[ProfilerActivity.CPU]) as p:
        latent_frame()
    times = dict.fromkeys([*GROUPS, OTHER], 0.0)
    for event in p.key_averages():
        group = next((k for k, names in GROUPS.items() if event.key in names), OTHER)
        times[group] += event.self_cpu_time_total
    total = sum(times.values())
    print(
        f"one latent frame of {height}x{width}, 4 groups: {wall * 1000:.0f} ms wall, {torch.get_num_threads()} threads"
    )
    print("| part | ms | share |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {v / total * wall * 1000:.0f} | {v / total * 100:.0f}% |")


if __name__ == "__main__":
    main()
