"""Plain-text reports of the library's results, as `tokcodec info` and `tokcodec models` print them
(the way libavformat's av_dump_format serves ffprobe and any other caller). Text taken from a file
(names, error messages) goes through `safe_text`: never raw to a terminal."""

from __future__ import annotations

from fractions import Fraction


def safe_text(text: str) -> str:
    """Text from a file, safe for a terminal: control characters (escape sequences) shown as \\xNN."""
    return "".join(
        c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in str(text)
    )


def info_text(d: dict) -> str:
    """ffprobe-style text of `tokcodec.describe` / `TkcFile.describe()`'s facts."""
    fps = float(Fraction(d["fps"]))
    seconds = d["frames"] / fps
    primaries, transfer, matrix = d["colour"]["names"]
    coded = f" (coded at {d['coded_size']})" if d["coded_size"] != f"{d['width']}x{d['height']}" else ""
    strides = f"{d['strides']['temporal']}x{d['strides']['spatial']}x{d['strides']['spatial']}"
    tokens = f"  Tokens: {d['token_bits']} bits, {strides} (time x height x width), entropy mode {d['entropy_mode']} "
    tokens += f"({d['entropy_mode_name']}" + (f", prior {safe_text(d['prior'])})" if d["entropy_mode"] == 1 else ")")
    if d["bits_per_token"] is not None:
        tokens += f", {d['bits_per_token']:.3f} bits/token"
    if q := d["quantizer"]:
        tokens += f", {q['kind'].upper()}" + (f" levels {q['levels']}" if "levels" in q else "")
    decoders = ", ".join(safe_text(n) for n in d["decoders"]) + " (decode --decoder NAME)"
    lines = [
        f"Input: {safe_text(d['file'])}: tokcodec container, {d['bytes']} bytes",
        f"  Duration: {int(seconds // 3600):02d}:{int(seconds // 60 % 60):02d}:{seconds % 60:06.3f}, {d['frames']} "
        f"frames at {fps:.6g} fps ({d['fps']}), {d['bpp']:.5f} bpp, {d['bytes'] * 8 / max(seconds, 1e-9) / 1000:.1f} "
        "kb/s",
        f"  Video: {d['width']}x{d['height']}{coded}, {primaries}/{transfer}/{matrix}, "
        f"{'full' if d['colour']['full_range'] else 'limited'} range",
        tokens,
        f"  Model: {safe_text(d['model'])} (weights sha256 {d['weights_sha256'][:16]}...)",
        "  Decoders: " + (decoders if d["decoders"] else "none in this zoo"),
        f"  GOPs: {len(d['chunks'])} of up to {d['gop']} frames"
        + ("" if d["index_ok"] else " (index missing: chunks found by scanning)"),
    ]
    first = 0
    for c in d["chunks"]:
        status = "ok" if c["ok"] else f"DAMAGED: {safe_text(c['problem'])}"
        offset = c["colour_offset"]
        colour = (", colour offset R'G'B' " + " ".join(f"{v:+g}" for v in offset)) if offset and any(offset) else ""
        lines.append(
            f"    GOP {c['gop']}: frames {first}-{first + c['frames'] - 1} ({c['frames']}), "
            f"{c['bytes']} bytes, {c['bpp']:.5f} bpp{colour}, {status}"
        )
        first += c["frames"]
    lost = [c for c in d["chunks"] if not c["ok"]]
    if lost:
        lines.append(
            f"  Damage: {len(lost)} of {len(d['chunks'])} GOPs cannot be decoded "
            f"({sum(c['frames'] for c in lost)} frames); decode keeps the rest (--on-damage)"
        )
    return "\n".join(lines)


def models_text(d: dict, include_all: bool = False) -> str:
    """The table of `tokcodec.models()`: the default model's ladder with its measured rates and quality, its
    token prior and decoders; `include_all`: the retired and experimental models too."""
    default_rung = next((str(r["quality"]) for r in d["ladder"] if r["default"]), "?")
    lines = [
        f"Default model {d['default']} and its rate ladder (--quality N; N = {default_rung} is the default).\n"
        "Rates in bits per pixel on the benchmark's 8 clips never trained on (640x360, 33 frames). Entropy mode 1,\n"
        "the default, range-codes the tokens under the token prior: its rate depends on the content (mean and\n"
        "range over the clips). Mode 0 (--entropy raw) packs 18 bits per token: an exact rate. Both decode to the\n"
        "same pixels, so PSNR and LPIPS-alex (lower is better) hold for both.",
        f"  {'quality':<12}{'model':<16}{'coded at':<10}{'bpp, mode 1 (default)':<28}{'bpp, mode 0':<13}"
        f"{'PSNR dB':<9}LPIPS",
    ]
    for r in d["ladder"]:
        m0, m1 = r["mode0"], r["mode1"]
        rate1 = f"{m1['bpp']:.4f} ({m1['bpp_min']:.4f}-{m1['bpp_max']:.4f})" if m1 else "not measured"
        quality = f"{r['quality']}" + (" (default)" if r["default"] else "")
        lines.append(
            f"  {quality:<12}{r['name']:<16}{r['coding_scale']:<10g}{rate1:<28}{m0.get('bpp', '-'):<13}"
            f"{m0.get('psnr', '-'):<9}{m0.get('lpips_alex', '-')}"
        )
    for p in d["priors"]:
        m = p["metrics"]
        bits = f"{m['bits_per_token']} bits per token (mode 0: 18)" if "bits_per_token" in m else "not measured"
        if "entropy_decode_fps" in m:
            bits += f", entropy stage {m['entropy_encode_fps']} fps encode / {m['entropy_decode_fps']} fps decode"
        role = "entropy mode 1 of the ladder" if p["default"] else "for the same tokens: encode --prior " + p["name"]
        lines.append(f"Token prior {p['name']} ({role}): {bits}")
    decoders = ", ".join(x["name"] for x in d["decoders"]) or "none besides the model's own"
    lines.append(f"Decoders for its tokens (decode --decoder NAME): {decoders}")
    others = len(d["others"]) + len(d["other_priors"])
    if not include_all:
        if others:
            lines.append(f"Retired and experimental: {others} more models and priors (tokcodec models --all)")
        return "\n".join(lines)
    lines.append("Retired and experimental (they still decode files that name them):")
    for r in d["others"]:
        m = {k: v for k, v in r["mode0"].items() if k != "measured_by"}
        numbers = ", ".join(f"{k} {v}" for k, v in m.items()) if m else "not measured"
        scale = f", coded at {r['coding_scale']}x size" if r["coding_scale"] != 1 else ""
        lines.append(f"  {r['name']}{scale}: {numbers}")
    lines += [f"  token prior {name}" for name in d["other_priors"]]
    return "\n".join(lines)


def batch_text(summary, name: str = "transcode") -> str:
    """A batch's Summary (tokcodec.transcode) in a line, then what any file lost or had changed."""
    from tqdm import tqdm

    def size(n: int) -> str:
        return tqdm.format_sizeof(n, "B")

    # a percentage reads the same both ways (coding shrinks, decoding grows); "0.0886:1" did not
    ratio = (
        f" ({100 * summary.bytes_out / summary.bytes_in:.3g}% of the input's size)"
        if summary.bytes_in and summary.bytes_out
        else ""
    )
    lines = [
        f"{name}: {summary.files} files: {summary.done} done, {summary.skipped} skipped, {summary.failed} failed; "
        f"{size(summary.bytes_in)} in, {size(summary.bytes_out)} out{ratio}; {summary.seconds:.1f} s"
    ]
    # notes: also in the database's notes column
    lines += [f"tokcodec: warning: {safe_text(n['source'])}: {safe_text(n['note'])}" for n in summary.notes]
    return "\n".join(lines)


def encode_text(r) -> str:
    """`tokcodec encode`'s line for an EncodeResult."""
    line = f"{r.output}: {r.frames} frames {r.width}x{r.height}, {r.bytes} bytes, {r.bpp:.4f} bpp, {r.fps:.1f} fps on "
    line += f"{r.device}, model {r.model}" + (f" (--quality {r.quality})" if r.quality else "")
    return line + (f", entropy mode 1 ({r.prior})" if r.entropy_mode else ", entropy mode 0")


_ON_DAMAGE_ACTION = {"freeze": "replaced by the last good frame", "skip": "dropped", "stop": "output stops there"}


def decode_text(r) -> str:
    """`tokcodec decode`'s line for a DecodeResult."""
    return f"{r.output}: {r.frames} frames {r.width}x{r.height}, {r.fps:.1f} fps on {r.device}"


def damage_lines(r, on_damage: str) -> list[str]:
    """One line per GOP a decode lost (DecodeResult.lost), saying what the output has in its place."""
    return [
        f"damaged: GOP {g.gop}, frames {g.first_frame}-{g.first_frame + g.frames - 1} lost "
        f"({_ON_DAMAGE_ACTION[on_damage]}): {safe_text(g.reason)}"
        for g in r.lost
    ]


_OPTIONAL = (("dists", "DISTS", 4), ("vmaf", "VMAF", 2), ("flicker", "flicker", 3))


def _measured(value) -> bool:
    return value is not None and value == value  # None or NaN (the mean of no clip): not measured


def eval_text(result: dict) -> str:
    """`tokcodec eval`'s line: the mean over the clips."""
    m = result["mean"]
    scores = f"PSNR {m['psnr']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, LPIPS-alex {m['lpips_alex']:.4f}"
    scores += "".join(
        f", {name} {m[k]:.{digits}f}" for k, name, digits in _OPTIONAL if m.get(k) == m.get(k) is not None
    )
    speed = f"encode {m['encode_fps']:.1f} fps, decode {m['decode_fps']:.1f} fps ({result.get('device', '?')})"
    return f"{result['model']}: {m['bpp']:.4f} bpp, {scores}, {speed}"


def tokens_text(output: str, meta: dict) -> str:
    """`tokcodec tokens`' line for one exported file."""
    shapes = ", ".join("x".join(map(str, g["shape"])) for g in meta["gops"])
    return (
        f"{output}: {len(meta['gops'])} GOPs ({shapes}), {meta['frames']} frames {meta['width']}x{meta['height']}, "
        f"{meta['token_bits']}-bit tokens, model {meta['model']}"
    )


def bench_text(outcome) -> tuple[str, str]:
    """(the summary's tables before the per-rate sections, the closing line) of a BenchOutcome."""
    ran = f"{outcome.ran} points run, {outcome.skipped} from the cache" if outcome.ran is not None else "report only"
    where = f"report in {outcome.out_dir}/ (summary.md, points.csv, json/, rd_*.png)"
    return outcome.summary.split("### At ")[0].rstrip(), f"\n{ran}; {where}; {outcome.seconds:.0f} s"


def default_rung_text(registry_path) -> str:
    """'the default model, NAME: rung K of N' from a zoo registry (plain JSON: no torch), for help texts."""
    import json

    try:
        registry = json.loads(registry_path.read_text())
        ladder = registry.get("ladder", [])
        return (
            f"the default model, {registry['default']}: rung {ladder.index(registry['default']) + 1} of {len(ladder)}"
        )
    except (OSError, ValueError, KeyError):
        return "the default model"
