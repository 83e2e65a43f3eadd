"""`tokcodec`: the command line. Thin: parse options, call the library, report.

Exit codes and error handling: see common.py.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from tokcodec.errors import TokcodecError
from tokcodec.io.atomic import exit_on_signals
from tokcodec.codec import ON_DAMAGE
from tokcodec_cli.common import (
    check_fps,
    check_gop,
    check_positive_float,
    check_tkc_output,
    device_option,
    entropy_option,
    force_option,
    friendly_errors,
    quiet_option,
    resolve_device,
    safe_text,
)


def _default_rung_text() -> str:
    """'the default model, rung K of N' from the zoo's registry (plain JSON: no torch at import)."""
    try:
        registry = json.loads((Path(__import__("tokcodec").__file__).parent / "zoo" / "registry.json").read_text())
        ladder = registry.get("ladder", [])
        return (
            f"the default model, {registry['default']}: rung {ladder.index(registry['default']) + 1} of {len(ladder)}"
        )
    except (OSError, ValueError, KeyError):
        return "the default model"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tokcodec")
def cli():
    """tokcodec: a neural video codec (causal MAGVIT-v2 tokenizer + token container)."""


@cli.command()
@click.argument("input_path", metavar="IN")
@click.option("-o", "--output", required=True, callback=check_tkc_output, help="Output .tkc file.")
@click.option("--model", default=None, help="Zoo model name (see `tokcodec models`); default: the default model.")
@click.option(
    "--quality",
    type=click.IntRange(min=1),
    default=None,
    help=f"Rung of the rate ladder, 1 (lowest rate) to N (see `tokcodec models`); default: {_default_rung_text()}.",
)
@click.option(
    "--bpp",
    "target_bpp",
    type=float,
    default=None,
    callback=check_positive_float,
    help="Pick the ladder rung with the highest rate not above this many bits per pixel. A target "
    "below the lowest rung's rate gives the lowest rung, with a warning (exit code 0).",
)
@click.option(
    "--gop",
    default=17,
    show_default=True,
    callback=check_gop,
    help="Frames per GOP (1 + 4k); each GOP decodes on its own.",
)
@click.option(
    "--frames", "max_frames", type=click.IntRange(min=1), default=None, help="Encode at most this many frames."
)
@click.option(
    "--fps", default=None, callback=check_fps, help="Frame rate for frame folders and images (e.g. 25 or 30000/1001)."
)
@entropy_option
@click.option(
    "--mlm-steps",
    type=click.Choice(["1", "2", "4"]),
    default="4",
    show_default=True,
    help="Mode 1 schedule: groups per latent frame (fewer: faster, more bits).",
)
@click.option(
    "--colour-offset/--no-colour-offset",
    "fix_colour",
    default=True,
    show_default=True,
    help="Send each GOP's mean-colour correction (encoding then costs about half a decode more).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@device_option
@force_option
@quiet_option
@friendly_errors
def encode(
    input_path,
    output,
    model,
    quality,
    target_bpp,
    gop,
    max_frames,
    fps,
    entropy,
    mlm_steps,
    fix_colour,
    as_json,
    device,
    force,
    quiet,
):
    """Encode a video, frame folder or image IN into a .tkc container.

    The rate is set by the model: --quality N picks rung N of the rate ladder,
    --bpp the highest rung whose rate fits the target. In entropy mode 1 (the
    default) the rate depends on the content, so --bpp estimates, encodes, and
    steps down a rung when the file came out above the target; in mode 0
    (--entropy raw) the rate is known exactly beforehand. A target no rung
    can meet is a warning, in --json too, not an error.
    """
    if sum(v is not None for v in (model, quality, target_bpp)) > 1:
        raise click.UsageError("give at most one of --model, --quality and --bpp")
    import tokcodec

    device = resolve_device(device)
    r = tokcodec.encode(
        input_path,
        output,
        model=model,
        quality=quality,
        bpp=target_bpp,
        gop=gop,
        max_frames=max_frames,
        fps=fps,
        entropy=entropy,
        mlm_steps=int(mlm_steps),
        colour_offset=fix_colour,
        device=device,
        force=force,
        quiet=quiet,
        note=None if quiet else lambda line: click.echo(f"note: {line}", err=True),
    )
    summary = {
        "output": output,
        "frames": r.frames,
        "width": r.width,
        "height": r.height,
        "bytes": r.bytes,
        "bpp": round(r.bpp, 6),
        "encode_fps": round(r.fps, 2),
        "model": r.model,
        "quality": r.quality,
        "entropy_mode": r.entropy_mode,
        "prior": r.prior,
        "device": device,
        "rotation": r.rotation,
        "rate": r.rate,
        "warnings": r.warnings,
    }
    _report(
        summary,
        as_json,
        quiet,
        f"{output}: {r.frames} frames {r.width}x{r.height}, {r.bytes} bytes, "
        f"{r.bpp:.4f} bpp, {r.fps:.1f} fps on {device}, model {r.model}"
        + (f" (--quality {r.quality})" if r.quality else "")
        + (f", entropy mode 1 ({r.prior})" if r.entropy_mode else ", entropy mode 0"),
    )
    for line in r.warnings:  # what the source had that the file does not keep; a target not met
        click.echo(f"tokcodec: warning: {safe_text(line)}", err=True)
    if r.ended_early:  # a source that ended before its announced frames
        sys.exit(3)


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option(
    "-o",
    "--output",
    required=True,
    help="Output: .mp4, .mkv (lossless FFV1), .y4m, or a PNG folder (ends in / or has no suffix).",
)
@click.option("--model", default=None, help="Use this zoo model instead of the one named in the file.")
@click.option(
    "--decoder",
    default=None,
    help="Draw the frames with this decoder for the file's tokens instead of its model's own (`tokcodec "
    "info FILE` lists them); the file is not changed.",
)
@click.option(
    "--on-damage",
    type=click.Choice(ON_DAMAGE),
    default=ON_DAMAGE[0],
    show_default=True,
    help="A damaged or missing GOP: freeze the last good frame over its frames (keeps the duration), "
    "skip its frames, or stop the output there. Intact GOPs are always kept; exit code 3.",
)
@click.option(
    "--crf",
    type=click.IntRange(0, 51),
    default=None,
    help="H.264 quality of an .mp4 output: 0 lossless, higher is smaller (default 12, near lossless; "
    "23 is x264's usual).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@device_option
@force_option
@quiet_option
@friendly_errors
def decode(input_path, output, model, decoder, on_damage, crf, as_json, device, force, quiet):
    """Decode a .tkc container to video frames (.mp4, .mkv, .y4m, a PNG folder, or one .png/.jpg image)."""
    import tokcodec

    if crf is not None and not output.lower().endswith(".mp4"):
        raise click.UsageError("--crf applies to .mp4 outputs only")
    if model is not None and decoder is not None:
        raise click.UsageError("give --model or --decoder, not both")
    tokcodec.api.check_file(input_path)  # a hostile header is refused before torch loads
    device = resolve_device(device)
    r = tokcodec.decode(
        input_path,
        output,
        model=model,
        decoder=decoder,
        on_damage=on_damage,
        crf=crf,
        device=device,
        force=force,
        quiet=quiet,
    )
    lost = r.lost
    summary = {
        "output": output,
        "frames": r.frames,
        "width": r.width,
        "height": r.height,
        "decode_fps": round(r.fps, 2),
        "device": device,
        "lost": [
            {"gop": g.gop, "frames": [g.first_frame, g.first_frame + g.frames - 1], "reason": g.reason} for g in lost
        ],
    }
    _report(summary, as_json, quiet, f"{output}: {r.frames} frames {r.width}x{r.height}, {r.fps:.1f} fps on {device}")
    if lost:
        action = {"freeze": "replaced by the last good frame", "skip": "dropped", "stop": "output stops there"}
        for g in lost:
            click.echo(
                f"tokcodec: damaged: GOP {g.gop}, frames {g.first_frame}-{g.first_frame + g.frames - 1} lost "
                f"({action[on_damage]}): {safe_text(g.reason)}",
                err=True,
            )
        sys.exit(3)


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def info(input_path, as_json):
    """Show a container's header, GOPs, bpp and damage, checking every CRC (no model needed).

    Exit code 3 when a GOP is damaged or missing (decode still gives back the rest)."""
    import tokcodec
    from tokcodec.codec.container import ENTROPY_MODES

    with tokcodec.open(input_path) as f:
        d, h = f.describe(), f.header
    chunks = d["chunks"]
    damaged = [c for c in chunks if not c["ok"]]
    if as_json:
        click.echo(json.dumps(d, indent=2))
    else:
        _print_info(d, h, ENTROPY_MODES)
    if damaged:
        sys.exit(3)


def _print_info(d: dict, h, entropy_modes: dict) -> None:
    """ffprobe-style text for `tokcodec info`."""
    from tokcodec.io.colour import colour_names

    fps = h.fps_num / h.fps_den
    seconds = d["frames"] / fps
    primaries, transfer, matrix = colour_names(h.colour_primaries, h.transfer_characteristics, h.matrix_coefficients)
    coded = f" (coded at {d['coded_size']})" if d["coded_size"] != f"{d['width']}x{d['height']}" else ""
    mode = entropy_modes.get(h.entropy_mode, "unknown")
    lines = [
        f"Input: {safe_text(d['file'])}: tokcodec container, {d['bytes']} bytes",
        f"  Duration: {int(seconds // 3600):02d}:{int(seconds // 60 % 60):02d}:{seconds % 60:06.3f}, "
        f"{d['frames']} frames at {fps:.6g} fps ({d['fps']}), {d['bpp']:.5f} bpp, "
        f"{d['bytes'] * 8 / max(seconds, 1e-9) / 1000:.1f} kb/s",
        f"  Video: {d['width']}x{d['height']}{coded}, {primaries}/{transfer}/{matrix}, "
        f"{'full' if h.full_range else 'limited'} range",
        f"  Tokens: {h.token_bits} bits, {h.temporal_stride}x{h.spatial_stride}x{h.spatial_stride} "
        f"(time x height x width), entropy mode {h.entropy_mode} ({mode}"
        + (f", prior {safe_text(h.mlm_name)}" if h.entropy_mode == 1 else "")
        + ")"
        + (f", {d['bits_per_token']:.3f} bits/token" if d["bits_per_token"] is not None else "")
        + (
            f", {h.quantizer.upper()}" + (f" levels {list(h.fsq_levels)}" if h.fsq_levels else "")
            if h.quantizer
            else ""
        ),
        f"  Model: {safe_text(d['model'])} (weights sha256 {d['weights_sha256'][:16]}...)",
        "  Decoders: "
        + (
            ", ".join(safe_text(n) for n in d["decoders"]) + " (decode --decoder NAME)"
            if d["decoders"]
            else "none in this zoo"
        ),
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
    click.echo("\n".join(lines))


@cli.command()
@click.option("--all", "include_all", is_flag=True, help="Also list the retired and experimental models.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def models(include_all, as_json):
    """List the default model's rate ladder with its measured rates and quality, its token prior and
    decoders (--all: the retired and experimental models too)."""
    import tokcodec.api

    d = tokcodec.api.models(include_all)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(
        f"Default model {d['default']} and its rate ladder (--quality N; N = {_rung_of(d)} is the default).\n"
        "Rates in bits per pixel on the benchmark's 8 clips never trained on (640x360, 33 frames). Entropy mode 1,\n"
        "the default, range-codes the tokens under the token prior: its rate depends on the content (mean and\n"
        "range over the clips). Mode 0 (--entropy raw) packs 18 bits per token: an exact rate. Both decode to the\n"
        "same pixels, so PSNR and LPIPS-alex (lower is better) hold for both."
    )
    click.echo(
        f"  {'quality':<12}{'model':<16}{'coded at':<10}{'bpp, mode 1 (default)':<28}{'bpp, mode 0':<13}"
        f"{'PSNR dB':<9}LPIPS"
    )
    for r in d["ladder"]:
        m0, m1 = r["mode0"], r["mode1"]
        rate1 = f"{m1['bpp']:.4f} ({m1['bpp_min']:.4f}-{m1['bpp_max']:.4f})" if m1 else "not measured"
        quality = f"{r['quality']}" + (" (default)" if r["default"] else "")
        click.echo(
            f"  {quality:<12}{r['name']:<16}{r['coding_scale']:<10g}{rate1:<28}{m0.get('bpp', '-'):<13}"
            f"{m0.get('psnr', '-'):<9}{m0.get('lpips_alex', '-')}"
        )
    for p in d["priors"]:
        m = p["metrics"]
        bits = f"{m['bits_per_token']} bits per token (mode 0: 18)" if "bits_per_token" in m else "not measured"
        speed = (
            f", entropy stage {m['entropy_encode_fps']} fps encode / {m['entropy_decode_fps']} fps decode"
            if "entropy_decode_fps" in m
            else ""
        )
        click.echo(f"Token prior {p['name']} (entropy mode 1 of the ladder): {bits}{speed}")
    decoders = ", ".join(x["name"] for x in d["decoders"]) or "none besides the model's own"
    click.echo(f"Decoders for its tokens (decode --decoder NAME): {decoders}")
    if not include_all:
        others = len(d["others"]) + len(d["other_priors"])
        if others:
            click.echo(f"Retired and experimental: {others} more models and priors (tokcodec models --all)")
        return
    click.echo("Retired and experimental (they still decode files that name them):")
    for r in d["others"]:
        m = {k: v for k, v in r["mode0"].items() if k != "measured_by"}
        numbers = ", ".join(f"{k} {v}" for k, v in m.items()) if m else "not measured"
        scale = f", coded at {r['coding_scale']}x size" if r["coding_scale"] != 1 else ""
        click.echo(f"  {r['name']}{scale}: {numbers}")
    for name in d["other_priors"]:
        click.echo(f"  token prior {name}")


def _rung_of(d: dict) -> str:
    return next((str(r["quality"]) for r in d["ladder"] if r["default"]), "?")


@cli.command("eval")
@click.argument("clips", nargs=-1, required=True)
@click.option("--model", default=None, help="Zoo model name; default: the default model.")
@click.option("--quality", type=int, default=None, help="Rung of the rate ladder instead of --model.")
@click.option(
    "--decoder", default=None, help="Decode with this decoder entry for the model's tokens (zoo decoders) instead."
)
@click.option("--size", default="640x360", show_default=True, help="Area-downscale every clip to WxH.")
@click.option("--no-dists", "skip_dists", is_flag=True, help="Skip DISTS (VGG16 at full size: most of the time).")
@click.option("--frames", default=33, show_default=True, help="Frames per clip.")
@click.option("--gop", default=17, show_default=True, help="Frames per GOP.")
@click.option("-o", "--output", help="Write the JSON result here (else stdout).")
@click.option(
    "--colour-offset/--no-colour-offset",
    "fix_colour",
    default=True,
    show_default=True,
    help="Encode with colour offsets; --no-colour-offset measures the tokenizer's own colour.",
)
@device_option
@force_option
@quiet_option
@friendly_errors
def evaluate(clips, model, quality, decoder, size, skip_dists, frames, gop, output, fix_colour, device, force, quiet):
    """Measure a model on CLIPS through the real container: bpp, PSNR, MS-SSIM, LPIPS-alex, fps."""
    import tokcodec
    from tokcodec.api import model_name
    from tokcodec.evaluate import evaluate_model
    from tokcodec.io import atomic_output

    device = resolve_device(device)
    model = model_name(model, quality)
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise TokcodecError(f"--size {size}: expected WxH, e.g. 640x360") from None
    if decoder is not None:  # the base model's encoder (the same tokens) and the entry's decoder
        from tokcodec.zoo.decoders import load_decoder

        if model != "default":
            raise click.UsageError("--decoder names its model: not with --model or --quality")
        tokenizer, entry, _ = load_decoder(decoder, device=device)
    else:
        tokenizer, entry = tokcodec.load_model(model, device=device)
    # Claim the output before the (long) measurement, so a bad path fails at once.
    with atomic_output(output, force=force) if output else contextlib.nullcontext() as out:
        result = evaluate_model(
            tokenizer,
            entry,
            list(clips),
            (width, height),
            frames,
            gop,
            device,
            progress=not quiet,
            fix_colour=fix_colour,
            dists=not skip_dists,
        )
        text = json.dumps(result, indent=2)
        if out:
            Path(out.tmp).write_text(text + "\n")
        else:
            click.echo(text)
    if not quiet:
        m = result["mean"]
        click.echo(
            f"{entry.name}: {m['bpp']:.4f} bpp, PSNR {m['psnr']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, "
            f"LPIPS-alex {m['lpips_alex']:.4f}, encode {m['encode_fps']:.1f} fps, "
            f"decode {m['decode_fps']:.1f} fps ({device})",
            err=True,
        )


def _report(summary: dict, as_json: bool, quiet: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(line, err=True)


def _add_optional_commands() -> None:
    from tokcodec_cli.tokens import tokens
    from tokcodec_cli.train import train
    from tokcodec_cli.transcode import transcode

    cli.add_command(train)
    cli.add_command(transcode)
    cli.add_command(tokens)
    try:
        from tokcodec_cli.bench import bench
    except ImportError:  # the benchmark command is optional while it is being built
        return
    cli.add_command(bench)


_add_optional_commands()


def main() -> None:
    """The `tokcodec` command: click's parsing, with usage errors on one line (exit 2)."""
    exit_on_signals()
    try:
        cli.main(prog_name="tokcodec", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("tokcodec: error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `tokcodec`: the help, as usual
            e.show()
            sys.exit(e.exit_code)
        click.echo(f"tokcodec: error: {safe_text(e.format_message())}", err=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
