"""Plot a training lineage's validation PSNR and LPIPS against wall-clock training hours (PNG).

Reads the `log.jsonl` of each stage's run folder in order (e.g. image then
video); a later stage's hours continue from the earlier stage's last hours.
Where a step was logged twice (a resumed run), the later line wins.

    python tools/learning_curve.py ~/tokcodec-runs/tc-2/image ~/tokcodec-runs/tc-2/video -o curve.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def stage_points(run: Path) -> list[dict]:
    """Validation records of one run folder, one per step, in step order."""
    by_step = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "val_psnr" in r:
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, in lineage order")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    offset = 0.0
    for run in args.runs:
        points = stage_points(run)
        if not points:
            continue
        hours = [offset + p["hours"] for p in points]
        ax1.plot(hours, [p["val_psnr"] for p in points], "o-", label=run.name)
        ax2.plot(hours, [p["val_lpips_alex"] for p in points], "o-", label=run.name)
        offset = hours[-1]
    ax1.set_xlabel("training hours (step time, 2-core CPU)")
    ax1.set_ylabel("validation PSNR (dB)")
    ax2.set_xlabel("training hours (step time, 2-core CPU)")
    ax2.set_ylabel("validation LPIPS-alex")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)


if __name__ == "__main__":
    main()
