"""`tokcodec`: the command line. Thin: parse options, call the library, report.

Exit codes and error handling: see common.py.
"""

from __future__ import annotations

import json
import os
import sys

import click

from tokcodec import api
from tokcodec.errors import TokcodecError, exit_on_signals
from tokcodec_cli.common import check_fps, check_gop, check_positive_float, check_tkc_output, device_option
from tokcodec_cli.common import entropy_option, force_option, friendly_errors, quiet_option, safe_text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tokcodec")
@friendly_errors
def cli():
    """tokcodec: a neural video codec (a causal video tokenizer, a token prior, a documented container).

    Environment: TOKCODEC_ZOO (a registry of models instead of the shipped one), TOKCODEC_PRECISION
    (the tokenizer's arithmetic: fp32, the default; auto: encoding in bf16 where the CPU computes it
    natively; bf16: decoding too, twice as fast and approximate; see the README).
    """
    api.use_zoo(os.environ.get("TOKCODEC_ZOO"))
    try:
        api.use_precision(os.environ.get("TOKCODEC_PRECISION"))
    except TokcodecError as e:
        raise type(e)(f"TOKCODEC_PRECISION: {e}") from None
    if api.selected_precision() == "bf16" and not api.bf16_supported("cpu"):
        click.echo(
            "note: TOKCODEC_PRECISION=bf16 on a CPU without native bf16 runs emulated, about 4x slower", err=True
        )


HELP = {
    "quality": "Rung of the rate ladder, 1 (lowest rate) to N (see `tokcodec models`); default: "
    f"{api.default_rung_text()}.",
    "eval_colour": "Encode with colour offsets; --no-colour-offset measures the tokenizer's own colour.",
    "mlm_steps": "Mode 1 schedule: groups per latent frame (fewer: faster, more bits).",
    "prior": "Mode 1 under this token prior of the model instead of its default (`tokcodec models` lists "
    "them; the file names it, so any decoder finds it).",
    "bpp": "Pick the ladder rung with the highest rate not above this many bits per pixel. A target below the lowest "
    "rung's rate gives the lowest rung, with a warning (exit code 0).",
    "colour_offset": "Send each GOP's mean-colour correction (encoding then decodes the first frames of each GOP).",
    "decode_output": "Output: .mp4, .mkv (lossless FFV1), .y4m, or a PNG folder (ends in / or has no suffix).",
    "decoder": "Draw the frames with this decoder for the file's tokens instead of its model's own (`tokcodec info "
    "FILE` lists them); the file is not changed.",
    "on_damage": "A damaged or missing GOP: freeze the last good frame over its frames (keeps the "
    "duration), skip its frames, or stop the output there. Intact GOPs are always kept; exit code 3. [default: freeze]",
    "crf": "H.264 quality of an .mp4 output: 0 lossless, higher is smaller (default 12, near lossless; 23 is x264's "
    "usual).",
}
JSON_HELP = "Print the summary as JSON on stdout."


@cli.command()
@click.argument("input_path", metavar="IN")
@click.option("-o", "--output", required=True, callback=check_tkc_output, help="Output .tkc file.")
@click.option("--model", help="Zoo model name (see `tokcodec models`); default: the default model.")
@click.option("--quality", type=click.IntRange(min=1), help=HELP["quality"])
@click.option("--bpp", type=float, callback=check_positive_float, help=HELP["bpp"])
@click.option("--gop", default=17, show_default=True, callback=check_gop, help="Frames per GOP (1 + 4k).")
@click.option("--frames", "max_frames", type=click.IntRange(min=1), help="Encode at most this many frames.")
@click.option("--fps", callback=check_fps, help="Frame rate for frame folders and images (e.g. 25 or 30000/1001).")
@entropy_option
@click.option("--mlm-steps", type=click.Choice(["1", "2", "4"]), default="4", show_default=True, help=HELP["mlm_steps"])
@click.option("--prior", help=HELP["prior"])
@click.option("--colour-offset/--no-colour-offset", default=True, show_default=True, help=HELP["colour_offset"])
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@device_option
@force_option
@quiet_option
@friendly_errors
def encode(input_path, output, as_json, **options):
    """Encode a video, frame folder or image IN into a .tkc container.

    The rate is set by the model: --quality N picks rung N of the rate ladder,
    --bpp the highest rung whose rate fits the target. In entropy mode 1 (the
    default) the rate depends on the content, so --bpp estimates, encodes, and
    steps down a rung when the file came out above the target; in mode 0
    (--entropy raw) the rate is known exactly beforehand. A target no rung
    can meet is a warning, in --json too, not an error.
    """
    if sum(options[k] is not None for k in ("model", "quality", "bpp")) > 1:
        raise click.UsageError("give at most one of --model, --quality and --bpp")
    options.update(mlm_steps=int(options["mlm_steps"]), device=api.resolve_device(options["device"]))
    note = None if options["quiet"] else lambda line: click.echo(f"note: {line}", err=True)
    r = api.encode(input_path, output, note=note, **options)
    _report(r.summary(), as_json, options["quiet"], api.encode_text(r))
    for line in r.warnings:  # what the source had that the file does not keep; a target not met
        click.echo(f"tokcodec: warning: {safe_text(line)}", err=True)
    if r.ended_early:  # a source that ended before its announced frames
        sys.exit(3)


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option("-o", "--output", required=True, help=HELP["decode_output"])
@click.option("--model", help="Use this zoo model instead of the one named in the file.")
@click.option("--decoder", help=HELP["decoder"])
@click.option("--on-damage", type=click.Choice(api.ON_DAMAGE), default="freeze", help=HELP["on_damage"])
@click.option("--crf", type=click.IntRange(0, 51), help=HELP["crf"])
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@device_option
@force_option
@quiet_option
@friendly_errors
def decode(input_path, output, as_json, **options):
    """Decode a .tkc container to video frames (.mp4, .mkv, .y4m, a PNG folder, or one .png/.jpg image)."""
    if options["crf"] is not None and not output.lower().endswith(".mp4"):
        raise click.UsageError("--crf applies to .mp4 outputs only")
    if options["model"] is not None and options["decoder"] is not None:
        raise click.UsageError("give --model or --decoder, not both")
    r = api.decode(input_path, output, **options)  # its header checks come before torch loads
    _report(r.summary(), as_json, options["quiet"], api.decode_text(r))
    for line in api.damage_lines(r, options["on_damage"]):
        click.echo(f"tokcodec: {line}", err=True)
    if r.lost:
        sys.exit(3)


@cli.command()
@click.argument("input_path", metavar="IN.tkc")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def info(input_path, as_json):
    """Show a container's header, GOPs, bpp and damage, checking every CRC (no model needed).

    Exit code 3 when a GOP is damaged or missing (decode still gives back the rest)."""
    with api.open(input_path) as f:
        d = f.describe()
    click.echo(json.dumps(d, indent=2) if as_json else api.info_text(d))
    if not all(c["ok"] for c in d["chunks"]):
        sys.exit(3)


@cli.command()
@click.option("--all", "include_all", is_flag=True, help="Also list the retired and experimental models.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@friendly_errors
def models(include_all, as_json):
    """List the default model's rate ladder with its measured rates and quality, its token prior and
    decoders (--all: the retired and experimental models too)."""
    d = api.models(include_all)
    click.echo(json.dumps(d, indent=2) if as_json else api.models_text(d, include_all))


@cli.command("eval")
@click.argument("clips", nargs=-1, required=True)
@click.option("--model", help="Zoo model name; default: the default model.")
@click.option("--quality", type=int, help="Rung of the rate ladder instead of --model.")
@click.option("--decoder", help="Draw the frames with this decoder entry for the model's tokens (`tokcodec models`).")
@click.option("--size", default="640x360", show_default=True, help="Area-downscale every clip to WxH.")
@click.option("--no-dists", "skip_dists", is_flag=True, help="Skip DISTS (VGG16 at full size: most of the time).")
@click.option("--no-vmaf", "skip_vmaf", is_flag=True, help="Skip VMAF.")
@click.option("--frames", default=33, show_default=True, help="Frames per clip.")
@click.option("--gop", default=17, show_default=True, help="Frames per GOP.")
@click.option("-o", "--output", help="Write the JSON result here (else stdout).")
@click.option("--colour-offset/--no-colour-offset", default=True, show_default=True, help=HELP["eval_colour"])
@device_option
@force_option
@quiet_option
@friendly_errors
def evaluate(clips, size, skip_dists, skip_vmaf, output, device, quiet, **options):
    """Measure a model on CLIPS through the real container: bpp, PSNR, MS-SSIM, LPIPS-alex, DISTS, VMAF,
    flicker, fps."""
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise TokcodecError(f"--size {size}: expected WxH, e.g. 640x360") from None
    device = api.resolve_device(device)
    given = dict(
        size=(width, height), dists=not skip_dists, vmaf=not skip_vmaf, device=device, progress=not quiet, output=output
    )
    result = api.evaluate(clips, **given, **options)
    if not output:
        click.echo(json.dumps(result, indent=2))
    if not quiet:
        click.echo(api.eval_text(result), err=True)


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


def main(argv: list[str] | None = None) -> None:
    """The `tokcodec` command (`argv`: its arguments, else sys.argv's): click's parsing, with usage errors on
    one line (exit 2)."""
    exit_on_signals()
    try:
        cli.main(argv, prog_name="tokcodec", standalone_mode=False)
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
