"""`tokcodec bench`: rate-distortion and speed of tokcodec against x265, vvenc and SVT-AV1.

Thin: the options go to `tokcodec.run_bench` (the configuration, the resumable cache, the report).
"""

from __future__ import annotations

import shlex
import sys

import click

from tokcodec import api
from tokcodec.errors import TokcodecError
from tokcodec_cli.common import friendly_errors

HELP = {
    "config": "Benchmark configuration (JSON). Default: benchmarks/config.json when it exists, else built-in defaults. "
    "CLIPS, when given, replace its clip list.",
    "mcl_jcv": "A folder with your MCL-JCV copy (videoSRC01_1920x1080_30.yuv ... or .mp4): its clips replace the "
    "configuration's; 640x360 unless --size says otherwise.",
    "data_root": "Folder the configuration's relative clip paths start from (default: its data_root).",
    "size": "Target WxH (area downscale, centre crop to its aspect), or 'native'.",
    "codecs": "Comma list of codec names or families to run: x265, vvenc, svtav1, tokcodec, x265-medium-psnr, "
    "tokcodec-m1, ... (default: all in the configuration).",
    "models": "tokcodec models, comma list or 'all' (default: the configuration's).",
    "gop": "tokcodec GOP length(s), 1 + 4k, comma list for several rate points; 'clip' = the whole clip as one GOP "
    "(the default).",
    "intra_period": "Intra period of the anchors in frames (default: one intra frame per clip).",
    "out": "Where the report goes (JSON, CSV, tables, figures).",
    "cache": "Per codec/clip/point results and bitstreams; a re-run skips what is there.",
    "threads": "Threads per codec (encoder, decoder, torch). Default: configuration's.",
    "quick": "A one-minute smoke run: 2 clips, 9 frames at 256x144, 2-3 points per anchor family, the first "
    "tokcodec model.",
    "seed_from": "A committed report (e.g. benchmarks/results): before running, fill the cache with the anchors' "
    "results and speed-pass timings found there (points.csv, json/<codec>.json, speed.csv) for the anchor points "
    "the cache lacks, instead of encoding them again. Refused when their settings (encoder and version, options, "
    "command, frames, size) differ from this run's. tokcodec is never seeded; the report notes what was carried "
    "over and when it was measured.",
    "seed_speed": "With --seed-from: also seed the anchors' speed-pass timings (speed.csv). auto: only when they were "
    "measured on a machine described as this one (CPU model, cores, threads), else the anchors are timed again "
    "(minutes) so the speed table compares codecs on one machine.",
}
FOLDER = click.Path(exists=True, file_okay=False)
SEED_SPEEDS = click.Choice(["auto", "always", "never"])


@click.command("bench")
@click.argument("clips", nargs=-1, type=click.Path(exists=True))
@click.option("--config", type=click.Path(dir_okay=False), help=HELP["config"])
@click.option("--mcl-jcv", type=FOLDER, help=HELP["mcl_jcv"])
@click.option("--data-root", type=FOLDER, help=HELP["data_root"])
@click.option("--frames", type=int, help="Frames per clip (the reference takes the first N).")
@click.option("--size", help=HELP["size"])
@click.option("--codecs", help=HELP["codecs"])
@click.option("--models", help=HELP["models"])
@click.option("--modes", help="tokcodec entropy modes, e.g. 0,1.")
@click.option("--gop", help=HELP["gop"])
@click.option("--intra-period", type=int, help=HELP["intra_period"])
@click.option("-o", "--out", "out_dir", default="bench_results", show_default=True, help=HELP["out"])
@click.option("--cache", "cache_dir", default="bench_cache", show_default=True, help=HELP["cache"])
@click.option("-j", "--workers", type=int, default=1, show_default=True, help="Parallel worker processes.")
@click.option("--threads", type=int, help=HELP["threads"])
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where tokcodec and LPIPS run.")
@click.option("--no-vmaf", is_flag=True, help="Skip VMAF.")
@click.option("--quick", is_flag=True, help=HELP["quick"])
@click.option("--report-only", is_flag=True, help="Write the report from the cache without encoding anything.")
@click.option("--seed-from", type=FOLDER, help=HELP["seed_from"])
@click.option("--seed-speed", type=SEED_SPEEDS, default="auto", show_default=True, help=HELP["seed_speed"])
@click.option("--no-figures", is_flag=True, help="Tables only (no PNG figures).")
@click.option("--no-speed", is_flag=True, help="Skip the separate timing pass (the configuration's speed clips).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")
@friendly_errors
def bench(no_vmaf, no_figures, no_speed, quiet, **options):
    """Rate-distortion and speed benchmark of tokcodec against HEVC (x265), VVC (vvenc) and AV1 (SVT-AV1).

    Every codec gets the same reference (the clip resized and converted once to yuv420p, BT.709 limited
    range); metrics compare each decoded clip with it. Results: per-codec JSON, points.csv, BD-rate tables
    (summary.md, bd_rate.json), RD plots and a side-by-side crop in OUT.
    """
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    command = "tokcodec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    flags = dict(vmaf=not no_vmaf, figures=not no_figures, speed=not no_speed, progress=not quiet)
    r = api.run_bench(log=log, command=command, **flags, **options)
    for line in r.failures:
        log(f"failed: {line}")
    if not quiet:
        tables, closing = api.bench_text(r)
        click.echo(tables)
        click.echo(closing, err=True)
    if r.failures:
        raise TokcodecError(f"{len(r.failures)} point(s) failed (listed above); the others are in {r.out_dir}")
