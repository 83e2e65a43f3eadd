"""Tables and the speed/saving plot of a token prior's card, from `python -m tokcodec.bench.prior -o X.json`.

    python tools/prior_card.py tokcodec/zoo/cards/mlm-tc-2.eval.json

Prints Markdown tables (per clip, and per schedule) and writes
<json stem>-curve.png: bits per token against entropy-stage fps, one point
per schedule, with mode 0 and the two baselines as lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def tables(result: dict) -> str:
    s = result["summary"]
    steps = sorted(k.removeprefix("mode1_steps") for k in s if k.startswith("mode1_steps"))
    lines = [
        "| schedule (groups per latent frame) | bits/token | vs mode 0 | vs best baseline | "
        "coded vs information | bpp (GOP %d) | entropy encode fps | entropy decode fps |" % result["gop"],
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in steps:
        m = s[f"mode1_steps{k}"]
        lines.append(
            f"| {k} | {m['bits_per_token']:.3f} | {-100 * m['saving_vs_mode0']:+.1f}% | "
            f"{-100 * m['saving_vs_best_baseline']:+.1f}% | {100 * m['overhead_vs_ideal']:+.3f}% | "
            f"{m['bpp']:.4f} | {m['encode_fps']:.1f} | {m['decode_fps']:.1f} |"
        )
    lines += [
        "",
        f"Mode 0: 18 bits/token, {s['mode0_bpp']:.4f} bpp. Baselines (ideal cost): order-0 "
        f"{s['order0_bits_per_token']:.3f}, copy-previous {s['copy_previous_bits_per_token']:.3f} bits/token. "
        f"Tokenizer on the same frames and threads: encode {s['tokenizer_encode_fps']:.1f} fps, "
        f"decode {s['tokenizer_decode_fps']:.1f} fps.",
        "",
    ]
    lines += [
        "| clip | order-0 | copy-previous | "
        + " | ".join(f"mode 1 ({k})" for k in steps)
        + " | mode 0 bpp | "
        + " | ".join(f"mode 1 bpp ({k})" for k in steps)
        + " |",
        "|---" * (4 + 2 * len(steps)) + "|",
    ]
    for r in result["clips"]:
        lines.append(
            f"| {r['clip']} | {r['order0_bits_per_token']:.3f} | {r['copy_previous_bits_per_token']:.3f} | "
            + " | ".join(f"{r['mode1'][k]['bits_per_token']:.3f}" for k in steps)
            + f" | {r['mode0_bpp']:.4f} | "
            + " | ".join(f"{r['mode1'][k]['bpp']:.4f}" for k in steps)
            + " |"
        )
    return "\n".join(lines)


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summary"]
    steps = sorted(k.removeprefix("mode1_steps") for k in s if k.startswith("mode1_steps"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in (("encode_fps", "o-"), ("decode_fps", "s--")):
        xs = [s[f"mode1_steps{k}"][key] for k in steps]
        ys = [s[f"mode1_steps{k}"]["bits_per_token"] for k in steps]
        ax.plot(xs, ys, style, label=f"mode 1, entropy {key.split('_')[0]}")
        if key == "decode_fps":  # one label per schedule
            for x, y, k in zip(xs, ys, steps):
                ax.annotate(
                    f"{k} group{'s' if k != '1' else ''}", (x, y), textcoords="offset points", xytext=(-10, -15)
                )
    ax.axhline(18, color="k", lw=1, label="mode 0 (18 bits)")
    ax.axhline(s["order0_bits_per_token"], color="tab:red", lw=1, ls=":", label="order-0 (ideal)")
    ax.axhline(s["copy_previous_bits_per_token"], color="tab:purple", lw=1, ls=":", label="copy-previous (ideal)")
    ax.axvline(s["tokenizer_decode_fps"], color="gray", lw=1, ls="-.", label="tokenizer decode fps")
    ax.set_xlabel(f"entropy-stage frames/s (640x360, {result['threads']} threads)")
    ax.set_ylabel("bits per token")
    ax.set_title(f"{result['prior']} on {s['clips']} benchmark clips, GOP {result['gop']}")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    result = json.loads(path.read_text())
    print(tables(result))
    plot(result, path.with_name(path.name.replace(".eval.json", "") + "-curve.png"))
