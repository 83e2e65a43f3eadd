"""`tokcodec tokens`: token grids as NumPy .npz files, for training models on tokens.

One file to one .npz directly; folders (or several inputs) through the batch
machinery, mirrored like `tokcodec transcode` (resumable, --jobs, --ray).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tokcodec import api
from tokcodec_cli.common import check_gop, device_option, force_option, friendly_errors, quiet_option
from tokcodec_cli.transcode import batch_options, report


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="IN.tkc|SRC...", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    required=True,
    help="OUT.npz for one file; a folder (mirroring the inputs' tree) for folders or several inputs.",
)
@click.option(
    "--model", help="Zoo model that encodes videos first (default: the default model); .tkc files are read as they are."
)
@click.option("--gop", default=17, show_default=True, callback=check_gop, help="Frames per GOP when encoding.")
@batch_options
@device_option
@force_option
@quiet_option
@friendly_errors
def tokens(sources, output, model, gop, include, exclude, jobs, ray, as_json, device, force, quiet):
    """Export token grids: one array per GOP (gop_00000, ...) and a `meta` JSON string (shapes, fps, frame
    counts, model, weights hash) per clip. A .tkc is read without decoding pixels; a video or image is
    encoded in memory first. Read them with numpy.load or api.codec.tokens.load_npz."""
    single = len(sources) == 1 and not Path(sources[0]).is_dir()
    if single != output.lower().endswith(".npz"):
        raise click.UsageError("-o is an .npz file for one input file, a folder otherwise")
    if not single:
        summary = api.transcode(
            sources,
            output,
            mode="tokens",
            model=model,
            gop=gop,
            include=include,
            exclude=exclude,
            device=api.resolve_device(device),
            jobs=jobs,
            force=force,
            ray=ray,
            progress=not quiet,
        )
        return report(summary, as_json, quiet, "tokens")
    meta = api.export_tokens(sources[0], output, model=model, gop=gop, device=device, force=force)
    if as_json:
        click.echo(json.dumps(meta))
    elif not quiet:
        shapes = ", ".join("x".join(map(str, g["shape"])) for g in meta["gops"])
        click.echo(
            f"{output}: {len(meta['gops'])} GOPs ({shapes}), {meta['frames']} frames {meta['width']}x"
            f"{meta['height']}, {meta['token_bits']}-bit tokens, model {meta['model']}",
            err=True,
        )
