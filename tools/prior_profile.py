"""Where one 4-group latent frame (45x80 tokens, 640x360) of mode 1 spends its time under mlm-tc-2.1:
torch.profiler, grouped into matrix products, copies, table lookups and other elementwise work.

    OMP_NUM_THREADS=2 python tools/prior_profile.py
"""
import sys, time, torch, numpy as np
from torch.profiler import profile, ProfilerActivity
from tokcodec.zoo.priors import load_prior, get_prior
from tokcodec.codec.mlm_coding import _frame_plan
prior = load_prior(get_prior("mlm-tc-2.1"))
rng = np.random.default_rng(0)
prev = torch.from_numpy(rng.integers(0, 1 << 18, (45, 80)))
tok = torch.where(torch.from_numpy(rng.random((45, 80)) < 0.5), prev, torch.from_numpy(rng.integers(0, 1 << 18, (45, 80))))
plan = _frame_plan(45, 80, 4)
def frame():
    for known, pos in plan:
        prior.frequencies(prior.hidden(tok, known, prev, 1, torch.from_numpy(pos)))
frame()
t0 = time.perf_counter(); [frame() for _ in range(3)]; wall = (time.perf_counter() - t0) / 3
with profile(activities=[ProfilerActivity.CPU]) as p:
    frame()
cats = {"matrix products (addmm, mm, bmm, baddbmm)": ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm"),
        "copies and fills (copy_, fill_, index)": ("aten::copy_", "aten::fill_", "aten::index", "aten::_to_copy"),
        "table lookups (take)": ("aten::take",)}
times = {k: 0.0 for k in cats}; times["other elementwise (floor, clamp, div, sum, ...)"] = 0.0
total = 0.0
for e in p.key_averages():
    total += e.self_cpu_time_total
    for k, names in cats.items():
        if e.key in names:
            times[k] += e.self_cpu_time_total; break
    else:
        times["other elementwise (floor, clamp, div, sum, ...)"] += e.self_cpu_time_total
print(f"wall per latent frame: {wall*1000:.0f} ms")
for k, v in times.items():
    print(f"| {k} | {v/total*wall*1000:.0f} ms | {v/total*100:.0f}% |")
