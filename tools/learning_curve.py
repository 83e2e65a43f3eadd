"""Plot a training lineage's validation metrics against training hours (PNG), or tabulate them.

Reads the `log.jsonl` of each stage's run folder in order (e.g. image then
video); a later stage's hours continue from the earlier stage's last hours.
Where a step was logged twice (a resumed run), the later line wins. PSNR and
LPIPS-alex always; DISTS and flicker where the runs logged them (decoder
fine-tuning does). `--separate`: runs are arms of an ablation, each from
hour 0, not one lineage. `--table`: a Markdown table instead of a plot.
`--set sel`: the selection clips' metrics (a recipe's `select_data`, logged as
sel_*) instead of val_data's, with the reference model's row where one was
validated (`select_reference`).

    python tools/learning_curve.py ~/tokcodec-runs/tc-2/image ~/tokcodec-runs/tc-2/video -o curve.png
    python tools/learning_curve.py --separate --table ~/tokcodec-runs/sharp/{l1,lpips,gan}
    python tools/learning_curve.py --set sel --table ~/tokcodec-runs/sharp/wide-b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def stage_points(run: Path, prefix: str = "val_") -> list[dict]:
    """Validation records of one run folder (those with `prefix`psnr), one per step, in step order."""
    by_step = {}
    for line in (run / "log.jsonl").read_text().splitlines():
        r = json.loads(line)
        if prefix + "psnr" in r:
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def reference_point(run: Path) -> dict | None:
    """The reference model's validation (select_reference), its keys without the ref_ prefix."""
    for line in (run / "log.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "reference" in r:
            return {"run": r["reference"], **{k[4:]: v for k, v in r.items() if k.startswith("ref_")}}
    return None


METRICS = [
    ("psnr", "PSNR (dB)"),
    ("lpips_alex", "LPIPS-alex"),
    ("dists", "DISTS"),
    ("flicker", "flicker (luma levels)"),
]


def table(runs: list[Path], prefix: str = "val_") -> str:
    """One row per validation: run, step, hours, the metrics, seconds per step since the last one."""
    head = "| run | step | hours | PSNR | LPIPS-alex | DISTS | flicker | s/step |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    fmt = lambda v, f: format(v, f) if v is not None else "-"
    for run in runs:
        ref = reference_point(run) if prefix == "sel_" else None
        if ref:
            rows.append(
                f"| {ref['run']} (reference) | - | - | {fmt(ref.get(prefix + 'psnr'), '.2f')} | "
                f"{fmt(ref.get(prefix + 'lpips_alex'), '.4f')} | {fmt(ref.get(prefix + 'dists'), '.4f')} | "
                f"{fmt(ref.get(prefix + 'flicker'), '.3f')} | - |"
            )
        previous = None
        for p in stage_points(run, prefix):
            rate = (
                (p["hours"] - previous["hours"]) * 3600 / (p["step"] - previous["step"])
                if previous and p["step"] > previous["step"]
                else None
            )
            rows.append(
                f"| {run.name} | {p['step']} | {p['hours']:.2f} | {fmt(p.get(prefix + 'psnr'), '.2f')} | "
                f"{fmt(p.get(prefix + 'lpips_alex'), '.4f')} | {fmt(p.get(prefix + 'dists'), '.4f')} | "
                f"{fmt(p.get(prefix + 'flicker'), '.3f')} | {fmt(rate, '.1f')} |"
            )
            previous = p
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, in lineage order")
    parser.add_argument("-o", "--output", help="the PNG")
    parser.add_argument("--title", default="")
    parser.add_argument("--separate", action="store_true", help="arms of an ablation: each run from hour 0")
    parser.add_argument("--table", action="store_true", help="print a Markdown table instead of plotting")
    parser.add_argument("--set", choices=["val", "sel"], default="val", help="val_data's metrics or select_data's")
    args = parser.parse_args()
    prefix = args.set + "_"
    if args.table:
        print(table(args.runs, prefix))
        return
    if not args.output:
        parser.error("-o is needed for a plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {run: stage_points(run, prefix) for run in args.runs}
    what = "selection" if args.set == "sel" else "validation"
    shown = [(prefix + k, f"{what} {label}") for k, label in METRICS]
    shown = [(k, label) for k, label in shown if any(k in p for ps in points.values() for p in ps)]
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 4))
    offset = 0.0
    for run, ps in points.items():
        if not ps:
            continue
        hours = [(0.0 if args.separate else offset) + p["hours"] for p in ps]
        for ax, (key, _) in zip(axes, shown):
            have = [(h, p[key]) for h, p in zip(hours, ps) if key in p]
            ax.plot([h for h, _ in have], [v for _, v in have], "o-", label=run.name)
        offset = hours[-1]
    for ax, (_, label) in zip(axes, shown):
        ax.set_xlabel("training hours (step time, 2-core CPU)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)


if __name__ == "__main__":
    main()
