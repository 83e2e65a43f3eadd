"""Threads on a busy machine and an idle one: is tokcodec's default thread setting ever much slower?

Times one command (default: a mode 1 decode of FILE) in fresh processes, interleaved, median of N:
- idle: the default environment against OMP_NUM_THREADS=<cores> (the default must not lose the cores);
- busy: with one CPU-bound process per core running beside it, the default against OMP_NUM_THREADS=1
  (the default must not fight the other processes: OpenMP threads that spin while they wait do).

    python tools/load_check.py FILE.tkc [--runs 3] [-o result.json]

Nothing else should be running (pause a training run: kill -STOP, then kill -CONT).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OMP_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")


def burn() -> None:
    while True:
        pass


def timed(command: list[str], extra_env: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS} | extra_env
    t0 = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def compare(command: list[str], settings: dict[str, dict], runs: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(runs):
        for name, env in settings.items():  # interleaved: a drift in the machine hits both alike
            times[name].append(timed(command, env))
    return {
        name: {"seconds": [round(t, 2) for t in ts], "median": round(statistics.median(ts), 2)}
        for name, ts in times.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="a .tkc file (mode 1 for the default mode's cost)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("-o", "--output")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    out = Path(tempfile.mkdtemp()) / "out.y4m"
    command = ["tokcodec", "decode", args.file, "-o", str(out), "--force", "-q", "--device", "cpu"]
    result = {"command": " ".join(command), "cores": cores, "runs": args.runs}
    idle = compare(command, {"default": {}, f"OMP_NUM_THREADS={cores}": {"OMP_NUM_THREADS": str(cores)}}, args.runs)
    result["idle"] = idle | {"ratio": round(idle["default"]["median"] / idle[f"OMP_NUM_THREADS={cores}"]["median"], 3)}
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(cores)]
    for b in burners:
        b.start()
    try:
        time.sleep(1.0)
        busy = compare(command, {"default": {}, "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"}}, args.runs)
    finally:
        for b in burners:
            b.terminate()
    result["busy"] = busy | {"ratio": round(busy["default"]["median"] / busy["OMP_NUM_THREADS=1"]["median"], 3)}
    text = json.dumps(result, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text)
    sys.exit(0)


if __name__ == "__main__":
    main()
