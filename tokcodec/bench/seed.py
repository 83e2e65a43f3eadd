"""Seed a result cache with the anchors' results of a committed report (`tokcodec bench --seed-from DIR`).

The anchors (x265, vvenc, SVT-AV1) take hours of CPU on the full benchmark, and
their results do not change when tokcodec does. A report directory written by
`tokcodec bench` (points.csv, speed.csv, json/<codec>.json, environment.json)
holds everything a cached result needs, so this writes, for every anchor job of
the configuration that has no result in the cache yet, the cache's result file
(`runner.result_path`, with the job's signature, so `runner.load_result`
accepts it) and likewise the speed-pass timings (`runner.speed_path`), those
only when measured on a machine described as this one unless asked to
(`speed="always"`): the anchors' timing pass takes minutes, and a speed table
should compare codecs timed on one machine.

Before writing anything it checks that the committed results were made with
the same settings: each anchor's `json/<codec>.json` meta (family, encoder and
its version, ffmpeg, decoder, bit depth, rate parameter, options, command
template) must equal what this configuration and this machine would record,
the frames and size must match, and every row its frames, size and threads.
Any difference is refused with a message that says what differs. tokcodec is
never seeded (its results depend on the model, which is what changes).

The metrics come from the per-clip lists of `json/<codec>.json`, which hold
full precision (points.csv rounds to 6 significant digits; the two are checked
to agree), so a report rebuilt from a seeded cache reproduces the committed
numbers. Seeded results say so (`seeded_from`, `measured`, `measured_on`: the
report writes them as columns of points.csv and speed.csv, so they carry over
again), and the report notes it. Bitstreams are not seeded: the side-by-side figure
re-encodes the one point per anchor it shows (plots.side_by_side).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from tokcodec.bench import anchors as anc
from tokcodec.bench import runner
from tokcodec.bench.codecs import codec_for
from tokcodec.bench.datasets import ClipSource
from tokcodec.errors import TokcodecError

INT_FIELDS = {"frames", "width", "height", "bytes", "threads"}
STR_FIELDS = {"codec", "family", "point", "value", "clip", "device", "measured", "measured_on", "seeded_from", "time"}
# per_clip keys of json/<codec>.json -> result keys (full precision)
JSON_FIELDS = {
    "bytes": "bytes",
    "bpp": "bpp",
    "psnr-rgb": "psnr_rgb",
    "psnr-y": "psnr_y",
    "ms-ssim": "ms_ssim",
    "lpips": "lpips",
    "vmaf": "vmaf",
    "encoding_fps": "encode_fps",
    "decoding_fps": "decode_fps",
}
# what describe() records and the committed meta must repeat
META_KEYS = [
    "family",
    "encoder",
    "encoder_version",
    "ffmpeg",
    "decoder",
    "bit_depth",
    "rate_parameter",
    "options",
    "command",
]


class SeedError(TokcodecError):
    """The committed results cannot stand in for this configuration's anchors."""


@dataclass
class Committed:
    """What a report directory holds, read once."""

    root: Path
    label: str  # how results name their source, e.g. "benchmarks/results"
    points: dict[tuple, dict]  # (codec, point, clip) -> csv row
    speed: dict[tuple, dict] | None  # (codec, point, clip, width, height, frames) -> csv row; None: no speed.csv
    metas: dict[str, dict | None]  # codec -> json meta (None: no json file)
    per_clip: dict[str, dict]  # codec -> clip -> point -> {result key: value}
    env: dict  # environment.json ({} when absent)

    @property
    def measured(self) -> str:
        """When rows without their own date were measured, as far as the directory tells."""
        date = self.env.get("date")
        return f"on or before {date} (date of {self.label}/environment.json)" if date else "unknown"


@dataclass
class SeedSummary:
    source: str
    seeded: int = 0  # result files written
    seeded_speed: int = 0  # speed files written
    cached: int = 0  # anchor jobs already in the cache (left as they are)
    missing: list[str] = field(default_factory=list)  # anchor jobs the committed results do not have
    codecs: list[str] = field(default_factory=list)
    speed_note: str | None = None  # why the speed-pass timings were not seeded


def _label(path: Path) -> str:
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _parse(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k is None:
            continue
        if v in ("", None):
            out[k] = None
        elif k in STR_FIELDS:
            out[k] = v
        elif k in INT_FIELDS:
            out[k] = int(float(v))
        else:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def _read_csv(path: Path, key_fields: tuple[str, ...]) -> dict[tuple, dict]:
    rows: dict[tuple, dict] = {}
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            if raw.get("clip") == "mean":
                continue
            r = _parse(raw)
            key = tuple(r.get(k) for k in key_fields)
            if key in rows:
                raise SeedError(f"{path}: two rows for {' '.join(map(str, key))}")
            rows[key] = r
    return rows


def read_committed(results_dir: str | os.PathLike) -> Committed:
    root = Path(results_dir)
    points_csv = root / "points.csv"
    if not points_csv.exists():
        raise SeedError(f"--seed-from {root}: no points.csv there (a directory written by tokcodec bench -o)")
    points = _read_csv(points_csv, ("codec", "point", "clip"))
    speed_csv = root / "speed.csv"
    speed = None
    if speed_csv.exists():
        speed = _read_csv(speed_csv, ("codec", "point", "clip", "width", "height", "frames"))
    metas, per_clip = {}, {}
    for codec in sorted({k[0] for k in points}):
        p = root / "json" / f"{codec}.json"
        if not p.exists():
            metas[codec] = None
            continue
        data = json.loads(p.read_text())
        metas[codec] = data.get("meta")
        clips = {}
        for clip, lists in (data.get("per_clip") or {}).items():
            pts = {}
            for i, point in enumerate(lists.get("point", [])):
                pts[point] = {dst: lists[src][i] for src, dst in JSON_FIELDS.items() if src in lists}
            clips[clip] = pts
        per_clip[codec] = clips
    env_p = root / "environment.json"
    env = json.loads(env_p.read_text()) if env_p.exists() else {}
    return Committed(root, _label(root), points, speed, metas, per_clip, env)


def _differs(a, b) -> bool:
    return json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)


def _command_diff(old: str, new: str) -> str:
    o, n = old.split(), new.split()
    only_o = [t for t in o if t not in n]
    only_n = [t for t in n if t not in o]
    return f"committed has {' '.join(only_o) or '(nothing else)'}; now {' '.join(only_n) or '(nothing else)'}"


def check_meta(spec: anc.AnchorSpec, cfg: runner.BenchConfig, committed: Committed) -> list[str]:
    """What differs between the committed results of one anchor and what this run would do (empty: nothing)."""
    name = spec.name
    meta = committed.metas.get(name)
    if meta is None:
        return [f"{name}: {committed.label}/json/{name}.json is missing, so its settings cannot be checked"]
    diffs = []
    now = anc.describe(spec, cfg.threads, cfg.intra_period)
    for key in META_KEYS:
        if key not in meta:
            diffs.append(f"{name}: the committed meta does not record {key}")
        elif _differs(meta[key], now[key]):
            if key == "command":
                diffs.append(f"{name}: encoder command differs: {_command_diff(meta[key], now[key])}")
            else:
                diffs.append(f"{name}: {key} is {meta[key]!r} in {committed.label}, {now[key]!r} now")
    if meta.get("frames") != cfg.frames:
        diffs.append(f"{name}: committed at {meta.get('frames')} frames per clip, this run at {cfg.frames}")
    size = list(cfg.size) if cfg.size else None
    if _differs(meta.get("size"), size):
        diffs.append(f"{name}: committed at size {meta.get('size')}, this run at {size}")
    return diffs


def check_run(committed: Committed, sources: list[ClipSource]) -> list[str]:
    """What differs for the run as a whole: the bench version, the clips' source files (as far as
    environment.json recorded them)."""
    diffs = []
    bench_version = committed.env.get("bench_version")
    if bench_version is not None and bench_version != runner.BENCH_VERSION:
        diffs.append(f"committed with bench version {bench_version}, this is {runner.BENCH_VERSION}")
    recorded = {c.get("name"): c for c in committed.env.get("clips", []) if isinstance(c, dict)}
    for src in sources:
        old = recorded.get(src.name)
        if old and Path(old.get("path", "")).name != Path(src.path).name:
            diffs.append(f"clip {src.name}: committed from {Path(old['path']).name}, now from {Path(src.path).name}")
    return diffs


def _row_diffs(job_desc: str, row: dict, frames: int, size, threads: int) -> list[str]:
    diffs = []
    if row.get("frames") != frames:
        diffs.append(f"{job_desc}: {row.get('frames')} frames committed, {frames} now")
    if size and (row.get("width"), row.get("height")) != tuple(size):
        diffs.append(f"{job_desc}: {row.get('width')}x{row.get('height')} committed, {size[0]}x{size[1]} now")
    if row.get("threads") is not None and row["threads"] != threads:
        diffs.append(f"{job_desc}: {row['threads']} thread(s) committed, {threads} now")
    return diffs


def _same_6g(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return f"{float(a):.6g}" == f"{float(b):.6g}"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def seed_cache(
    cfg: runner.BenchConfig,
    cache_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    sources: list[ClipSource],
    codecs: list[str] | None = None,
    speed: str = "auto",
    figure_reference: bool = True,
    log=print,
) -> SeedSummary:
    """Write the cache results (and speed-pass timings) of this configuration's anchor jobs that the cache
    lacks, from the committed report in `results_dir`. Raises SeedError, writing nothing, when the committed
    settings differ from this run's. With `figure_reference`, also builds the reference of the side-by-side
    figure's clip when the cache lacks it (the figure re-encodes a seeded anchor point from it).

    `speed`: "always" seeds the speed-pass timings too, "never" does not, "auto" only when they were
    measured on a machine described as this one (otherwise the anchors are timed again, a few minutes
    on the committed benchmark, so that the speed table compares every codec on one machine)."""
    committed = read_committed(results_dir)
    cache = Path(cache_dir)
    summary = SeedSummary(committed.label)
    anchors_only = replace(cfg, tokcodec={}, notes=[])  # tokcodec is never seeded
    specs = {s.name: s for s in cfg.anchors}

    # the jobs to fill: RD jobs and speed-pass jobs without a cached result
    rd_todo = []
    for job in runner.build_jobs(anchors_only, sources, codecs):
        if not codec_for(job.spec).seeded:
            continue
        if runner.load_result(cache, job) is not None:
            summary.cached += 1
        else:
            rd_todo.append(job)
    speed_todo = []
    if speed != "never" and anchors_only.speed.get("clips"):
        for p in runner.speed_passes(anchors_only):
            for job in runner.build_jobs(p, runner._speed_clips(p, sources), codecs):
                if not codec_for(job.spec).seeded:
                    continue  # never seeded, as above
                if runner._cached_speed(cache, job, p) is None:
                    speed_todo.append((job, p))

    # check everything first
    wanted = sorted({j.codec for j in rd_todo} | {j.codec for j, _ in speed_todo}, key=list(specs).index)
    diffs = check_run(committed, sources) if wanted else []
    for name in wanted:
        diffs += check_meta(specs[name], cfg, committed)
    writes, speed_writes = [], []
    for job in rd_todo:
        desc = f"{job.codec} {job.point} {job.clip}"
        row = committed.points.get((job.codec, job.point, job.clip))
        meta = committed.metas.get(job.codec) or {}
        if row is None or int(job.value) not in [int(v) for v in meta.get("points", [])]:
            summary.missing.append(desc)
            continue
        row_diffs = _row_diffs(desc, row, cfg.frames, cfg.size, cfg.threads)
        if row.get("family") != job.family:
            row_diffs.append(f"{desc}: family {row.get('family')} committed, {job.family} now")
        full = committed.per_clip.get(job.codec, {}).get(job.clip, {}).get(job.point)
        if full:  # full precision from the json; it must agree with the csv
            bad = [k for k, v in full.items() if k in row and not _same_6g(v, row[k])]
            if bad:
                row_diffs.append(
                    f"{desc}: {committed.label}/points.csv and json/{job.codec}.json disagree on {', '.join(bad)}"
                )
            row = {**row, **{k: v for k, v in full.items() if v is not None or row.get(k) is None}}
        if cfg.vmaf and row.get("vmaf") is None:
            row_diffs.append(f"{desc}: measured without VMAF, this run measures it (or pass --no-vmaf)")
        elif not cfg.vmaf:
            row = {**row, "vmaf": None}  # as a run without VMAF would have it
        diffs += row_diffs
        writes.append((job, row, meta))
    now = runner.machine_description(cfg.threads, cfg.device)
    elsewhere = set()
    for job, p in speed_todo:
        size = p.size or (None, None)
        desc = f"speed pass {job.codec} {job.point} {job.clip} {size[0]}x{size[1]}"
        row = None
        if committed.speed is not None:
            row = committed.speed.get((job.codec, job.point, job.clip, size[0], size[1], p.frames))
        if row is None:
            summary.missing.append(desc)
            continue
        machine = row.get("measured_on") or committed.env.get("machine")
        if speed == "auto" and machine != now:  # timed again here, so one table compares one machine's speeds
            elsewhere.add(str(machine))
            continue
        row = {**row, "measured_on": machine}
        diffs += _row_diffs(desc, row, p.frames, p.size, p.threads)
        speed_writes.append((job, p, row, committed.metas.get(job.codec) or {}))
    if elsewhere:
        summary.speed_note = (
            f"speed-pass timings not seeded: measured on {', '.join(sorted(elsewhere))}, this is "
            f"{now}; those anchors are timed again (--seed-speed always would carry them over)"
        )
    if diffs:
        shown = diffs[:20] + ([f"... and {len(diffs) - 20} more"] if len(diffs) > 20 else [])
        raise SeedError(
            f"--seed-from {committed.label}: the committed anchor results were made with other "
            f"settings than this run, so they are not carried over (re-run those anchors without "
            f"--seed-from, or leave them out with --codecs):\n  " + "\n  ".join(shown)
        )

    # then write
    for job, row, meta in writes:
        sp = runner.stream_path(cache, job)
        result = {k: v for k, v in row.items() if k not in ("measured", "measured_on", "seeded_from")}
        result.update(
            {
                "codec": job.codec,
                "family": job.family,
                "point": job.point,
                "value": job.value,
                "clip": job.clip,
                "clip_key": job.clip_key,
                "command": meta.get("command"),
                "stream": str(sp.relative_to(cache)),
                "signature": job.signature,
                "time": row.get("time"),
                "seeded_from": f"{committed.label}/points.csv",
                "measured": row.get("measured") or row.get("time") or committed.measured,
                "measured_on": row.get("measured_on") or meta.get("machine") or committed.env.get("machine"),
            }
        )
        _write_json(runner.result_path(cache, job), result)
        summary.seeded += 1
    for job, p, row, _meta in speed_writes:
        result = {k: v for k, v in row.items() if k not in ("measured", "measured_on", "seeded_from")}
        result.update(
            {
                "codec": job.codec,
                "family": job.family,
                "point": job.point,
                "clip": job.clip,
                "signature": job.signature,
                "time": row.get("time"),
                "seeded_from": f"{committed.label}/speed.csv",
                "measured": row.get("measured") or row.get("time") or committed.measured,
                "measured_on": row["measured_on"],
            }
        )
        _write_json(runner.speed_path(cache, job, p.threads), result)
        summary.seeded_speed += 1
    summary.codecs = sorted(
        {j.codec for j, _, _ in writes} | {j.codec for j, _, _, _ in speed_writes}, key=list(specs).index
    )
    if figure_reference and (writes or summary.cached):
        _side_by_side_reference(cfg, sources, cache, log)
    return summary


def _side_by_side_reference(cfg: runner.BenchConfig, sources: list[ClipSource], cache: Path, log) -> None:
    """The side-by-side figure needs its clip's reference, which a seeded cache lacks (a few seconds)."""
    if not sources:
        return
    name = (cfg.side_by_side or {}).get("clip")
    src = next((s for s in sources if s.name == name), None) or min(sources, key=lambda s: s.name)
    if not (cache / "refs" / runner.clip_key(src, cfg.frames, cfg.size) / "ref.json").exists():
        log(f"building the reference of {src.name} (the side-by-side figure's clip)")
        runner.prepare_references(cfg, [src], cache, progress=False)
