"""The benchmark run: configuration, jobs (codec x rate point x clip), a result cache, workers.

Cache layout (under `cache_dir`; everything in it can be deleted at any time):

    refs/<clip key>/ref.yuv, ref.json          the reference of a clip (datasets.make_reference)
    streams/<codec>/<clip key>/<point>.<ext>   the bitstreams (kept for the side-by-side figure)
    results/<codec>/<clip key>/<point>.json    one finished job: bytes, bpp, metrics, timings

A job whose result file exists with the same signature (a hash of everything
that determines its output: codec settings, point, clip, frames, size, intra
period, bench version) is skipped, so an interrupted run resumes where it
stopped, and a changed setting re-runs exactly the jobs it affects.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing as mp
import os
import platform
import time
import traceback
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path


from tokcodec.bench import anchors as anc
from tokcodec.bench.datasets import (
    COLOUR_NOTE,
    ClipSource,
    discover_clips,
    load_reference,
    make_reference,
    save_reference,
)
from tokcodec.bench.codecs import codec_for
from tokcodec.bench.tokcodec_codec import IMPLEMENTED_MODES, TokcodecSpec, parse_gops, resolve_models
from tokcodec.errors import ModelError, TokcodecError
from tokcodec.precision import selected_precision, use_precision
from tokcodec.zoo import selected_zoo, use_zoo

BENCH_VERSION = 1
PAPER_BPP = 0.0384


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class BenchConfig:
    """Everything that defines a benchmark run (see benchmarks/config.json)."""

    clips: list[str]
    frames: int = 33
    size: tuple[int, int] | None = (640, 360)
    intra_period: int | None = None
    anchors: list[anc.AnchorSpec] = field(default_factory=list)
    tokcodec: dict = field(default_factory=dict)  # {"models": "all"|[...], "modes": [0, 1], "gop": null}
    vmaf: bool = True
    dists: bool = False  # DISTS of every point (issue 19's supporting metric; VGG16 on every frame)
    threads: int = 1
    device: str = "cpu"
    target_bpp: float = PAPER_BPP
    side_by_side: dict = field(default_factory=dict)  # {"clip": name, "frame": i, "crop": [x, y, w, h]}
    # {"clips": [names], "sizes": [{"size": [w, h], "frames": n, "models": [...]}]}: separate,
    # sequential timing passes (see speed_passes)
    speed: dict = field(default_factory=dict)
    name: str = "benchmark"
    data_root: str | None = None
    notes: list[str] = field(default_factory=list)  # things left out, reported with the results

    @staticmethod
    def from_dict(d: dict, base: Path | None = None, data_root: str | os.PathLike | None = None) -> "BenchConfig":
        """`data_root` (the caller's, e.g. `tokcodec bench --data-root`) replaces the file's own, which is
        relative to `base` (the file's folder)."""
        root = Path(data_root) if data_root else (base or Path.cwd()) / d.get("data_root", ".")
        clips = [str((root / c).resolve()) if not Path(c).is_absolute() else c for c in d.get("clips", [])]
        size = d.get("size")
        if isinstance(size, str):
            size = parse_size(size)
        return BenchConfig(
            clips=clips,
            frames=int(d.get("frames", 33)),
            size=tuple(size) if size else None,
            intra_period=d.get("intra_period"),
            anchors=[anc.AnchorSpec.from_dict(a) for a in d.get("anchors", [])],
            tokcodec=dict(d.get("tokcodec", {})),
            vmaf=bool(d.get("vmaf", True)),
            dists=bool(d.get("dists", False)),
            threads=int(d.get("threads", 1)),
            device=d.get("device", "cpu"),
            target_bpp=float(d.get("target_bpp", PAPER_BPP)),
            side_by_side=dict(d.get("side_by_side", {})),
            speed=dict(d.get("speed", {})),
            name=d.get("name", "benchmark"),
            data_root=str(root.resolve()) if d.get("data_root") or data_root else None,
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "data_root": self.data_root,
            "clips": self.clips,
            "frames": self.frames,
            "size": list(self.size) if self.size else None,
            "intra_period": self.intra_period,
            "anchors": [a.to_dict() for a in self.anchors],
            "tokcodec": self.tokcodec,
            "vmaf": self.vmaf,
            "dists": self.dists,
            "threads": self.threads,
            "device": self.device,
            "target_bpp": self.target_bpp,
            "side_by_side": self.side_by_side,
            "speed": self.speed,
        }

    def tokcodec_specs(self) -> list[TokcodecSpec]:
        t = self.tokcodec
        if not t or t.get("enabled", True) is False:
            return []
        models = resolve_models(t.get("models", "all"))
        modes = [int(m) for m in t.get("modes", [0, 1])]
        if missing := sorted(set(modes) - IMPLEMENTED_MODES):
            self.notes.append(f"tokcodec entropy mode(s) {missing} left out: not implemented yet")
        gops = parse_gops(t.get("gop"))
        # each decoder entry (zoo decoders) is a curve of its own: the same tokens, other frames
        return [
            TokcodecSpec(
                f"tokcodec-m{mode}" + (f"-{decoder}" if decoder else ""),
                mode,
                models,
                gops,
                f"tokcodec, entropy mode {mode}" + (f", decoder {decoder}" if decoder else ""),
                decoder,
            )
            for decoder in [None, *t.get("decoders", [])]
            for mode in modes
            if mode in IMPLEMENTED_MODES
        ]


X265_CRF = [22, 26, 30, 34, 38, 42, 46, 51]
VVENC_QP = [27, 32, 37, 42, 47, 51, 57, 63]
SVTAV1_CRF = [35, 41, 47, 53, 58, 63]


def default_anchors() -> list[dict]:
    """The anchor set of the committed benchmark (benchmarks/config.json repeats it)."""
    out = []
    for preset in ("medium", "veryslow"):
        out.append(
            {
                "name": f"x265-{preset}",
                "family": "x265",
                "points": X265_CRF,
                "options": {"preset": preset},
                "description": f"HEVC, x265 preset {preset}, default (psycho-visual) tuning, low-delay P",
            }
        )
        out.append(
            {
                "name": f"x265-{preset}-psnr",
                "family": "x265",
                "points": X265_CRF,
                "options": {"preset": preset, "tune": "psnr"},
                "description": f"HEVC, x265 preset {preset}, tune=psnr, low-delay P",
            }
        )
    for qpa in (1, 0):
        out.append(
            {
                "name": f"vvenc-qpa{qpa}",
                "family": "vvenc",
                "points": VVENC_QP,
                "options": {"preset": "medium", "qpa": qpa},
                "description": f"VVC, vvenc preset medium, perceptual QP adaptation {'on' if qpa else 'off'}, "
                "low-delay B",
            }
        )
    out.append(
        {
            "name": "svtav1",
            "family": "svtav1",
            "points": SVTAV1_CRF,
            "options": {"preset": 6},
            "description": "AV1, SVT-AV1 preset 6, low-delay (pred-struct=1)",
        }
    )
    return out


def default_config(clips: list[str] | None = None) -> BenchConfig:
    return BenchConfig.from_dict(
        {
            "clips": clips or [],
            "frames": 33,
            "size": [640, 360],
            "anchors": default_anchors(),
            "tokcodec": {"models": "all", "modes": [0, 1], "gop": None},
        }
    )


def quick_config(cfg: BenchConfig) -> BenchConfig:
    """A smoke run of about a minute: 2 clips, 9 frames at 256x144, 2-3 points per family, one model."""
    anchors, families = [], set()
    for a in cfg.anchors:
        if a.family in families:
            continue
        families.add(a.family)
        fam = anc.family(a)
        opts = dict(a.opts) | dict(fam.quick_options)
        quick = {"name": a.name + "-quick", "family": a.family, "points": list(fam.quick_points), "options": opts}
        anchors.append(anc.AnchorSpec.from_dict(quick))
    tk = dict(cfg.tokcodec)
    if tk:
        try:
            tk["models"] = list(resolve_models(tk.get("models", "all"))[:1])
        except ModelError:
            pass
    return replace(
        cfg,
        clips=cfg.clips[:2] if len(cfg.clips) > 1 else cfg.clips,
        frames=9,
        size=(256, 144),
        anchors=anchors,
        tokcodec=tk,
        name=cfg.name + " (quick)",
        speed={},
    )


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise TokcodecError(f"size must look like 640x360, got {text!r}") from None


def load_config(path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> BenchConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise TokcodecError(f"{p}: no such configuration file") from None
    except json.JSONDecodeError as e:
        raise TokcodecError(f"{p}: not valid JSON ({e})") from None
    return BenchConfig.from_dict(data, p.parent, data_root)


# ----------------------------------------------------------------------------------------------
# jobs


@dataclass(frozen=True)
class Job:
    codec: str
    family: str
    point: str  # "crf22", "qp37", or a tokcodec model name
    value: str  # the rate parameter value, or the model name
    clip: str  # clip name
    clip_key: str
    spec: dict  # the codec spec (AnchorSpec / TokcodecSpec to_dict)
    signature: str
    gop: int | None = None  # tokcodec only: None = the whole clip


def clip_key(src: ClipSource, frames: int, size) -> str:
    h = hashlib.sha1(str(Path(src.path).resolve()).encode()).hexdigest()[:6]
    s = f"{size[0]}x{size[1]}" if size else "native"
    return f"{src.name}-{h}_{s}_f{frames}"


def _signature(payload: dict) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_jobs(
    cfg: BenchConfig, sources: list[ClipSource], codecs: list[str] | None = None, log=lambda msg: None
) -> list[Job]:
    """Anchors first (they do not need a model), tokcodec last; within a codec, clip by clip."""
    jobs = []
    specs: list = list(cfg.anchors)
    want = set(codecs) if codecs else None

    def selected(name: str, family: str) -> bool:
        return want is None or name in want or family in want or any(name.startswith(w + "-") for w in want)

    anchor_specs = [s for s in specs if selected(s.name, s.family)]
    tk_specs = []
    if want is None or any(w == "tokcodec" or w.startswith("tokcodec") for w in want):
        try:
            tk_specs = [s for s in cfg.tokcodec_specs() if selected(s.name, "tokcodec")]
        except ModelError as e:
            if want is not None:  # asked for by name: an error; otherwise the anchors still run
                raise
            log(f"warning: tokcodec left out: {e}")
    common = {
        "frames": cfg.frames,
        "size": cfg.size,
        "intra_period": cfg.intra_period,
        "vmaf": cfg.vmaf,
        "bench_version": BENCH_VERSION,
    }
    if cfg.dists:  # only then: turning it on re-measures every point, leaving it off keeps earlier results
        common["dists"] = True
    for spec in anchor_specs:
        for src in sources:
            key = clip_key(src, cfg.frames, cfg.size)
            for p in spec.points:
                sig = _signature({**common, "spec": spec.to_dict() | {"points": None}, "point": p, "clip": key})
                jobs.append(
                    Job(spec.name, spec.family, anc.point_label(spec, p), str(p), src.name, key, spec.to_dict(), sig)
                )
    for spec in tk_specs:  # point by point, so the first rate point is complete on every clip first
        for label, m, g in spec.points:
            weights = _model_hash(m, spec.mode)  # hashes the weight files: once per point, not per clip
            for src in sources:
                key = clip_key(src, cfg.frames, cfg.size)
                sig = _signature(
                    {
                        **common,
                        "spec": spec.to_dict() | {"models": None, "gops": None},
                        "point": m,
                        "gop": g,
                        "clip": key,
                        "weights": weights,
                    }
                )
                jobs.append(Job(spec.name, "tokcodec", label, m, src.name, key, spec.to_dict(), sig, g))
    return jobs


def _model_hash(name: str, mode: int = 0) -> str:
    """The tokenizer's weights hash, and in mode 1 its prior's: results are redone when either changes."""
    try:
        from tokcodec.zoo import get_entry
        from tokcodec.zoo.priors import prior_for

        digest = get_entry(name).weights_hash
        prior = prior_for(digest) if mode == 1 else None
        return digest.hex() + (f"+{prior.sha256}" if prior else "")
    except Exception:  # noqa: BLE001 - an unknown model fails later, with the zoo's message
        return "?"


def result_path(cache: Path, job: Job) -> Path:
    return cache / "results" / job.codec / job.clip_key / f"{job.point}.json"


def stream_path(cache: Path, job: Job) -> Path:
    return cache / "streams" / job.codec / job.clip_key / f"{job.point}{codec_for(job.spec).extension}"


def load_result(cache: Path, job: Job) -> dict | None:
    p = result_path(cache, job)
    if not p.exists():
        return None
    try:
        r = json.loads(p.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    return r if r.get("signature") == job.signature else None


# ----------------------------------------------------------------------------------------------
# one job (runs in a worker process)


@lru_cache(maxsize=4)
def _reference(ref_dir: str):
    return load_reference(ref_dir)


def machine_description(threads: int, device: str = "cpu") -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{device} ({cpu}, {os.cpu_count()} logical cores), {threads} thread(s) per codec"


def run_job(job: Job, cache: str, cfg: dict) -> dict:
    """Encode, decode and measure one point of one clip; write and return its result."""
    from tokcodec.bench.evaluate import bits_per_pixel, quality
    from tokcodec.metrics.flicker import flicker

    cache_p = Path(cache)
    threads, device = cfg["threads"], cfg["device"]
    ref = _reference(str(cache_p / "refs" / job.clip_key))
    spath = stream_path(cache_p, job)
    spath.parent.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    codec = codec_for(job.spec, threads, device, cfg.get("intra_period"))
    ref_yuv = str(cache_p / "refs" / job.clip_key / "ref.yuv")
    enc = codec.encode(job.value, job.gop, ref, ref_yuv, str(spath))
    dec = codec.decode(job.value, str(spath))
    if len(dec) != ref.num_frames:
        raise RuntimeError(f"{job.codec} decoded {len(dec)} frames, expected {ref.num_frames}")
    enc_wall, enc_cpu, dec_wall, dec_cpu, command = enc.wall_s, enc.cpu_s, dec.wall_s, dec.cpu_s, enc.command
    num_bytes = os.path.getsize(spath)
    rgb = dec.rgb_frames()
    q = quality(ref, rgb, dec.yuv, use_vmaf=cfg["vmaf"], threads=threads, use_dists=cfg.get("dists", False))
    q.update(flicker(ref.rgb, rgb, enc.extra.get("gop")))  # inside GOPs (the anchors: one intra per clip)
    n = ref.num_frames
    result = {
        "codec": job.codec,
        "family": job.family,
        "point": job.point,
        "value": job.value,
        "clip": job.clip,
        "clip_key": job.clip_key,
        "frames": n,
        "width": ref.width,
        "height": ref.height,
        "bytes": num_bytes,
        "bpp": bits_per_pixel(num_bytes, n, ref.width, ref.height),
        **q,
        "encode_s": enc_wall,
        "encode_cpu_s": enc_cpu,
        "decode_s": dec_wall,
        "decode_cpu_s": dec_cpu,
        "encode_fps": n / enc_wall if enc_wall > 0 else None,
        "decode_fps": n / dec_wall if dec_wall > 0 else None,
        "threads": threads,
        "device": device,
        "loadavg_1min": load0,
        "command": command,
        "stream": str(spath.relative_to(cache_p)),
        "signature": job.signature,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **enc.extra,
    }
    out = result_path(cache_p, job)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    return result


def _worker_init(threads: int, zoo: str | None = None, precision: str | None = None) -> None:
    import torch

    from ..allocator import keep_freed_memory

    keep_freed_memory()
    if zoo is not None:  # the parent's zoo and precision: a spawned process starts from the defaults
        use_zoo(zoo)
    if precision is not None:
        use_precision(precision)
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def _run_job_safe(job: Job, cache: str, cfg: dict) -> tuple[Job, dict | None, str | None]:
    try:
        return job, run_job(job, cache, cfg), None
    except Exception as e:  # noqa: BLE001 - one failed point must not lose the others
        if isinstance(e, TokcodecError):
            return job, None, str(e)
        return job, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"


# ----------------------------------------------------------------------------------------------
# the run


@dataclass
class RunSummary:
    results: list[dict]
    failures: list[tuple[Job, str]]
    skipped: int
    ran: int
    seconds: float


def prepare_references(cfg: BenchConfig, sources: list[ClipSource], cache: Path, progress: bool = True) -> None:
    from tqdm import tqdm

    todo = [s for s in sources if not (cache / "refs" / clip_key(s, cfg.frames, cfg.size) / "ref.json").exists()]
    for src in tqdm(todo, desc="references", unit="clip", disable=not progress or not todo):
        ref = make_reference(src, cfg.frames, cfg.size)
        save_reference(ref, cache / "refs" / clip_key(src, cfg.frames, cfg.size))


def run(
    cfg: BenchConfig,
    cache_dir: str | os.PathLike,
    codecs: list[str] | None = None,
    workers: int = 1,
    progress: bool = True,
    sources: list[ClipSource] | None = None,
    log=print,
) -> RunSummary:
    """Run every job of the configuration not already in the cache; return all results."""
    from tqdm import tqdm

    t0 = time.time()
    cache = Path(cache_dir)
    sources = sources if sources is not None else discover_clips(cfg.clips)
    check_tools(cfg, codecs)
    prepare_references(cfg, sources, cache, progress)
    jobs = build_jobs(cfg, sources, codecs, log)
    for note in sorted(set(cfg.notes)):
        log(f"note: {note}")
    done, todo = [], []
    for j in jobs:
        r = load_result(cache, j)
        (done if r is not None else todo).append((j, r))
    results = [r for _, r in done]
    failures: list[tuple[Job, str]] = []
    job_cfg = {
        "threads": cfg.threads,
        "device": cfg.device,
        "vmaf": cfg.vmaf,
        "dists": cfg.dists,
        "intra_period": cfg.intra_period,
    }
    if done:
        log(f"{len(done)} of {len(jobs)} points already in the cache {cache}, skipped")
    bar = tqdm(total=len(todo), desc="encode+measure", unit="pt", disable=not progress or not todo)
    zoo = selected_zoo()
    if workers <= 1:
        _worker_init(cfg.threads)
        for j, _ in todo:
            bar.set_postfix_str(f"{j.codec} {j.point} {j.clip}"[:60])
            j, r, err = _run_job_safe(j, str(cache), job_cfg)
            _collect(j, r, err, results, failures, log)
            bar.update()
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init, initargs=(cfg.threads, zoo, selected_precision())
        ) as pool:
            futs = [pool.submit(_run_job_safe, j, str(cache), job_cfg) for j, _ in todo]
            for f in cf.as_completed(futs):
                j, r, err = f.result()
                bar.set_postfix_str(f"{j.codec} {j.point} {j.clip}"[:60])
                _collect(j, r, err, results, failures, log)
                bar.update()
    bar.close()
    return RunSummary(results, failures, len(done), len(todo), time.time() - t0)


def _collect(job: Job, r: dict | None, err: str | None, results: list, failures: list, log) -> None:
    if r is not None:
        results.append(r)
    else:
        failures.append((job, err or "unknown error"))
        log(f"FAILED {job.codec} {job.point} {job.clip}: {(err or '').strip().splitlines()[0]}")


def check_tools(cfg: BenchConfig, codecs: list[str] | None = None) -> None:
    """Fail early, with a clear message, when an encoder the run needs is missing."""
    want = set(codecs) if codecs else None
    for spec in cfg.anchors:
        if want is None or spec.name in want or spec.family in want or any(spec.name.startswith(w + "-") for w in want):
            anc.require_encoder(anc.family(spec).encoder, spec.name)


def collect_results(
    cfg: BenchConfig,
    cache_dir: str | os.PathLike,
    codecs: list[str] | None = None,
    sources: list[ClipSource] | None = None,
) -> list[dict]:
    """The cached results of this configuration's jobs (for reports without running anything)."""
    cache = Path(cache_dir)
    sources = sources if sources is not None else discover_clips(cfg.clips)
    out = []
    for j in build_jobs(cfg, sources, codecs):
        r = load_result(cache, j)
        if r is not None:
            out.append(r)
    return out


def environment(cfg: BenchConfig, workers: int) -> dict:
    """Versions and settings recorded next to the results."""
    import av
    import torch

    from tokcodec.bench.evaluate import VMAF_MODEL, vmaf_available

    env = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "bench_version": BENCH_VERSION,
        "machine": machine_description(cfg.threads, cfg.device),
        "workers": workers,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "precision": selected_precision(),  # tokcodec's tokenizer arithmetic (tokcodec.precision)
        "pyav": av.__version__,
        "ffmpeg": anc.ffmpeg_version(),
        "ffmpeg_path": anc.ffmpeg_exe(),
        "colour": COLOUR_NOTE,
        "vmaf": VMAF_MODEL + " (libvmaf in the ffmpeg binary)" if vmaf_available() else None,
        "psnr_pooling": "per-frame PSNR, mean over frames (frames capped at 100 dB)",
        "config": cfg.to_dict(),
        "notes": sorted(set(cfg.notes)),
        "anchors": {a.name: anc.describe(a, cfg.threads, cfg.intra_period) for a in cfg.anchors},
    }
    try:
        from tokcodec.bench.tokcodec_codec import describe

        env["tokcodec"] = {s.name: describe(s, cfg.device, cfg.threads) for s in cfg.tokcodec_specs()}
    except TokcodecError as e:
        env["tokcodec"] = {"error": str(e)}
    return env


# ----------------------------------------------------------------------------------------------
# the speed pass


def speed_path(cache: Path, job: Job, threads: int) -> Path:
    return cache / "speed" / job.codec / job.clip_key / f"{job.point}.t{threads}.json"


def time_job(job: Job, cache: str, cfg: dict) -> dict:
    """Encode and decode one point again, only to time it (nothing else running in this process)."""
    import tempfile

    cache_p = Path(cache)
    threads, device = cfg["threads"], cfg["device"]
    ref = _reference(str(cache_p / "refs" / job.clip_key))
    load0 = os.getloadavg()[0]
    codec = codec_for(job.spec, threads, device, cfg.get("intra_period"))
    ref_yuv = str(cache_p / "refs" / job.clip_key / "ref.yuv")
    with tempfile.TemporaryDirectory(prefix="tkc-speed-") as tmp:
        codec.prepare(job.value, ref_yuv, tmp)  # a model, a converted input: outside the timing
        out = os.path.join(tmp, "s" + codec.extension)
        enc = codec.encode(job.value, job.gop, ref, ref_yuv, out)
        dec = codec.decode(job.value, out)
    enc_wall, enc_cpu, dec_wall, dec_cpu = enc.wall_s, enc.cpu_s, dec.wall_s, dec.cpu_s
    n = ref.num_frames
    result = {
        "codec": job.codec,
        "family": job.family,
        "point": job.point,
        "clip": job.clip,
        "frames": n,
        "width": ref.width,
        "height": ref.height,
        "encode_s": enc_wall,
        "encode_cpu_s": enc_cpu,
        "decode_s": dec_wall,
        "decode_cpu_s": dec_cpu,
        "encode_fps": n / enc_wall,
        "decode_fps": n / dec_wall,
        "threads": threads,
        "device": device,
        "loadavg_1min": load0,
        "signature": job.signature,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out_p = speed_path(cache_p, job, threads)
    out_p.parent.mkdir(parents=True, exist_ok=True)
    out_p.write_text(json.dumps(result, indent=1))
    return result


def speed_passes(cfg: BenchConfig) -> list[BenchConfig]:
    """The timing passes: every point at the benchmark's size, then, per extra size of
    `speed.sizes`, each anchor's middle rate point and the tokcodec rate points listed
    there (at 1080p the larger ladder rungs do not fit a small machine's memory), on
    the size's own `clips` if given."""
    passes = [cfg]
    for extra in cfg.speed.get("sizes", []):
        anchors = [replace(a, points=(a.points[len(a.points) // 2],)) for a in cfg.anchors]
        tokcodec = dict(cfg.tokcodec, models=extra.get("models", cfg.tokcodec.get("models", "all")))
        speed = dict(cfg.speed, clips=extra.get("clips", cfg.speed.get("clips", [])))
        passes.append(
            replace(
                cfg,
                size=tuple(extra["size"]),
                frames=int(extra.get("frames", cfg.frames)),
                anchors=anchors,
                tokcodec=tokcodec,
                speed=speed,
            )
        )
    return passes


def _speed_clips(cfg: BenchConfig, sources: list[ClipSource]) -> list[ClipSource]:
    names = set(cfg.speed.get("clips", []))
    return [s for s in sources if s.name in names]


def _cached_speed(cache: Path, job: Job, cfg: BenchConfig) -> dict | None:
    p = speed_path(cache, job, cfg.threads)
    r = json.loads(p.read_text()) if p.exists() else None
    if r is None or r.get("signature") != job.signature:
        return None
    if cfg.size:  # results timed before the size was recorded
        r.setdefault("width", cfg.size[0])
        r.setdefault("height", cfg.size[1])
    return r


def collect_speed(
    cfg: BenchConfig,
    cache_dir: str | os.PathLike,
    codecs: list[str] | None = None,
    sources: list[ClipSource] | None = None,
) -> list[dict]:
    """The cached speed-pass results of this configuration."""
    sources = sources if sources is not None else discover_clips(cfg.clips)
    found = (
        _cached_speed(Path(cache_dir), j, p)
        for p in speed_passes(cfg)
        for j in build_jobs(p, _speed_clips(p, sources), codecs)
    )
    return [r for r in found if r is not None]


def run_speed(
    cfg: BenchConfig,
    cache_dir: str | os.PathLike,
    codecs: list[str] | None = None,
    progress: bool = True,
    sources: list[ClipSource] | None = None,
    log=print,
) -> list[dict]:
    """Time the points of the `speed` clips again, one at a time (no worker running beside it).

    The rate-distortion run may share the CPU between workers (and with anything
    else on the machine); these timings are the ones the report quotes.
    """
    from tqdm import tqdm

    cache = Path(cache_dir)
    sources = sources if sources is not None else discover_clips(cfg.clips)
    results, todo = [], []
    for p in speed_passes(cfg):
        clips = _speed_clips(p, sources)
        jobs = build_jobs(p, clips, codecs)
        cached = [_cached_speed(cache, j, p) for j in jobs]
        results += [r for r in cached if r is not None]
        todo += [j for j, r in zip(jobs, cached) if r is None]
        if any(r is None for r in cached):
            prepare_references(p, clips, cache, progress)
    job_cfg = {"threads": cfg.threads, "device": cfg.device, "intra_period": cfg.intra_period}
    _worker_init(cfg.threads)
    for j in tqdm(todo, desc="speed pass", unit="pt", disable=not progress or not todo):
        try:
            results.append(time_job(j, str(cache), job_cfg))
        except Exception as e:  # noqa: BLE001 - timing is secondary to the RD results
            log(f"speed pass: {j.codec} {j.point} {j.clip} failed: {e}")
    return results
