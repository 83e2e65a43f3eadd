"""`tokcodec`: the command line. Thin: parse options, call the library, report.

Exit codes and error handling: see common.py.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from tokcodec.errors import TokcodecError
from tokcodec_cli.common import device_option, force_option, friendly_errors, quiet_option, resolve_device


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tokcodec")
def cli():
    """tokcodec: a neural video codec (causal MAGVIT-v2 tokenizer + token container)."""


@cli.command()
@click.argument("input_path", metavar="IN")
@click.option("-o", "--output", required=True, help="Output .tkc file.")
@click.option("--model", default=None, help="Zoo model name (see `tokcodec models`); default: the default model.")
@click.option("--quality", type=int, default=None,
              help="Rung of the rate ladder, 1 (lowest rate) to N (see `tokcodec models`).")
@click.option("--bpp", "target_bpp", type=float, default=None,
              help="Pick the ladder rung with the highest rate not above this many bits per pixel.")
@click.option("--gop", default=17, show_default=True, help="Frames per GOP (1 + 4k); each GOP decodes on its own.")
@click.option("--frames", "max_frames", type=int, default=None, help="Encode at most this many frames.")
@click.option("--fps", default=None, help="Frame rate for frame folders and images (e.g. 25 or 30000/1001).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@device_option
@force_option
@quiet_option
@friendly_errors
def encode(input_path, output, model, quality, target_bpp, gop, max_frames, fps, as_json, device, force, quiet):
    """Encode a video, frame folder or image IN into a .tkc container.

    The rate is set by the model: --quality N picks rung N of the rate ladder,
    --bpp picks the rung whose (exactly predictable) rate fits the target.
    """
    import dataclasses

    from tokcodec.codec.pipeline import encode_video, rung_for_bpp
    from tokcodec.io import open_video
    from tokcodec.zoo import load_model
    device = resolve_device(device)
    if Path(output).suffix.lower() != ".tkc":
        raise TokcodecError(f"{output}: the output of encode is a .tkc file")
    if Path(output).exists() and not force:
        raise TokcodecError(f"{output} exists (use --force to overwrite)")
    if target_bpp is not None and (model or quality is not None):
        raise TokcodecError("give at most one of --model, --quality and --bpp")
    model = _model_name(model, quality)
    with open_video(input_path, fps=fps) as reader:
        if target_bpp is not None:
            frames = min((n for n in (reader.info.num_frames, max_frames) if n), default=None)
            model, bpp = rung_for_bpp(target_bpp, dataclasses.replace(reader.info, num_frames=frames), gop)
            if bpp > target_bpp and not quiet:
                click.echo(f"note: no rung fits {target_bpp} bpp; using the lowest, {model} ({bpp:.4f} bpp)", err=True)
        tokenizer, entry = load_model(model, device=device)
        stats = encode_video(reader, reader.info, output, tokenizer, entry, gop=gop, device=device, force=force,
                             quiet=quiet, max_frames=max_frames)
    summary = {"output": output, "frames": stats.frames, "width": stats.width, "height": stats.height,
               "bytes": stats.bytes, "bpp": round(stats.bpp, 6), "encode_fps": round(stats.fps, 2),
               "model": entry.name, "device": device}
    _report(summary, as_json, quiet,
            f"{output}: {stats.frames} frames {stats.width}x{stats.height}, {stats.bytes} bytes, "
            f"{stats.bpp:.4f} bpp, {stats.fps:.1f} fps on {device}")


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option("-o", "--output", required=True,
              help="Output: .mp4, .mkv (lossless FFV1), .y4m, or a PNG folder (ends in / or has no suffix).")
@click.option("--model", default=None, help="Use this zoo model instead of the one named in the file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@device_option
@force_option
@quiet_option
@friendly_errors
def decode(input_path, output, model, as_json, device, force, quiet):
    """Decode a .tkc container to video frames."""
    from tokcodec.codec.pipeline import decode_container
    device = resolve_device(device)
    stats = decode_container(input_path, output, device=device, force=force, quiet=quiet, model_name=model)
    summary = {"output": output, "frames": stats.frames, "width": stats.width, "height": stats.height,
               "decode_fps": round(stats.fps, 2), "device": device}
    _report(summary, as_json, quiet,
            f"{output}: {stats.frames} frames {stats.width}x{stats.height}, {stats.fps:.1f} fps on {device}")


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def info(input_path, as_json):
    """Show a container's header, per-chunk sizes and bpp (no model needed)."""
    from tokcodec.codec.container import ContainerReader
    with ContainerReader(input_path) as reader:
        h = reader.header
        size = Path(input_path).stat().st_size
        display_w, display_h = h.display_size  # bpp counts the pixels shown (SPEC 9)
        pixels = display_w * display_h * max(h.frame_count, 1)
        d = {"file": str(input_path), "bytes": size, "bpp": size * 8 / pixels,
             "width": display_w, "height": display_h, "coded_size": f"{h.width}x{h.height}",
             "frames": h.frame_count, "fps": f"{h.fps_num}/{h.fps_den}",
             "gop": h.gop_length, "model": h.model_name, "weights_sha256": h.weights_hash.hex(),
             "token_bits": h.token_bits, "bit_order": h.bit_order,
             "strides": {"temporal": h.temporal_stride, "spatial": h.spatial_stride},
             "entropy_mode": h.entropy_mode,
             "colour": {"primaries": h.colour_primaries, "transfer": h.transfer_characteristics,
                        "matrix": h.matrix_coefficients, "full_range": h.full_range},
             "chunks": [{"gop": c.index, "frames": c.num_frames, "bytes": c.size,
                         "bpp": c.size * 8 / (display_w * display_h * c.num_frames)} for c in reader.chunks]}
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    for key in ("file", "bytes", "bpp", "width", "height", "coded_size", "frames", "fps", "gop", "model", "weights_sha256",
                "token_bits", "bit_order", "strides", "entropy_mode", "colour"):
        value = f"{d[key]:.5f}" if key == "bpp" else d[key]
        click.echo(f"{key:>15}: {value}")
    click.echo(f"{'chunks':>15}: {len(d['chunks'])}")
    for c in d["chunks"]:
        click.echo(f"{'':>15}  gop {c['gop']:>5}: {c['frames']:>3} frames {c['bytes']:>9} bytes {c['bpp']:.5f} bpp")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def models(as_json):
    """List the shipped models with their measured numbers."""
    from tokcodec.zoo import get_entry, ladder, list_models, read_registry
    default, rungs = read_registry().get("default"), ladder()
    rows = []
    for name in list_models():
        entry = get_entry(name)
        rows.append({"name": name, "default": name == default,
                     "quality": rungs.index(name) + 1 if name in rungs else None,
                     "coding_scale": entry.coding_scale, "config": entry.config.to_dict(),
                     # rungs are compared on one protocol (cards/ladder.md); other models on their own eval
                     "metrics": entry.card.get("ladder_metrics") or entry.card.get("metrics", {})})
    rows.sort(key=lambda r: (r["quality"] is None, r["quality"] or 0, r["name"]))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        m = {k: v for k, v in r["metrics"].items() if k != "measured_by"}
        numbers = ", ".join(f"{k} {v}" for k, v in m.items()) if m else "not measured"
        rung = f"--quality {r['quality']}: " if r["quality"] else ""
        scale = f", coded at {r['coding_scale']}x size" if r["coding_scale"] != 1 else ""
        click.echo(f"{rung}{r['name']}{' (default)' if r['default'] else ''}{scale}: {numbers}")


@cli.command("eval")
@click.argument("clips", nargs=-1, required=True)
@click.option("--model", default=None, help="Zoo model name; default: the default model.")
@click.option("--quality", type=int, default=None, help="Rung of the rate ladder instead of --model.")
@click.option("--size", default="640x360", show_default=True, help="Area-downscale every clip to WxH.")
@click.option("--frames", default=33, show_default=True, help="Frames per clip.")
@click.option("--gop", default=17, show_default=True, help="Frames per GOP.")
@click.option("-o", "--output", help="Write the JSON result here (else stdout).")
@device_option
@force_option
@quiet_option
@friendly_errors
def evaluate(clips, model, quality, size, frames, gop, output, device, force, quiet):
    """Measure a model on CLIPS through the real container: bpp, PSNR, MS-SSIM, LPIPS-alex, fps."""
    from tokcodec.evaluate import evaluate_model
    from tokcodec.io import atomic_output
    from tokcodec.zoo import load_model
    device = resolve_device(device)
    model = _model_name(model, quality)
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise TokcodecError(f"--size {size}: expected WxH, e.g. 640x360") from None
    tokenizer, entry = load_model(model, device=device)
    # Claim the output before the (long) measurement, so a bad path fails at once.
    with atomic_output(output, force=force) if output else contextlib.nullcontext() as out:
        result = evaluate_model(tokenizer, entry, list(clips), (width, height), frames, gop, device,
                                progress=not quiet)
        text = json.dumps(result, indent=2)
        if out:
            Path(out.tmp).write_text(text + "\n")
        else:
            click.echo(text)
    if not quiet:
        m = result["mean"]
        click.echo(f"{entry.name}: {m['bpp']:.4f} bpp, PSNR {m['psnr']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, "
                   f"LPIPS-alex {m['lpips_alex']:.4f}, encode {m['encode_fps']:.1f} fps, "
                   f"decode {m['decode_fps']:.1f} fps ({device})", err=True)


def _model_name(model: str | None, quality: int | None) -> str:
    """The zoo entry that --model or --quality names (the default model when neither)."""
    from tokcodec.zoo import ladder_entry
    if model is not None and quality is not None:
        raise TokcodecError("give at most one of --model and --quality")
    return ladder_entry(quality) if quality is not None else model or "default"


def _report(summary: dict, as_json: bool, quiet: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(summary))
    elif not quiet:
        click.echo(line, err=True)


def _add_optional_commands() -> None:
    from tokcodec_cli.train import train
    cli.add_command(train)
    try:
        from tokcodec_cli.bench import bench
    except ImportError:  # the benchmark command is optional while it is being built
        return
    cli.add_command(bench)


_add_optional_commands()


def main() -> None:
    cli(prog_name="tokcodec")


if __name__ == "__main__":
    main()
