"""Results of a run as files: per-codec JSON (CompressAI-like), a CSV of every point,
BD-rate and fixed-rate tables (Markdown + JSON), and the figures (plots.py).

Averaging: a codec's curve point is the mean over clips of bpp and of each
metric (as CompressAI averages over images); a point counts only when every
clip of the run has it. BD-rates are computed on those mean curves.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from tokcodec.bench.bdrate import bd_rate, interpolate_at_rate
from tokcodec.bench.schema import METRICS, PAPER_TABLE3, is_tokcodec  # noqa: F401  (re-exported)

BD_METRICS = ["psnr_rgb", "ms_ssim", "lpips", "vmaf"]
CSV_FIELDS = [
    "codec",
    "family",
    "point",
    "value",
    "clip",
    "frames",
    "width",
    "height",
    "bytes",
    "bpp",
    "psnr_rgb",
    "psnr_y",
    "ms_ssim",
    "lpips",
    "vmaf",
    "dists",
    "encode_s",
    "encode_cpu_s",
    "decode_s",
    "decode_cpu_s",
    "encode_fps",
    "decode_fps",
    "threads",
    "device",
    "loadavg_1min",
    "measured",
    "measured_on",
    "seeded_from",
]
SPEED_FIELDS = [
    "codec",
    "family",
    "point",
    "clip",
    "width",
    "height",
    "frames",
    "encode_s",
    "encode_cpu_s",
    "decode_s",
    "decode_cpu_s",
    "encode_fps",
    "decode_fps",
    "threads",
    "device",
    "loadavg_1min",
    "measured",
    "measured_on",
    "seeded_from",
]


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else None


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(statistics.median(vals)) if vals else None


def aggregate(results: list[dict]) -> dict[str, list[dict]]:
    """codec -> its mean curve: points sorted by bpp, each the mean over all clips of the run."""
    clips = sorted({r["clip"] for r in results})
    by: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        by[r["codec"]][r["point"]].append(r)
    out = {}
    for codec, points in by.items():
        curve = []
        for point, rows in points.items():
            if {r["clip"] for r in rows} != set(clips):
                continue
            p = {
                "point": point,
                "value": rows[0]["value"],
                "family": rows[0]["family"],
                "clips": len(rows),
                "bpp": _mean(r["bpp"] for r in rows),
            }
            for key in [k for k, _, _ in METRICS] + ["flicker", "dists"]:  # flicker: from 2026-12-03; dists: opt-in
                p[key] = _mean(r.get(key) for r in rows)
            for key in ("encode_fps", "decode_fps"):
                p[key] = _median(r.get(key) for r in rows)
            p["threads"] = rows[0].get("threads")
            p["device"] = rows[0].get("device")
            curve.append(p)
        curve.sort(key=lambda p: p["bpp"])
        if curve:
            out[codec] = curve
    return out


def compressai_json(codec: str, curve: list[dict], results: list[dict], description: str, meta: dict) -> dict:
    """The CompressAI results shape: name, description, results lists (one entry per rate point)."""
    res = {"bpp": [p["bpp"] for p in curve], "point": [p["point"] for p in curve]}
    for key, _, _ in METRICS:
        res[key.replace("_", "-")] = [p[key] for p in curve]
    res["encoding_fps"] = [p["encode_fps"] for p in curve]
    res["decoding_fps"] = [p["decode_fps"] for p in curve]
    per_clip: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    order = {p["point"]: i for i, p in enumerate(curve)}
    for r in sorted(
        (r for r in results if r["codec"] == codec and r["point"] in order), key=lambda r: order[r["point"]]
    ):
        d = per_clip[r["clip"]]
        d["point"].append(r["point"])
        d["bytes"].append(r["bytes"])
        d["bpp"].append(r["bpp"])
        for key, _, _ in METRICS:
            d[key.replace("_", "-")].append(r.get(key))
        d["encoding_fps"].append(r.get("encode_fps"))
        d["decoding_fps"].append(r.get("decode_fps"))
    return {
        "name": codec,
        "description": description,
        "results": res,
        "per_clip": {k: dict(v) for k, v in sorted(per_clip.items())},
        "meta": meta,
    }


def write_csv(results: list[dict], agg: dict[str, list[dict]], path: Path) -> None:
    """Every (codec, point, clip) row, then one "mean" row per curve point."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in sorted(results, key=lambda r: (r["codec"], r["clip"], r["bpp"])):
            w.writerow({k: _fmt_csv(v) for k, v in _with_measured(r, CSV_FIELDS).items()})
        for codec, curve in sorted(agg.items()):
            for p in curve:
                row = {
                    "codec": codec,
                    "family": p["family"],
                    "point": p["point"],
                    "value": p["value"],
                    "clip": "mean",
                    **{k: p.get(k) for k in CSV_FIELDS if k in p},
                }
                row["clip"] = "mean"
                w.writerow({k: _fmt_csv(row.get(k)) for k in CSV_FIELDS})


def _with_measured(r: dict, fields: list[str]) -> dict:
    """A result's csv fields; `measured`: when (a seeded result carries its original date and machine)."""
    row = {k: r.get(k) for k in fields}
    row["measured"] = r.get("measured") or r.get("time")
    return row


def _when(rows: list[dict]) -> list[str]:
    """When seeded rows were measured, briefly: their timestamps as a range, other descriptions as they are."""
    values = {str(r.get("measured")) for r in rows}
    stamps = sorted(v for v in values if v[:1].isdigit())
    other = sorted(values - set(stamps))
    if len(stamps) > 2:
        stamps = [f"{stamps[0]} to {stamps[-1]}"]
    return stamps + other


def seeded_summary(results: list[dict], speed: list[dict] | None = None) -> tuple[list[str], dict]:
    """Notes (for summary.md and environment.json) on the results carried over from a committed report
    (`tokcodec bench --seed-from`) instead of measured by this run, and the details."""
    notes, details = [], {}
    for what, rows in (("points", results), ("speed", speed or [])):
        seeded = [r for r in rows if r.get("seeded_from")]
        if not seeded:
            continue
        codecs = sorted({r["codec"] for r in seeded})
        d = {
            "count": len(seeded),
            "of": len(rows),
            "codecs": codecs,
            "from": sorted({r["seeded_from"] for r in seeded}),
            "measured": _when(seeded),
            "measured_on": sorted({str(r.get("measured_on")) for r in seeded if r.get("measured_on")}),
        }
        details[what] = d
        kind = "(codec, rate point, clip) results" if what == "points" else "speed-pass timings"
        on = f" on {'; '.join(d['measured_on'])}" if d["measured_on"] else ""
        notes.append(
            f"{len(seeded)} of the {len(rows)} {kind} ({', '.join(codecs)}) were not measured by this "
            f"run: carried over from {', '.join(d['from'])} (tokcodec bench --seed-from, settings "
            f"checked to match), measured {', '.join(d['measured'])}{on}"
        )
    return notes, details


def _fmt_csv(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


# ----------------------------------------------------------------------------------------------
# tables


def bd_row(agg: dict[str, list[dict]], test: str, anchor: str) -> dict:
    """BD-rate of curve `test` against curve `anchor`, per metric, over the points that measured it."""
    row = {"test": test, "anchor": anchor}
    for m in BD_METRICS:
        a = [p for p in agg[anchor] if p.get(m) is not None]
        t = [p for p in agg[test] if p.get(m) is not None]
        if not a or not t:
            row[m] = {"value": None, "note": "metric not measured"}
            continue
        res = bd_rate([p["bpp"] for p in a], [p[m] for p in a], [p["bpp"] for p in t], [p[m] for p in t], m)
        row[m] = {"value": res.value, "note": res.note, "range": list(res.q_range) if res.q_range else None}
    return row


def bd_rows(agg: dict[str, list[dict]]) -> list[dict]:
    """BD-rate of every tokcodec curve against every anchor curve, per metric."""
    anchors = [c for c in agg if not is_tokcodec(c)]
    return [bd_row(agg, t, a) for t in sorted(c for c in agg if is_tokcodec(c)) for a in anchors]


def anchor_pairs_bd(agg: dict[str, list[dict]]) -> list[dict]:
    """BD-rate of each anchor against x265-medium (context: how the anchors rank among themselves)."""
    if "x265-medium" not in agg:
        return []
    return [bd_row(agg, a, "x265-medium") for a in agg if a != "x265-medium" and not is_tokcodec(a)]


def at_rate(agg: dict[str, list[dict]], target: float) -> list[dict]:
    """Each curve's metrics at `target` bpp (PCHIP in log-bpp; no extrapolation)."""
    rows = []
    for codec, curve in agg.items():
        r = [p["bpp"] for p in curve]
        row = {"codec": codec, "bpp": target}
        notes = set()
        for key, _, _ in METRICS:
            vals = [p[key] for p in curve]
            if any(v is None for v in vals):
                row[key] = None
                continue
            v, note = interpolate_at_rate(r, vals, target, key)
            row[key] = v
            notes.add(note)
        row["note"] = "; ".join(sorted(notes))
        rows.append(row)
    return rows


def _fmt(v, key: str) -> str:
    if v is None:
        return "n/a"
    if key in ("psnr_rgb", "psnr_y", "psnr"):
        return f"{v:.2f}"
    if key in ("ms_ssim",):
        return f"{v:.4f}"
    if key in ("lpips", "dists"):
        return f"{v:.4f}"
    if key == "vmaf":
        return f"{v:.2f}"
    if key == "bpp":
        return f"{v:.4f}"
    if key == "flicker":
        return f"{v:.3f}"
    if key.endswith("fps"):
        return f"{v:.1f}" if v >= 1 else f"{v:.3f}"
    return str(v)


def _bd_cell(d: dict) -> str:
    if d["value"] is None:
        return f"n/a ({d['note']})" if d.get("note") else "n/a"
    s = f"{d['value']:+.1f}%"
    if d.get("note"):
        s += "*"
    return s


def markdown_summary(
    agg: dict[str, list[dict]],
    env: dict,
    target: float,
    bd: list[dict],
    bd_anchor: list[dict],
    speed_note: str = "",
    speed: list[dict] | None = None,
) -> str:
    cfg = env["config"]
    lines = []
    clips = sorted({Path(c).name for c in cfg["clips"]})
    size = "x".join(map(str, cfg["size"])) if cfg.get("size") else "native"
    lines += [
        f"Clips: {len(clips)} ({', '.join(clips)}), {cfg['frames']} frames each at {size}; "
        f"intra period: {cfg['intra_period'] or 'one intra frame per clip'}.",
        f"Colour: {env['colour']}. PSNR pooling: {env['psnr_pooling']}. VMAF: {env['vmaf'] or 'not available'}.",
        f"Machine: {env['machine']}; {env['workers']} worker process(es). {speed_note}".strip(),
    ]
    lines += [f"Note: {n}." for n in env.get("notes", [])]
    lines += [""]
    # BD-rate
    lines += [
        "### BD-rate of tokcodec against each anchor",
        "",
        "Negative = tokcodec needs fewer bits for the same quality. PCHIP on the mean curves, over the "
        "overlapping quality range only; `n/a` when the curves do not overlap; `*` see notes.",
        "",
    ]
    hdr = "| tokcodec | anchor | " + " | ".join(_label(m) for m in BD_METRICS) + " |"
    lines += [hdr, "|" + "---|" * (2 + len(BD_METRICS))]
    notes = []
    for row in bd:
        cells = []
        for m in BD_METRICS:
            cells.append(_bd_cell(row[m]))
            if row[m]["value"] is not None and row[m].get("note"):
                notes.append(f"{row['test']} vs {row['anchor']}, {_label(m)}: {row[m]['note']}")
        lines.append(f"| {row['test']} | {row['anchor']} | " + " | ".join(cells) + " |")
    if not bd:
        lines.append("| (no tokcodec results) | | " + " | ".join("" for _ in BD_METRICS) + " |")
    if notes:
        lines += [""] + [f"\\* {n}" for n in sorted(set(notes))]
    if bd_anchor:
        lines += [
            "",
            "Anchors against x265-medium (for context):",
            "",
            "| codec | " + " | ".join(_label(m) for m in BD_METRICS) + " |",
            "|" + "---|" * (1 + len(BD_METRICS)),
        ]
        for row in bd_anchor:
            lines.append(f"| {row['test']} | " + " | ".join(_bd_cell(row[m]) for m in BD_METRICS) + " |")
    # fixed rate
    lines += [
        "",
        f"### At {target:g} bpp (the paper's Table 3 rate)",
        "",
        "Each curve interpolated at the rate (PCHIP in log-bpp), never extrapolated (`n/a` outside its range).",
        "",
        "| codec | PSNR-RGB | PSNR-Y | MS-SSIM | LPIPS | VMAF |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(at_rate(agg, target), key=lambda r: (not is_tokcodec(r["codec"]), r["codec"])):
        lines.append(f"| {row['codec']} | " + " | ".join(_fmt(row[k], k) for k, _, _ in METRICS) + " |")
    lines += [
        "",
        "Paper, Table 3 (MCL-JCV, 640x360, 0.0384 bpp; other clips, for orientation only):",
        "",
        "| method | PSNR | MS-SSIM | LPIPS |",
        "|---|---|---|---|",
    ]
    for name, v in PAPER_TABLE3["rows"].items():
        lines.append(f"| {name} | {v['psnr']:.2f} | {v['ms_ssim']:.3f} | {v['lpips']:.3f} |")
    # tokcodec at its own rate vs anchors at that rate
    for t in sorted(c for c in agg if is_tokcodec(c)):
        for p in agg[t]:
            lines += [
                "",
                f"### At {t} / {p['point']}'s own rate ({p['bpp']:.4f} bpp)",
                "",
                "| codec | PSNR-RGB | PSNR-Y | MS-SSIM | LPIPS | VMAF |",
                "|---|---|---|---|---|---|",
            ]
            lines.append(f"| **{t} {p['point']}** | " + " | ".join(_fmt(p[k], k) for k, _, _ in METRICS) + " |")
            for row in at_rate({c: v for c, v in agg.items() if not is_tokcodec(c)}, p["bpp"]):
                lines.append(f"| {row['codec']} | " + " | ".join(_fmt(row[k], k) for k, _, _ in METRICS) + " |")
    # speed
    if speed:
        clips = ", ".join(sorted({r["clip"] for r in speed}))
        lines += [
            "",
            f"### Speed (frames per second; separate timing pass on {clips}, one process at a time)",
            "",
            "Wall clock; anchors: median over their rate points, tokcodec: per rate point (the ladder's "
            "rungs code different sizes). The RD run's own timings (workers sharing the CPU) are in "
            "points.csv.",
            "",
            "| codec | size | encode fps | decode fps | encode fps range | threads | device |",
            "|---|---|---|---|---|---|---|",
        ]
        by: dict[tuple, list[dict]] = defaultdict(list)
        for r in speed:
            size = f"{r['width']}x{r['height']}" if "width" in r else "?"
            name = f"{r['codec']} {r['point']}" if is_tokcodec(r["codec"]) else r["codec"]
            by[(not is_tokcodec(r["codec"]), r.get("width", 0), name, size)].append(r)
        for (_, _, name, size), rows in sorted(by.items()):
            enc = [r["encode_fps"] for r in rows]
            lines.append(
                f"| {name} | {size} | {_fmt(_median(enc), 'encode_fps')} | "
                f"{_fmt(_median(r['decode_fps'] for r in rows), 'decode_fps')} | "
                f"{_fmt(min(enc), 'encode_fps')}-{_fmt(max(enc), 'encode_fps')} | {rows[0]['threads']} | "
                f"{rows[0]['device']} |"
            )
    else:
        lines += [
            "",
            "### Speed (frames per second, median over points and clips of the RD run)",
            "",
            "| codec | encode fps | decode fps | threads | device |",
            "|---|---|---|---|---|",
        ]
        for codec, curve in sorted(agg.items(), key=lambda kv: (not is_tokcodec(kv[0]), kv[0])):
            enc = _median(p["encode_fps"] for p in curve)
            dec = _median(p["decode_fps"] for p in curve)
            lines.append(
                f"| {codec} | {_fmt(enc, 'encode_fps')} | {_fmt(dec, 'decode_fps')} | "
                f"{curve[0]['threads']} | {curve[0]['device']} |"
            )
    lines += decoders_section(agg)
    # curves
    lines += [
        "",
        "### Mean curves",
        "",
        "| codec | point | bpp | PSNR-RGB | PSNR-Y | MS-SSIM | LPIPS | VMAF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for codec, curve in sorted(agg.items(), key=lambda kv: (not is_tokcodec(kv[0]), kv[0])):
        for p in curve:
            lines.append(
                f"| {codec} | {p['point']} | {_fmt(p['bpp'], 'bpp')} | "
                + " | ".join(_fmt(p[k], k) for k, _, _ in METRICS)
                + " |"
            )
    return "\n".join(lines) + "\n"


def decoders_section(agg: dict[str, list[dict]], anchor: str = "x265-medium") -> list[str]:
    """Per decoder-entry curve (`tokcodec-m<mode>-NAME`: the same tokens drawn by another decoder), rung by
    rung against its model's own decoder and the anchor at the same rate: LPIPS-alex, PSNR, flicker, and DISTS
    when the run measured it (`"dists": true` in the config)."""
    with_dists = any(p.get("dists") is not None for points in agg.values() for p in points)
    lines = []
    for codec in sorted(c for c in agg if is_tokcodec(c) and c.count("-") >= 2):
        base = "-".join(codec.split("-")[:2])  # tokcodec-m1-tc-2.1-sharp -> tokcodec-m1
        if base not in agg:
            continue
        own = {p["point"]: p for p in agg[base]}
        lines += [
            "",
            f"### {codec}: the tokens of {base} drawn by decoder {codec[len(base) + 1 :]}, rung by rung",
            "",
            f"LPIPS-alex of both decoders and of {anchor} interpolated at the rung's rate (lower is better); "
            "flicker: mean |change of the decoded frames - change of the source| on luma, inside GOPs.",
            "",
            f"| rung | bpp | LPIPS own | LPIPS {codec[len(base) + 1 :]} | LPIPS {anchor} | PSNR own | "
            "PSNR decoder | flicker own | flicker decoder |" + (" DISTS own | DISTS decoder |" if with_dists else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if with_dists else ""),
        ]
        for p in agg[codec]:
            o = own.get(p["point"])
            if o is None:
                continue
            at = at_rate({anchor: agg[anchor]}, o["bpp"])[0] if anchor in agg else {"lpips": None}
            cells = [_fmt(o["bpp"], "bpp"), _fmt(o["lpips"], "lpips"), _fmt(p["lpips"], "lpips")]
            cells += [_fmt(at["lpips"], "lpips"), _fmt(o["psnr_rgb"], "psnr"), _fmt(p["psnr_rgb"], "psnr")]
            cells += [_fmt(o.get("flicker"), "flicker"), _fmt(p.get("flicker"), "flicker")]
            if with_dists:
                cells += [_fmt(o.get("dists"), "dists"), _fmt(p.get("dists"), "dists")]
            lines.append(f"| {p['point']} | " + " | ".join(cells) + " |")
    return lines


def _label(m: str) -> str:
    return {k: lab for k, lab, _ in METRICS}[m].split(" (")[0]


def write_report(
    results: list[dict],
    env: dict,
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    figures: bool = True,
    log=print,
    speed: list[dict] | None = None,
) -> dict:
    """Write everything under `out_dir`; returns {"bd": rows, "at_rate": rows, "files": [...]}."""
    out = Path(out_dir)
    (out / "json").mkdir(parents=True, exist_ok=True)
    agg = aggregate(results)
    seeded_notes, seeded = seeded_summary(results, speed)
    if seeded:
        env = {**env, "notes": list(env.get("notes", [])) + seeded_notes, "seeded": seeded}
    files = []
    for codec, curve in agg.items():
        meta = env.get("anchors", {}).get(codec) or env.get("tokcodec", {}).get(codec) or {}
        desc = _description(codec, meta)
        carried = [r for r in results if r["codec"] == codec and r.get("seeded_from")]
        extra = {}
        if carried:
            extra = {
                "seeded_from": sorted({r["seeded_from"] for r in carried}),
                "seeded_points": len(carried),
                "measured": _when(carried),
                "measured_on": sorted({str(r.get("measured_on")) for r in carried if r.get("measured_on")}),
            }
            if len(carried) == len([r for r in results if r["codec"] == codec]) and len(extra["measured_on"]) == 1:
                extra["machine"] = extra["measured_on"][0]  # every point of it was measured there
        data = compressai_json(
            codec,
            curve,
            results,
            desc,
            {
                **meta,
                "clips": sorted({r["clip"] for r in results}),
                "frames": env["config"]["frames"],
                "size": env["config"]["size"],
                "machine": env["machine"],
                **extra,
            },
        )
        p = out / "json" / f"{codec}.json"
        p.write_text(json.dumps(data, indent=1) + "\n")
        files.append(p)
    write_csv(results, agg, out / "points.csv")
    files.append(out / "points.csv")
    target = env["config"].get("target_bpp", PAPER_TABLE3["bpp"])
    bd = bd_rows(agg)
    bd_anchor = anchor_pairs_bd(agg)
    (out / "bd_rate.json").write_text(
        json.dumps(
            {
                "tokcodec_vs_anchors": bd,
                "anchors_vs_x265_medium": bd_anchor,
                "method": "PCHIP, log10(bpp) vs quality, overlap only",
                "at_rate": at_rate(agg, target),
            },
            indent=1,
        )
        + "\n"
    )
    files.append(out / "bd_rate.json")
    (out / "environment.json").write_text(json.dumps(env, indent=1, default=str) + "\n")
    files.append(out / "environment.json")
    speed_note = env.get("speed_note", "")
    if speed:
        with open(out / "speed.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SPEED_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in sorted(speed, key=lambda r: (r["codec"], r["clip"], r["point"])):
                w.writerow({k: _fmt_csv(v) for k, v in _with_measured(r, SPEED_FIELDS).items()})
        files.append(out / "speed.csv")
    md = markdown_summary(agg, env, target, bd, bd_anchor, speed_note, speed)
    (out / "summary.md").write_text(md)
    files.append(out / "summary.md")
    if figures:
        from tokcodec.bench import plots

        files += plots.rd_figures(agg, out)
        if cache_dir is not None:
            try:
                p = plots.side_by_side(results, agg, env, Path(cache_dir), out / "side_by_side.png")
                if p:
                    files.append(p)
            except Exception as e:  # noqa: BLE001 - a figure must not lose the numbers
                log(f"warning: side-by-side figure failed: {e}")
    return {
        "bd": bd,
        "bd_anchor": bd_anchor,
        "at_rate": at_rate(agg, target),
        "files": files,
        "agg": agg,
        "summary": md,
    }


def _description(codec: str, meta: dict) -> str:
    if is_tokcodec(codec):
        return (
            f"tokcodec, entropy mode {meta.get('entropy_mode', '?')} ({meta.get('entropy_mode_name', '')}), "
            f"rate points {', '.join(meta.get('models', []))}, GOP {', '.join(map(str, meta.get('gops', ['?'])))}, "
            f"tokcodec.codec.pipeline on {meta.get('device', 'cpu')}"
        )
    return (
        f"{meta.get('encoder', '')} {meta.get('encoder_version', '')} via ffmpeg {meta.get('ffmpeg', '')}; "
        f"command: {meta.get('command', '')}"
    )
