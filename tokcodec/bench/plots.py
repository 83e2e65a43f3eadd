"""Figures: rate-distortion curves (with the paper's Table 3 points) and a side-by-side crop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tokcodec.bench.schema import METRICS, PAPER_TABLE3, is_tokcodec

RD_METRICS = ["psnr_rgb", "ms_ssim", "lpips", "vmaf", "psnr_y"]
_PAPER_KEY = {"psnr_rgb": "psnr", "ms_ssim": "ms_ssim", "lpips": "lpips"}
_FAMILY_COLOURS = {"x265": "tab:blue", "vvenc": "tab:green", "svtav1": "tab:orange", "tokcodec": "tab:red"}


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(codec: str, family: str) -> dict:
    colour = _FAMILY_COLOURS.get(family, "tab:gray")
    style = {"color": colour, "linestyle": "-", "marker": "o", "markersize": 4, "linewidth": 1.5}
    if "veryslow" in codec:
        style["marker"] = "s"
        style["color"] = "tab:purple" if family == "x265" else colour
    if "psnr" in codec or codec.endswith("qpa0"):
        style["linestyle"] = "--"
    if is_tokcodec(codec):
        style.update(marker="*", markersize=12, linewidth=2.0)
        if codec.endswith("m1"):
            style["color"] = "darkred"
    return style


def _label(key: str) -> str:
    return {k: lab for k, lab, _ in METRICS}[key]


def rd_axes(ax, agg: dict, key: str, paper: bool = True) -> None:
    """One metric's RD curves on an axis (log bpp), paper points marked as MCL-JCV figures."""
    for codec, curve in sorted(agg.items(), key=lambda kv: (is_tokcodec(kv[0]), kv[0])):
        pts = [(p["bpp"], p[key]) for p in curve if p.get(key) is not None]
        if not pts:
            continue
        x, y = zip(*pts)
        ax.plot(x, y, label=codec, **_style(codec, curve[0]["family"]))
    if paper and key in _PAPER_KEY:
        for name, vals in PAPER_TABLE3["rows"].items():
            ax.plot(
                [PAPER_TABLE3["bpp"]],
                [vals[_PAPER_KEY[key]]],
                marker="D",
                color="black",
                markersize=5,
                linestyle="none",
                label=None,
            )
            ax.annotate(
                f"{name} (paper, MCL-JCV)",
                (PAPER_TABLE3["bpp"], vals[_PAPER_KEY[key]]),
                textcoords="offset points",
                xytext=(5, 3),
                fontsize=6.5,
                color="black",
            )
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(_label(key) + (" (lower is better)" if key == "lpips" else ""))
    ax.grid(True, which="both", alpha=0.3)


def rd_figures(agg: dict, out_dir: Path) -> list[Path]:
    """rd_<metric>.png for each metric and rd_curves.png (PSNR, MS-SSIM, LPIPS side by side)."""
    plt = _matplotlib()
    files = []
    note = "black diamonds: MAGVIT-v2 paper, Table 3 (MCL-JCV, other clips than these)"
    for key in RD_METRICS:
        if not any(p.get(key) is not None for c in agg.values() for p in c):
            continue
        fig, ax = plt.subplots(figsize=(7, 5))
        rd_axes(ax, agg, key)
        ax.legend(fontsize=7, loc="lower right" if key != "lpips" else "upper right")
        if key in _PAPER_KEY:
            ax.set_title(note, fontsize=8)
        fig.tight_layout()
        p = out_dir / f"rd_{key}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        files.append(p)
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    for ax, key in zip(axes, ["psnr_rgb", "ms_ssim", "lpips"]):
        rd_axes(ax, agg, key)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle("Rate-distortion, mean over clips. " + note, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    p = out_dir / "rd_curves.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    files.append(p)
    return files


def detail_crop(frame: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the window with the most gradient energy (a textured region), on an 8-pixel grid."""
    H, W = frame.shape[:2]
    w, h = min(w, W), min(h, H)
    g = frame.astype(np.float32).mean(axis=2)
    e = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    ii = np.pad(e.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_xy = -1.0, (0, 0)
    for y in range(0, e.shape[0] - h + 1, 8):
        for x in range(0, e.shape[1] - w + 1, 8):
            s = ii[y + h, x + w] - ii[y, x + w] - ii[y + h, x] + ii[y, x]
            if s > best:
                best, best_xy = s, (x, y)
    return best_xy[0], best_xy[1], w, h


def _pick(results: list[dict], codec: str, clip: str, target: float) -> dict | None:
    rows = [r for r in results if r["codec"] == codec and r["clip"] == clip]
    if not rows:
        return None
    return min(rows, key=lambda r: abs(math.log(r["bpp"] / target)))


def _tokcodec_spec(env: dict, codec: str) -> dict:
    """What a tokcodec curve was measured with (environment.json's "tokcodec": mode, models, decoder)."""
    return (env.get("tokcodec") or {}).get(codec) or {}


def _decoded_frame(row: dict, stream: Path, fidx: int, cfg: dict, env: dict) -> np.ndarray:
    """Frame `fidx` of a cached stream, decoded once and kept next to it as `<stream>.f<idx>.png`."""
    from PIL import Image

    png = stream.with_name(stream.name + f".f{fidx}.png")
    if png.exists() and png.stat().st_mtime >= stream.stat().st_mtime:
        return np.asarray(Image.open(png).convert("RGB"))
    from tokcodec.bench.codecs import codec_for

    spec = _tokcodec_spec(env, row["codec"]) if is_tokcodec(row["codec"]) else None
    spec = spec or next((a for a in cfg["anchors"] if a["name"] == row["codec"]), None)
    codec = codec_for({"family": row["family"], **(spec or {})}, cfg.get("threads", 1), cfg.get("device", "cpu"))
    frame = codec.decode(row["value"], str(stream)).rgb_frames(slice(fidx, fidx + 1))[0]
    Image.fromarray(frame).save(png)
    return frame


def _reencode_anchor(row: dict, stream: Path, ref, cache: Path, cfg: dict) -> str:
    """Encode one anchor point of one clip again into `stream` (its result was seeded from a committed
    report, so the cache has no stream); a note on how it compares with the measured stream."""
    from tokcodec.bench import anchors as anc

    spec = anc.AnchorSpec.from_dict(next(a for a in cfg["anchors"] if a["name"] == row["codec"]))
    stream.parent.mkdir(parents=True, exist_ok=True)
    coded = anc.encode(
        spec,
        int(row["value"]),
        str(cache / "refs" / row["clip_key"] / "ref.yuv"),
        ref.width,
        ref.height,
        ref.fps,
        ref.num_frames,
        str(stream),
        cfg.get("threads", 1),
        cfg.get("intra_period"),
    )
    if coded.num_bytes == row["bytes"]:
        return "re-encoded for this figure (same size as measured)"
    return f"re-encoded for this figure: {coded.num_bytes} B, measured {row['bytes']} B"


def side_by_side(results: list[dict], agg: dict, env: dict, cache: Path, out_path: Path) -> Path | None:
    """The same crop of one frame from every codec at about the same bpp (the point nearest in log-bpp).

    An anchor point whose stream is not in the cache (its result was seeded from a committed report,
    `tokcodec bench --seed-from`) is encoded again, that one point of that one clip, and its panel says so;
    a panel that cannot be drawn is named under the figure."""
    from tokcodec.bench.datasets import load_reference

    cfg = env["config"]
    sbs = cfg.get("side_by_side") or {}
    clips = sorted({r["clip"] for r in results})
    if not clips:
        return None
    clip = sbs.get("clip") if sbs.get("clip") in clips else clips[0]
    tk = sorted(c for c in agg if is_tokcodec(c))
    target = sbs.get("target_bpp")
    if target is None:
        tk_rows = [r for r in results if r["clip"] == clip and is_tokcodec(r["codec"])]
        target = min(r["bpp"] for r in tk_rows) if tk_rows else cfg.get("target_bpp", PAPER_TABLE3["bpp"])
    any_row = next(r for r in results if r["clip"] == clip)
    ref = load_reference(cache / "refs" / any_row["clip_key"])
    fidx = int(sbs.get("frame", ref.num_frames // 2))
    fidx = min(max(fidx, 0), ref.num_frames - 1)
    crop = sbs.get("crop") or detail_crop(ref.rgb[fidx], max(64, ref.width * 3 // 10), max(48, ref.height * 4 // 10))
    x, y, w, h = crop

    panels = [("reference", "", ref.rgb[fidx][y : y + h, x : x + w])]
    seen_tk_models = set()
    left_out = []
    codecs = tk + sorted(c for c in agg if not is_tokcodec(c))
    for codec in codecs:
        row = _pick(results, codec, clip, target)
        if row is None:
            continue
        stream = cache / row["stream"]
        redone = ""
        if row["family"] != "tokcodec" and (not stream.exists() or stream.stat().st_size != row["bytes"]):
            try:
                redone = _reencode_anchor(row, stream, ref, cache, cfg)
            except Exception as e:  # noqa: BLE001 - one panel must not lose the figure
                left_out.append(
                    f"{codec} (no stream in the cache; encoding it again failed: "
                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__})"
                )
                continue
        if not stream.exists():
            left_out.append(f"{codec} (no stream in the cache)")
            continue
        if row.get("seeded_from") and not redone:  # encoded again by an earlier report (the size checked above)
            redone = "re-encoded for this figure (same size as measured)"
        if row["family"] == "tokcodec":  # one panel per model and decoder (its modes share the frames)
            drawn_by = (_tokcodec_spec(env, codec).get("decoder"), row["point"])
            if drawn_by in seen_tk_models:
                continue
            seen_tk_models.add(drawn_by)
        frame = _decoded_frame(row, stream, fidx, cfg, env)
        if row["family"] == "tokcodec":
            same = [
                r
                for r in results
                if r["clip"] == clip
                and r["point"] == row["point"]
                and is_tokcodec(r["codec"])
                and _tokcodec_spec(env, r["codec"]).get("decoder") == drawn_by[0]
            ]
            rates = ", ".join(
                f"m{_tokcodec_spec(env, r['codec']).get('entropy_mode', '?')} {r['bpp']:.4f}"
                for r in sorted(same, key=lambda r: r["codec"])
            )
            title = f"tokcodec {row['point']}" + (f" ({drawn_by[0]})" if drawn_by[0] else "")
            sub = f"{rates} bpp\nPSNR {row['psnr_rgb']:.2f}  LPIPS {row['lpips']:.3f}"
        else:
            title = f"{codec} {row['point']}"
            sub = f"{row['bpp']:.4f} bpp\nPSNR {row['psnr_rgb']:.2f}  LPIPS {row['lpips']:.3f}"
            if redone:
                sub += f"\n{redone}"
        panels.append((title, sub, frame[y : y + h, x : x + w]))

    plt = _matplotlib()
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    scale = 2.0  # crops shown at 2x, nearest neighbour
    fig_w = ncols * w * scale / 100 + 0.4
    title_h = 0.75 + (0.15 if any(sub.count("\n") > 1 for _, sub, _ in panels) else 0.0)
    fig_h = nrows * (h * scale / 100 + title_h) + 0.6 + 0.2 * len(left_out)
    fig, axes = plt.subplots(nrows, ncols, figsize=(fig_w, fig_h), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, sub, img) in zip(axes.flat, panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title + ("\n" + sub if sub else f"\n{clip}, frame {fidx}\ncrop {w}x{h} at ({x},{y})"), fontsize=8)
    fig.suptitle(f"{clip}, frame {fidx}: each codec at the point nearest {target:.4f} bpp", fontsize=10)
    if left_out:
        fig.text(0.01, 0.005, "not shown: " + "; ".join(left_out), fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.2 * len(left_out) / fig_h, 1, 1))
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
