"""`tokcodec transcode SRC... -o DST`: a whole archive, resumably, in parallel (tokcodec.batch).

Thin: checks the options, calls `tokcodec.batch.run_batch`, reports. The
options and the report shared with `tokcodec tokens` live here too.
"""

from __future__ import annotations

import json
import sys

import click

from tokcodec.batch.walk import DECODE_TARGETS
from tokcodec_cli.common import (
    check_gop,
    device_option,
    entropy_option,
    force_option,
    friendly_errors,
    quiet_option,
    resolve_device,
    safe_text,
)


def batch_options(command):
    """--include, --exclude, --jobs, --ray, --json: what every batch command takes."""
    for option in reversed(
        [
            click.option(
                "--include",
                multiple=True,
                metavar="GLOB",
                help="Take the files this glob matches (repeatable), whatever their suffix. A glob with a / "
                "is matched against the path under SRC, else against the file name.",
            ),
            click.option(
                "--exclude", multiple=True, metavar="GLOB", help="Leave out what this glob matches (repeatable)."
            ),
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(min=1),
                default=None,
                help="Worker processes (default 1; with --ray, the cluster's CPUs).",
            ),
            click.option(
                "--ray",
                metavar="auto|ADDRESS|local",
                help="Run the jobs on a Ray cluster (auto: the one `ray start` runs here; local: a private "
                "one). Needs `pip install tokcodec[ray]`; DST must be at the same path on every node.",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout."),
        ]
    ):
        command = option(command)
    return command


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="SRC...", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    "dst",
    required=True,
    help="Destination folder (created if needed); the sources' tree is mirrored under it.",
)
@click.option("--decode", is_flag=True, help="Decode .tkc files (with their side files) instead of encoding.")
@click.option(
    "--to",
    type=click.Choice(DECODE_TARGETS),
    default=None,
    help="With --decode: the output type. Default mp4 (images stay images); png: a folder of frames.",
)
@click.option(
    "--model",
    default=None,
    help="Zoo model (see `tokcodec models`); with --decode, instead of the one each file names.",
)
@click.option(
    "--decoder",
    default=None,
    help="With --decode: draw the frames with this decoder for the files' "
    "tokens (`tokcodec info FILE` lists them) instead of their model's.",
)
@click.option("--quality", type=click.IntRange(min=1), default=None, help="Rung of the rate ladder, 1 to N.")
@click.option("--gop", default=None, callback=check_gop, type=int, help="Frames per GOP (1 + 4k).  [default: 17]")
@entropy_option
@click.option(
    "--verify",
    is_flag=True,
    help="Read every output back and check it against its source (outputs done earlier are checked too, once).",
)
@batch_options
@device_option
@force_option
@quiet_option
@friendly_errors
def transcode(
    sources,
    dst,
    decode,
    to,
    model,
    decoder,
    quality,
    gop,
    entropy,
    verify,
    include,
    exclude,
    jobs,
    ray,
    as_json,
    device,
    force,
    quiet,
):
    """Encode every video and image under SRC... into DST (or --decode .tkc files back), resumably.

    Outputs keep the source's name: a.mp4 -> a.mp4.tkc (plus a.mp4.tkc.json, and a.mp4.tkc.side.mp4 with
    the audio and subtitles); --decode a.mp4.tkc -> a.mp4. Sources are only read. Progress is kept in
    DST/.tokcodec-batch.sqlite: run the same command again after an interruption (even kill -9) and it goes
    on where it stopped; files already done are skipped. Failed files are listed at the end (exit code 1);
    they do not stop the batch. --force replaces outputs this database did not record.
    """
    if to is not None and not decode:
        raise click.UsageError("--to goes with --decode")
    if decoder is not None and (not decode or model is not None):
        raise click.UsageError("--decoder goes with --decode, instead of --model")
    if decode and (quality is not None or gop is not None):
        raise click.UsageError("--quality and --gop are chosen at encoding: not with --decode")
    if model is not None and quality is not None:
        raise click.UsageError("give at most one of --model and --quality")
    from tokcodec.batch import BatchOptions, run_batch

    if quality is not None:
        from tokcodec.zoo import ladder_entry

        model = ladder_entry(quality)
    options = BatchOptions(
        sources=list(sources),
        dst=dst,
        mode="decode" if decode else "encode",
        include=include,
        exclude=exclude,
        model=model,
        gop=gop or 17,
        entropy=entropy,
        to=to,
        decoder=decoder,
        device=resolve_device(device),
        jobs=jobs,
        verify=verify,
        force=force,
        ray=ray,
        progress=not quiet,
    )
    report(run_batch(options), as_json, quiet, "transcode")


def report(summary, as_json: bool, quiet: bool, name: str) -> None:
    """The summary (JSON on stdout, or a line on stderr), every failure on stderr, exit code 1 if any."""
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
    elif not quiet:
        # a percentage reads the same both ways (coding shrinks, --decode grows); "0.0886:1" did not
        ratio = (
            f" ({100 * summary.bytes_out / summary.bytes_in:.3g}% of the input's size)"
            if summary.bytes_in and summary.bytes_out
            else ""
        )
        click.echo(
            f"{name}: {summary.files} files: {summary.done} done, {summary.skipped} skipped, "
            f"{summary.failed} failed; {_mb(summary.bytes_in)} in, {_mb(summary.bytes_out)} out{ratio}; "
            f"{summary.seconds:.1f} s",
            err=True,
        )
        for n in summary.notes:  # what a file lost or had changed (also in the database's notes column)
            click.echo(f"tokcodec: warning: {safe_text(n['source'])}: {safe_text(n['note'])}", err=True)
    for f in summary.failures:
        click.echo(f"tokcodec: failed: {safe_text(f['source'])}: {safe_text(f['error'])}", err=True)
    if summary.failed:
        click.echo(
            f"tokcodec: error: {summary.failed} of {summary.files} files failed (listed above; "
            f"run again to retry them)",
            err=True,
        )
        sys.exit(1)


def _mb(n: int) -> str:
    from tqdm import tqdm

    return tqdm.format_sizeof(n, "B")
