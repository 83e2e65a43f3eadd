"""Write the rate ladder's model cards from the committed benchmark results.

Every number comes from `tokcodec bench --config benchmarks/config.json`
(benchmarks/results/points.csv and speed.csv): 8 clips never trained on, at
640x360, 33 frames each, one GOP per clip, entropy mode 0 (and mode 1's rates,
which depend on the content: mean and range). Run it after a benchmark run:

    python tools/ladder_cards.py

It writes tokcodec/zoo/cards/ladder.md (the ladder table), a card per rung
that has none of its own training (a `weights_from` entry), and each rung's
mean numbers into the registry's card metrics. Cards of trained models are
left alone: they hold their own evaluation.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
ZOO = REPO / "tokcodec" / "zoo"
BENCH_COMMAND = (
    "tokcodec bench --config benchmarks/config.json -o benchmarks/results --cache bench_cache "
    "--seed-from benchmarks/results -j 1"
)
METRICS = (
    ("bpp", "bpp", "{:.4f}"),
    ("psnr_rgb", "PSNR (dB)", "{:.2f}"),
    ("ms_ssim", "MS-SSIM", "{:.4f}"),
    ("lpips", "LPIPS-alex", "{:.4f}"),
    ("vmaf", "VMAF", "{:.1f}"),
)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(float(r[key]) for r in rows if r.get(key) not in (None, ""))


def table(rows: list[dict], first: str) -> list[str]:
    head = f"| {first} | " + " | ".join(label for _, label, _ in METRICS) + " |"
    return [head, "|" + "---|" * (len(METRICS) + 1)] + [
        f"| {r['name']} | " + " | ".join(fmt.format(r[key]) for key, _, fmt in METRICS) + " |" for r in rows
    ]


def main() -> None:
    registry = json.loads((ZOO / "registry.json").read_text())
    all_points = [r for r in read_csv(RESULTS / "points.csv") if r["clip"] != "mean"]
    points = [r for r in all_points if r["codec"] == "tokcodec-m0"]
    m1_points = [r for r in all_points if r["codec"] == "tokcodec-m1"]
    speed = read_csv(RESULTS / "speed.csv") if (RESULTS / "speed.csv").exists() else []
    by_model = defaultdict(list)
    for r in points:
        if r["point"].endswith("-gclip"):
            by_model[r["value"]].append(r)
    rungs = []
    for quality, name in enumerate(registry["ladder"], 1):
        rows = by_model.get(name)
        if not rows:
            raise SystemExit(f"no benchmark results for ladder rung {name}: run `{BENCH_COMMAND}` first")
        entry = registry["models"][name]
        timings = {
            (s["width"], s["height"]): s for s in speed if s["codec"] == "tokcodec-m0" and s["point"] == f"{name}-gclip"
        }
        rungs.append(
            {
                "name": name,
                "quality": quality,
                "scale": entry.get("coding_scale", 1.0),
                "clips": rows,
                "timings": timings,
                **{key: mean(rows, key) for key, _, _ in METRICS},
            }
        )
    write_ladder(rungs, registry["default"])
    for rung in rungs:
        entry = registry["models"][rung["name"]]
        entry["card"]["ladder_metrics"] = {
            "bpp": round(rung["bpp"], 4),
            "psnr": round(rung["psnr_rgb"], 2),
            "ms_ssim": round(rung["ms_ssim"], 4),
            "lpips_alex": round(rung["lpips"], 4),
            "measured_by": "cards/ladder.md",
        }
        # entropy mode 1 (the default): its rate depends on the content, so the mean and the range (the
        # pixels, hence PSNR and LPIPS, are mode 0's: mode 1 codes the same tokens without loss)
        mode1 = [r for r in m1_points if r["value"] == rung["name"] and r["point"].endswith("-gclip")]
        if mode1:
            rates = [float(r["bpp"]) for r in mode1]
            entry["card"]["ladder_metrics_mode1"] = {
                "bpp": round(statistics.mean(rates), 4),
                "bpp_min": round(min(rates), 4),
                "bpp_max": round(max(rates), 4),
                "clips": len(mode1),
                "measured_by": "cards/ladder.md (benchmarks/results/points.csv, tokcodec-m1: one GOP per clip)",
            }
        if "weights_from" in entry:
            write_rung_card(rung, entry, len(rungs))
    (ZOO / "registry.json").write_text(json.dumps(registry, indent=2) + "\n")


def speed_text(rung: dict) -> str:
    parts = [
        f"{w}x{h}: encode {float(s['encode_fps']):.2f} fps, decode {float(s['decode_fps']):.2f} fps"
        for (w, h), s in sorted(rung["timings"].items(), key=lambda kv: int(kv[0][0]))
    ]
    return "; ".join(parts) or "not timed"


def write_ladder(rungs: list[dict], default: str) -> None:
    lines = [
        "# The rate ladder",
        "",
        "`tokcodec encode --quality N` codes with rung N; `--bpp X` picks the highest rung whose rate",
        "(known before encoding: a mode-0 file's size follows from its token grid) is at most X.",
        f"Every rung is {default}'s tokenizer; rungs other than the 1x one code the frames resized by",
        "their scale and resize the decoded frames back (container DISP record, bitstream_spec/SPEC.md 3.4).",
        "",
        "Measured with",
        "",
        f"    {BENCH_COMMAND}",
        "",
        "then `python tools/ladder_cards.py` (this file): means over the benchmark's 8 clips (never trained",
        "on) at 640x360, 33 frames, one GOP per clip; per-clip rows in benchmarks/results/points.csv.",
        "",
    ]
    rows = [dict(r, name=f"{r['quality']}: {r['name']} ({r['scale']:g}x)") for r in rungs]
    lines += table(rows, "rung")
    lines += ["", "Speed (separate timing pass, 1 thread, CPU; benchmarks/results/speed.csv):", ""]
    lines += [f"- {r['name']}: {speed_text(r)}" for r in rungs]
    (ZOO / "cards" / "ladder.md").write_text("\n".join(lines) + "\n")


def write_rung_card(rung: dict, entry: dict, num_rungs: int) -> None:
    base, scale = entry["weights_from"], rung["scale"]
    lines = [
        f"# Model card: {rung['name']} (rate ladder rung {rung['quality']} of {num_rungs})",
        "",
        f"The tokenizer and weights of `{base}` (its card, `cards/{base}.md`, gives the training data,",
        f"recipe, hardware and time), coding frames resized to {scale:g}x their width and height (bicubic, antialiased",
        "when shrinking); the decoder resizes its output back to the original size (container DISP",
        "record, bitstream_spec/SPEC.md 3.4). No training of its own: the rung trades resolution for rate.",
        f"At 640x360 it codes {round(640 * scale)}x{round(360 * scale)} frames.",
        "",
        "## Measured quality (clips never trained on)",
        "",
        f"    {BENCH_COMMAND}",
        "",
        "then `python tools/ladder_cards.py`. 640x360, 33 frames per clip, one GOP per clip, entropy",
        "mode 0; bpp counts every byte of the .tkc file.",
        "",
    ]
    rows = [
        dict({key: float(c[key]) if c.get(key) else float("nan") for key, _, _ in METRICS}, name=c["clip"])
        for c in rung["clips"]
    ]
    rows.append({"name": "**mean**", **{key: rung[key] for key, _, _ in METRICS}})
    lines += table(rows, "clip")
    lines += [
        "",
        f"Speed (benchmarks/results/speed.csv, 1 thread): {speed_text(rung)}.",
        "",
        "## Limits",
        "",
        f"Everything `{base}` lacks, this rung lacks too (see its card). The whole ladder and where",
        "it stands against x265, VVC and AV1: `cards/ladder.md` and benchmarks/README.md.",
    ]
    (ZOO / "cards" / f"{rung['name']}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
