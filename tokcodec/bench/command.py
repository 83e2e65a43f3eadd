"""`tokcodec bench` as one call: a configuration and the caller's overrides in, a report out.

The configuration file (or the built-in defaults) gives the clips, sizes and codecs; every argument
left None keeps its value. The run is resumable through the cache; `report_only` writes the report
from the cache alone; `seed_from` fills the cache with a committed report's anchor points first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import TokcodecError

DEFAULT_CONFIG = Path("benchmarks") / "config.json"


@dataclass
class BenchOutcome:
    summary: str  # summary.md's text
    out_dir: str
    ran: int | None  # points run now (None: report only)
    skipped: int | None  # points taken from the cache
    failures: list[str] = field(default_factory=list)  # one line per failed point
    seconds: float = 0.0


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def run_bench(
    *,
    config: str | None = None,
    clips: list[str] | tuple = (),
    mcl_jcv: str | None = None,
    data_root: str | None = None,
    frames: int | None = None,
    size: str | None = None,
    codecs: str | None = None,
    models: str | None = None,
    modes: str | None = None,
    gop: str | None = None,
    intra_period: int | None = None,
    out_dir: str = "bench_results",
    cache_dir: str = "bench_cache",
    workers: int = 1,
    threads: int | None = None,
    device: str | None = None,
    vmaf: bool = True,
    quick: bool = False,
    report_only: bool = False,
    seed_from: str | None = None,
    seed_speed: str = "auto",
    figures: bool = True,
    speed: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> BenchOutcome:
    """Run the benchmark (comma lists as the command line takes them: codecs, models, modes, gop) and
    write its report into `out_dir`. Failed points are in the outcome; the others are reported."""
    from . import report, runner
    from .datasets import discover_clips

    t0 = time.time()
    log = log or (lambda msg: None)
    if config or DEFAULT_CONFIG.exists():
        cfg = runner.load_config(config or DEFAULT_CONFIG, data_root)
    else:
        cfg = runner.default_config()
    if mcl_jcv:
        cfg.clips, cfg.name = [str(Path(mcl_jcv).resolve())], "MCL-JCV"
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
    if not vmaf:
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
    sources = discover_clips(cfg.clips)[: 2 if quick else None]
    if seed_from:
        _seed(
            cfg,
            cache_dir,
            seed_from,
            sources,
            codec_list,
            "never" if not speed else seed_speed,
            figures,
            report_only,
            log,
        )
    if report_only:
        results, summary = runner.collect_results(cfg, cache_dir, codec_list, sources), None
    else:
        summary = runner.run(cfg, cache_dir, codec_list, workers, progress=progress, sources=sources, log=log)
        results = summary.results
    if not results:
        raise TokcodecError(f"no results to report (cache {cache_dir})")
    timings = []
    if speed and cfg.speed.get("clips"):
        if report_only:
            timings = runner.collect_speed(cfg, cache_dir, codec_list, sources)
        else:
            timings = runner.run_speed(cfg, cache_dir, codec_list, progress=progress, sources=sources, log=log)
    env = runner.environment(cfg, workers)
    env["command"] = command or "tokcodec.run_bench(...)"
    env["clips"] = [{"name": s.name, "path": s.path, "kind": s.kind} for s in sources]
    env["speed_note"] = (
        "Speeds are wall-clock, per process, on this shared machine; "
        "see loadavg_1min in points.csv for the load during each encode."
    )
    out = report.write_report(results, env, out_dir, cache_dir, figures=figures, log=log, speed=timings)
    failures = [
        f"{job.codec} {job.point} {job.clip}: {err.strip().splitlines()[0]}"
        for job, err in (summary.failures if summary else [])
    ]
    return BenchOutcome(
        out["summary"],
        str(out_dir),
        summary.ran if summary else None,
        summary.skipped if summary else None,
        failures,
        time.time() - t0,
    )


def _seed(cfg, cache_dir, seed_from, sources, codec_list, speed, figures, report_only, log) -> None:
    """Fill the cache with a committed report's anchor points (bench/seed.py) and say what came from where."""
    from .seed import seed_cache

    seeded = seed_cache(cfg, cache_dir, seed_from, sources, codec_list, speed=speed, figure_reference=figures, log=log)
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
        more = " ..." if len(seeded.missing) > 5 else ""
        log(
            f"{len(seeded.missing)} anchor point(s) are not in {seeded.source}, {what}: "
            + ", ".join(seeded.missing[:5])
            + more
        )
