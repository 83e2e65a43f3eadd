"""`tokcodec bench`: rate-distortion and speed of tokcodec against x265, vvenc and SVT-AV1.

Thin: builds a `tokcodec.bench.runner.BenchConfig` from the configuration file
and the options, runs it (resumable through the cache), writes the report.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import click

from tokcodec.errors import TokcodecError
from tokcodec_cli.common import friendly_errors

DEFAULT_CONFIG = Path("benchmarks") / "config.json"


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


@click.command("bench")
@click.argument("clips", nargs=-1, type=click.Path(exists=True))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help=f"Benchmark configuration (JSON). Default: {DEFAULT_CONFIG} when it exists, else built-in "
    "defaults. CLIPS, when given, replace its clip list.",
)
@click.option(
    "--mcl-jcv",
    "mcl_jcv",
    type=click.Path(exists=True, file_okay=False),
    help="A folder with your MCL-JCV copy (videoSRC01_1920x1080_30.yuv ... or .mp4): its clips replace "
    "the configuration's; 640x360 unless --size says otherwise.",
)
@click.option(
    "--data-root",
    type=click.Path(exists=True, file_okay=False),
    help="Folder the configuration's relative clip paths start from (default: its data_root).",
)
@click.option("--frames", type=int, help="Frames per clip (the reference takes the first N).")
@click.option("--size", help="Target WxH (area downscale, centre crop to its aspect), or 'native'.")
@click.option(
    "--codecs",
    help="Comma list of codec names or families to run: x265, vvenc, svtav1, tokcodec, "
    "x265-medium-psnr, tokcodec-m1, ... (default: all in the configuration).",
)
@click.option("--models", help="tokcodec models, comma list or 'all' (default: the configuration's).")
@click.option("--modes", help="tokcodec entropy modes, e.g. 0,1.")
@click.option(
    "--gop",
    help="tokcodec GOP length(s), 1 + 4k, comma list for several rate points; 'clip' = the "
    "whole clip as one GOP (the default).",
)
@click.option(
    "--intra-period", type=int, help="Intra period of the anchors in frames (default: one intra frame per clip)."
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    default="bench_results",
    show_default=True,
    help="Where the report goes (JSON, CSV, tables, figures).",
)
@click.option(
    "--cache",
    "cache_dir",
    default="bench_cache",
    show_default=True,
    help="Per codec/clip/point results and bitstreams; a re-run skips what is there.",
)
@click.option("-j", "--workers", type=int, default=1, show_default=True, help="Parallel worker processes.")
@click.option("--threads", type=int, help="Threads per codec (encoder, decoder, torch). Default: configuration's.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where tokcodec and LPIPS run.")
@click.option("--no-vmaf", is_flag=True, help="Skip VMAF.")
@click.option(
    "--quick",
    is_flag=True,
    help="A one-minute smoke run: 2 clips, 9 frames at 256x144, 2-3 points "
    "per anchor family, the first tokcodec model.",
)
@click.option("--report-only", is_flag=True, help="Write the report from the cache without encoding anything.")
@click.option(
    "--seed-from",
    "seed_from",
    type=click.Path(exists=True, file_okay=False),
    help="A committed report (e.g. benchmarks/results): before running, fill the cache with the "
    "anchors' results and speed-pass timings found there (points.csv, json/<codec>.json, "
    "speed.csv) for the anchor points the cache lacks, instead of encoding them again. Refused "
    "when their settings (encoder and version, options, command, frames, size) differ from this "
    "run's. tokcodec is never seeded; the report notes what was carried over and when it was "
    "measured.",
)
@click.option(
    "--seed-speed",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="With --seed-from: also seed the anchors' speed-pass timings (speed.csv). auto: only when they "
    "were measured on a machine described as this one (CPU model, cores, threads), else the "
    "anchors are timed again (minutes) so the speed table compares codecs on one machine.",
)
@click.option("--no-figures", is_flag=True, help="Tables only (no PNG figures).")
@click.option("--no-speed", is_flag=True, help="Skip the separate timing pass (the configuration's speed clips).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")
@friendly_errors
def bench(
    clips,
    config_path,
    mcl_jcv,
    data_root,
    frames,
    size,
    codecs,
    models,
    modes,
    gop,
    intra_period,
    out_dir,
    cache_dir,
    workers,
    threads,
    device,
    no_vmaf,
    quick,
    report_only,
    seed_from,
    seed_speed,
    no_figures,
    no_speed,
    quiet,
):
    """Rate-distortion and speed benchmark of tokcodec against HEVC (x265), VVC (vvenc) and AV1 (SVT-AV1).

    Every codec gets the same reference (the clip resized and converted once to yuv420p, BT.709 limited
    range); metrics compare each decoded clip with it. Results: per-codec JSON, points.csv, BD-rate tables
    (summary.md, bd_rate.json), RD plots and a side-by-side crop in OUT.
    """
    from tokcodec.bench import report, runner

    t0 = time.time()
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    if data_root:
        os.environ["TOKCODEC_BENCH_DATA"] = str(Path(data_root).resolve())
    if config_path:
        cfg = runner.load_config(config_path)
    elif DEFAULT_CONFIG.exists():
        cfg = runner.load_config(DEFAULT_CONFIG)
    else:
        cfg = runner.default_config()
    if mcl_jcv:
        cfg.clips = [str(Path(mcl_jcv).resolve())]
        cfg.name = "MCL-JCV"
        if size is None:
            cfg.size = (640, 360)
    if clips:
        cfg.clips = [str(Path(c).resolve()) for c in clips]
    if frames is not None:
        cfg.frames = frames
    if size is not None:
        cfg.size = None if size == "native" else runner.parse_size(size)
    if intra_period is not None:
        cfg.intra_period = intra_period or None
    if threads is not None:
        cfg.threads = threads
    if device is not None:
        cfg.device = device
    if no_vmaf:
        cfg.vmaf = False
    if models is not None:
        cfg.tokcodec["models"] = "all" if models == "all" else _split(models)
    if modes is not None:
        cfg.tokcodec["modes"] = [int(m) for m in _split(modes)]
    if gop is not None:
        cfg.tokcodec["gop"] = [None if g == "clip" else int(g) for g in _split(gop)]
    if quick:
        cfg = runner.quick_config(cfg)
    if not cfg.clips:
        raise TokcodecError("no clips: give CLIPS, --mcl-jcv DIR or a --config with a clip list")
    if workers < 1:
        raise TokcodecError("--workers must be at least 1")
    codec_list = _split(codecs)

    from tokcodec.bench.datasets import discover_clips

    sources = discover_clips(cfg.clips)
    if quick:
        sources = sources[:2]
    if seed_from:
        from tokcodec.bench.seed import seed_cache

        seeded = seed_cache(
            cfg,
            cache_dir,
            seed_from,
            sources,
            codec_list,
            speed="never" if no_speed else seed_speed,
            figure_reference=not no_figures,
            log=log,
        )
        if seeded.speed_note:
            log(
                f"note: {seeded.speed_note}"
                + (" (--report-only: the speed table has what the cache holds)" if report_only else "")
            )
        log(
            f"seeded from {seeded.source}: {seeded.seeded} anchor point(s) and {seeded.seeded_speed} speed-pass "
            f"timing(s) ({', '.join(seeded.codecs) or 'none needed'}); {seeded.cached} already in the cache"
        )
        if seeded.missing:
            what = "not reported (--report-only)" if report_only else "run now"
            log(
                f"{len(seeded.missing)} anchor point(s) are not in {seeded.source}, {what}: "
                + ", ".join(seeded.missing[:5])
                + (" ..." if len(seeded.missing) > 5 else "")
            )
    if report_only:
        results = runner.collect_results(cfg, cache_dir, codec_list, sources)
        summary = None
    else:
        summary = runner.run(cfg, cache_dir, codec_list, workers, progress=not quiet, sources=sources, log=log)
        results = summary.results
    if not results:
        raise TokcodecError(f"no results to report (cache {cache_dir})")
    speed = []
    if not no_speed and cfg.speed.get("clips"):
        if report_only:
            speed = runner.collect_speed(cfg, cache_dir, codec_list, sources)
        else:
            speed = runner.run_speed(cfg, cache_dir, codec_list, progress=not quiet, sources=sources, log=log)
    env = runner.environment(cfg, workers)
    env["command"] = "tokcodec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    env["clips"] = [{"name": s.name, "path": s.path, "kind": s.kind} for s in sources]
    env["speed_note"] = (
        "Speeds are wall-clock, per process, on this shared machine; "
        "see loadavg_1min in points.csv for the load during each encode."
    )
    out = report.write_report(results, env, out_dir, cache_dir, figures=not no_figures, log=log, speed=speed)
    if summary is not None and summary.failures:
        for job, err in summary.failures:
            log(f"failed: {job.codec} {job.point} {job.clip}: {err.strip().splitlines()[0]}")
    if not quiet:
        click.echo(out["summary"].split("### At ")[0].rstrip())
        ran = f"{summary.ran} points run, {summary.skipped} from the cache" if summary else "report only"
        click.echo(
            f"\n{ran}; report in {out_dir}/ (summary.md, points.csv, json/, rd_*.png); {time.time() - t0:.0f} s",
            err=True,
        )
    if summary is not None and summary.failures:
        raise TokcodecError(f"{len(summary.failures)} point(s) failed (listed above); the others are in {out_dir}")
