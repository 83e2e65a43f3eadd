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


HELP = {
    "output": "OUT.npz for one file; a folder (mirroring the inputs' tree) for folders or several inputs.",
    "model": "Zoo model that encodes videos first (default: the default model); .tkc files are read as they are.",
}


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="IN.tkc|SRC...", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, help=HELP["output"])
@click.option("--model", help=HELP["model"])
@click.option("--gop", default=17, show_default=True, callback=check_gop, help="Frames per GOP when encoding.")
@batch_options
@device_option
@force_option
@quiet_option
@friendly_errors
def tokens(sources, output, as_json, device, quiet, **options):
    """Export token grids: one array per GOP (gop_00000, ...) and a `meta` JSON string (shapes, fps, frame
    counts, model, weights hash) per clip. A .tkc is read without decoding pixels; a video or image is
    encoded in memory first. Read them with numpy.load or api.codec.tokens.load_npz."""
    single = len(sources) == 1 and not Path(sources[0]).is_dir()
    if single != output.lower().endswith(".npz"):
        raise click.UsageError("-o is an .npz file for one input file, a folder otherwise")
    device = api.resolve_device(device)
    if not single:
        summary = api.transcode(sources, output, mode="tokens", device=device, progress=not quiet, **options)
        return report(summary, as_json, quiet, "tokens")
    meta = api.export_tokens(sources[0], output, **{k: options[k] for k in ("model", "gop", "force")}, device=device)
    if as_json:
        click.echo(json.dumps(meta))
    elif not quiet:
        click.echo(api.tokens_text(output, meta), err=True)
