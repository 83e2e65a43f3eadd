"""`tokcodec transcode SRC... -o DST`: a whole archive, resumably, in parallel (api.batch).

Thin: checks the options, calls `tokcodec.transcode`, reports. The
options and the report shared with `tokcodec tokens` live here too.
"""

from __future__ import annotations

import json
import sys

import click

from tokcodec import api
from tokcodec_cli.common import check_gop, device_option, entropy_option, force_option, friendly_errors, quiet_option
from tokcodec_cli.common import safe_text

HELP = {
    "include": "Take the files this glob matches (repeatable), whatever their suffix. A glob with a / is matched "
    "against the path under SRC, else against the file name.",
    "exclude": "Leave out what this glob matches (repeatable).",
    "jobs": "Worker processes (default 1; with --ray, the cluster's CPUs).",
    "ray": "Run the jobs on a Ray cluster (auto: the one `ray start` runs here; local: a private one). Needs "
    "`pip install tokcodec[ray]`; DST must be at the same path on every node.",
    "output": "Destination folder (created if needed); the sources' tree is mirrored under it.",
    "to": "With --decode: the output type. Default mp4 (images stay images); png: a folder of frames.",
    "model": "Zoo model (see `tokcodec models`); with --decode, instead of the one each file names.",
    "decoder": "With --decode: draw the frames with this decoder for the files' tokens (`tokcodec info FILE` lists "
    "them) instead of their model's.",
    "verify": "Read every output back and check it against its source (outputs done earlier are checked too, once).",
}


def batch_options(command):
    """--include, --exclude, --jobs, --ray, --json: what every batch command takes."""
    command = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")(command)
    command = click.option("--ray", metavar="auto|ADDRESS|local", help=HELP["ray"])(command)
    command = click.option("-j", "--jobs", type=click.IntRange(min=1), help=HELP["jobs"])(command)
    command = click.option("--exclude", multiple=True, metavar="GLOB", help=HELP["exclude"])(command)
    return click.option("--include", multiple=True, metavar="GLOB", help=HELP["include"])(command)


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...", type=click.Path(exists=True))
@click.option("-o", "--output", "dst", required=True, help=HELP["output"])
@click.option("--decode", is_flag=True, help="Decode .tkc files (with their side files) instead of encoding.")
@click.option("--to", type=click.Choice(api.DECODE_TARGETS), help=HELP["to"])
@click.option("--model", help=HELP["model"])
@click.option("--decoder", help=HELP["decoder"])
@click.option("--quality", type=click.IntRange(min=1), help="Rung of the rate ladder, 1 to N.")
@click.option("--gop", callback=check_gop, type=int, help="Frames per GOP (1 + 4k).  [default: 17]")
@entropy_option
@click.option("--verify", is_flag=True, help=HELP["verify"])
@batch_options
@device_option
@force_option
@quiet_option
@friendly_errors
def transcode(sources, dst, decode, as_json, device, quiet, **options):
    """Encode every video and image under SRC... into DST (or --decode .tkc files back), resumably.

    Outputs keep the source's name: a.mp4 -> a.mp4.tkc (plus a.mp4.tkc.json, and a.mp4.tkc.side.mp4 with
    the audio and subtitles); --decode a.mp4.tkc -> a.mp4. Sources are only read. Progress is kept in
    DST/.tokcodec-batch.sqlite: run the same command again after an interruption (even kill -9) and it goes
    on where it stopped; files already done are skipped. Failed files are listed at the end (exit code 1);
    they do not stop the batch. --force replaces outputs this database did not record.
    """
    given = {k for k, v in options.items() if v is not None}
    if "to" in given and not decode:
        raise click.UsageError("--to goes with --decode")
    if "decoder" in given and (not decode or "model" in given):
        raise click.UsageError("--decoder goes with --decode, instead of --model")
    if decode and given & {"quality", "gop"}:
        raise click.UsageError("--quality and --gop are chosen at encoding: not with --decode")
    if {"model", "quality"} <= given:
        raise click.UsageError("give at most one of --model and --quality")
    mode, device = "decode" if decode else "encode", api.resolve_device(device)
    report(api.transcode(sources, dst, mode=mode, device=device, progress=not quiet, **options), as_json, quiet)


def report(summary, as_json: bool, quiet: bool, name: str = "transcode") -> None:
    """The summary (JSON on stdout, or lines on stderr), every failure on stderr, exit code 1 if any."""
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
    elif not quiet:
        click.echo(api.batch_text(summary, name), err=True)
    for f in summary.failures:
        click.echo(f"tokcodec: failed: {safe_text(f['source'])}: {safe_text(f['error'])}", err=True)
    if summary.failed:
        failed = f"{summary.failed} of {summary.files} files failed"
        click.echo(f"tokcodec: error: {failed} (listed above; run again to retry them)", err=True)
        sys.exit(1)
