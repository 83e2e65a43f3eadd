"""The batch driver: walk, plan against the database, run the jobs, record, sum up.

    summary = run_batch(BatchOptions(sources=["archive/"], dst="out/", jobs=4))

One driver per DST (the lock). Only the driver writes the database; jobs run
in worker processes or on Ray (executors.py) and send back a FileResult.

A file is skipped when its row is 'done' and still true: every recorded
output is there with its recorded size, the options hash and the model's
weights hash are the same, and the source is the same (size and mtime; when
only the mtime differs, the sha256). Anything else is coded again, replacing
what the database says an earlier run wrote; an output the database does not
know is replaced only with `force`.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokcodec.batch.outputs import tree_size
from tokcodec.batch.state import BatchLock, BatchState, recorded_outputs
from tokcodec.batch.walk import MODES, SourceFile, output_name, walk
from tokcodec.batch.work import FileResult, FileTask, sha256_file, source_stamp
from tokcodec.errors import OutputError, TokcodecError
from tokcodec.io.atomic import clean_stale_temporaries
from tokcodec.precision import selected_precision
from tokcodec.zoo import selected_zoo

FORMAT = 1  # bump when the same options start giving other outputs: every file is then coded again


@dataclass
class BatchOptions:
    sources: list[str]
    dst: str
    mode: str = "encode"  # "encode", "decode" or "tokens"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    model: str | None = None  # encode/tokens: the zoo entry (None: the default); decode: instead of the file's
    gop: int = 17
    entropy: str | None = None  # encode: None (mode 1 where the model has a prior), "mlm" (mode 1 or an error), "raw"
    to: str | None = None  # decode: "mp4", "mkv" or "png" (None: mp4, images stay images)
    decoder: str | None = None  # decode: a decoder-only zoo entry for the files' tokens (zoo.decoders)
    device: str = "cpu"
    jobs: int | None = None  # None: 1 locally, the cluster's CPUs on Ray
    verify: bool = False
    force: bool = False
    ray: str | None = None  # "auto", an address, or "local"
    progress: bool = True


@dataclass
class Summary:
    files: int = 0
    done: int = 0  # coded in this run
    skipped: int = 0  # done by an earlier run and still valid
    failed: int = 0
    bytes_in: int = 0  # sources of the files done and skipped
    bytes_out: int = 0  # their outputs
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)  # {"source", "error"}
    notes: list[dict] = field(default_factory=list)  # {"source", "note"}
    database: str = ""

    @property
    def ratio(self) -> float | None:
        return self.bytes_in / self.bytes_out if self.bytes_out else None

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "ratio": round(self.ratio, 3) if self.ratio else None,
            "seconds": round(self.seconds, 3),
        }


def run_batch(opts: BatchOptions) -> Summary:
    """Code every file of `opts.sources` into `opts.dst`; per-file problems are in the summary, not raised.

    Raises TokcodecError for what stops the whole batch: DST unusable or locked, a
    model that cannot be loaded, sources that overlap DST or collide."""
    if opts.mode not in MODES:
        raise ValueError(f"mode {opts.mode!r}")
    if opts.ray:
        from tokcodec.batch.executors import import_ray

        import_ray()  # before anything else: a missing Ray is a one-line error at once
    t0 = time.monotonic()
    dst = Path(opts.dst).absolute()
    # Every refusal that needs no state comes first (SRC inside DST, colliding outputs): nothing is
    # created, in DST or in a source folder, before they have passed.
    files = walk(opts.sources, dst, opts.mode, opts.include, opts.exclude, opts.to)
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {dst}: {e.strerror}") from None
    with BatchLock(dst):
        state = BatchState(dst)
        try:
            summary = _Run(opts, dst, state).run(files)
        finally:
            state.close()
    summary.seconds = time.monotonic() - t0
    return summary


class _Run:
    """One run of the driver: the plan, the loop and the bookkeeping."""

    def __init__(self, opts: BatchOptions, dst: Path, state: BatchState):
        self.opts, self.dst, self.state = opts, dst, state
        self.summary = Summary(database=str(state.path))
        self.model_hash: str | None = None  # the weights that code videos (encode, tokens)
        self.entry = None
        self._memory_models: dict[str, object] = {}
        self._checked_sizes: dict[str, tuple[int, int]] = {}  # done outputs that --verify checks: their sizes

    # -- planning ----------------------------------------------------------------------------

    def run(self, files: list) -> Summary:
        opts = self.opts
        self.summary.files = len(files)
        self.state.reconcile()
        if any(self._needs_model(f.path) for f in files):
            from tokcodec.zoo import get_entry

            self.entry = get_entry(opts.model or "default")
            self.model_hash = self.entry.weights_hash.hex()
        self.options_hash = self._options_hash()
        todo, checks = self._plan(files)
        self._prepare_folders(files, todo)
        self._execute(todo + checks)
        return self.summary

    def _options_hash(self) -> str:
        opts = self.opts
        options = {
            "format": FORMAT,
            "mode": opts.mode,
            "model": self.entry.name if self.entry is not None else opts.model,
            "gop": opts.gop if opts.mode != "decode" else None,
            # the default and an explicit mlm write the same files (an explicit one fails without a prior)
            "entropy": (opts.entropy or "mlm") if opts.mode == "encode" else None,
            "to": opts.to if opts.mode == "decode" else None,
            **({"decoder": opts.decoder} if opts.decoder else {}),
        }
        return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()

    def _plan(self, files: list[SourceFile]) -> tuple[list[FileTask], list[FileTask]]:
        """The tasks to code, and (with --verify) the done outputs to check; records skips and refusals."""
        todo, checks, pending = [], [], []
        sources = {os.path.realpath(f.path) for f in files}
        for f in files:
            rel = output_name(f.rel, self.opts.mode, self.opts.to)
            output = self.dst / rel
            row = self.state.get(rel)
            try:
                stamp = source_stamp(f.path)
            except OSError as e:
                self._refuse(f, rel, f"{f.path}: {e.strerror}")
                continue
            if os.path.realpath(output) in sources:
                self._refuse(f, rel, f"its output {output} is one of the sources: not overwriting a source")
                continue
            task = self._task(f, output, force=self.opts.force or row is not None)
            if row is not None and self._still_done(row, f, stamp):
                if self.opts.verify and row["verified"] != "ok":
                    checks.append(_replace(task, verify_only=True))  # skipped once it passes
                    self._checked_sizes[rel] = (row["src_size"], row["out_size"])
                else:
                    self._skip(row["src_size"], row["out_size"])
                continue
            todo.append(task)
            pending.append((rel, str(f.path)))
        self.state.plan(pending)
        return todo, checks

    def _needs_model(self, source) -> bool:
        """Whether the batch's model codes this source (encode; tokens of a video). Decoding uses
        the model each file names."""
        return self.opts.mode == "encode" or self.opts.mode == "tokens" and not _is_container(source)

    def _task(self, f: SourceFile, output: Path, force: bool) -> FileTask:
        opts = self.opts
        coded = self._needs_model(f.path)
        return FileTask(
            mode=opts.mode,
            source=str(f.path),
            output=str(output),
            model=self.entry.name if coded else (opts.model if opts.mode == "decode" else None),
            model_hash=self.model_hash if coded else None,
            gop=opts.gop,
            entropy=opts.entropy,
            to=opts.to,
            decoder=opts.decoder,
            device=opts.device,
            force=force,
            verify=opts.verify,
            zoo=selected_zoo(),
            precision=selected_precision(),
        )

    def _still_done(self, row, f: SourceFile, stamp: tuple[int, int]) -> bool:
        if row["status"] != "done" or row["options_hash"] != self.options_hash:
            return False
        if self._needs_model(f.path) and row["model_hash"] != self.model_hash:
            return False
        for rel, size in recorded_outputs(row).items():
            try:
                if tree_size(self.dst / rel) != size:
                    return False
            except OSError:
                return False
        if stamp == (row["src_size"], row["src_mtime_ns"]):
            return True
        if stamp[0] != row["src_size"] or sha256_file(f.path) != row["src_sha256"]:
            return False
        self.state.update(output_name(f.rel, self.opts.mode, self.opts.to), src_mtime_ns=stamp[1])  # touched
        return True

    def _refuse(self, f: SourceFile, rel: str, error: str) -> None:
        self.state.plan([(rel, str(f.path))])
        self.state.finish(rel, status="failed", error=error)
        self.summary.failed += 1
        self.summary.failures.append({"source": str(f.path), "error": error})

    def _prepare_folders(self, files: list[SourceFile], todo: list[FileTask]) -> None:
        """Create the mirrored folders the jobs write to; remove temporaries killed runs left in any."""
        for folder in sorted({Path(t.output).parent for t in todo}):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # the jobs writing there will each say why
        for folder in sorted({(self.dst / f.rel).parent for f in files}):
            clean_stale_temporaries(folder)

    # -- running -----------------------------------------------------------------------------

    def _execute(self, tasks: list[FileTask]) -> None:
        if not tasks:
            return
        from tqdm import tqdm

        pool = self._pool()
        total = sum(_size(t.source) for t in tasks if not t.verify_only)
        bar = tqdm(
            total=total,
            desc=self.opts.mode,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self.opts.progress,
            dynamic_ncols=True,
        )
        waiting = deque(tasks)
        frames: dict[str, tuple[int, int | None]] = {}  # output -> (frames done, total) of running jobs
        running: dict[cf.Future, tuple[FileTask, int]] = {}  # job -> (task, its memory estimate)
        finished, need = 0, None  # need: the estimate for waiting[0], once made
        try:
            while waiting or running:
                while waiting and len(running) < 2 * pool.jobs:  # a bounded queue: ~2 jobs per worker
                    if need is None:
                        need = self._memory_need(waiting[0])
                    if running and not pool.admits(need, sum(n for _, n in running.values())):
                        break  # wait for a job to give its memory back
                    task = waiting.popleft()
                    task = _replace(task, threads=pool.threads)
                    if not task.verify_only:  # a check leaves a done row done
                        self.state.start(self._rel(task))
                    running[pool.submit(task, need)] = (task, need)
                    need = None
                done, _ = cf.wait(running, timeout=PROGRESS_EVERY_S, return_when=cf.FIRST_COMPLETED)
                frames.update(_drain(getattr(pool, "progress", None)))
                if frames and self.opts.progress:  # the jobs' frame counts as they go (local workers)
                    bar.set_postfix_str(_status(finished, len(tasks), self.summary.failed, frames, running))
                broken = False
                for future in done:
                    task, _ = running.pop(future)
                    result, died = _result_of(future, task)
                    broken |= died
                    self._record(task, result)
                    finished += 1
                    frames.pop(task.output, None)
                    bar.update(0 if task.verify_only else _size(task.source))
                    bar.set_postfix_str(_status(finished, len(tasks), self.summary.failed, frames, running))
                if broken:  # the jobs still in `running` died with it: the next waits report them
                    pool.restart()
            pool.close()
        except BaseException:
            # Ctrl-C, SIGTERM: stop the workers (they remove their temporaries); their files go back to pending.
            pool.kill()
            for task, _ in running.values():
                if not task.verify_only:
                    self.state.update(self._rel(task), status="pending")
            raise
        finally:
            bar.close()

    def _pool(self):
        from tokcodec.batch.executors import LocalPool, RayPool

        if self.opts.ray:
            return RayPool(self.opts.ray, self.opts.jobs, self.opts.device)
        return LocalPool(self.opts.jobs or 1, self.opts.device)

    def _memory_need(self, task: FileTask) -> int:
        """Bytes coding one GOP of this file will take (0 when unknown: the job finds out itself)."""
        if task.verify_only:
            return 0
        try:
            if task.mode == "decode" or task.mode == "tokens" and _is_container(task.source):
                from tokcodec.codec.container import ContainerReader

                with ContainerReader(task.source, recover=True) as reader:
                    h = reader.header
                prior = 0  # mode 1: the token prior runs first, then the tokenizer: the larger counts
                if h.entropy_mode == 1:
                    from tokcodec.codec.entropy import prior_memory_bytes
                    from tokcodec.zoo.priors import get_prior

                    prior = prior_memory_bytes(get_prior(h.mlm_name).config, h)
                if task.mode == "tokens":
                    return prior
                return max(
                    prior,
                    self._coding_bytes(task.model or h.model_name, min(h.gop_length, h.frame_count), h.width, h.height),
                )
            from tokcodec.codec.pipeline import coded_size
            from tokcodec.io import open_video

            with open_video(task.source) as reader:
                info = reader.info
            width, height = coded_size(info.width, info.height, self.entry.coding_scale)
            return self._coding_bytes(self.entry.name, min(task.gop, info.num_frames or task.gop), width, height)
        except (TokcodecError, OSError, ValueError):
            return 0

    def _coding_bytes(self, model_name: str, frames: int, width: int, height: int) -> int:
        model = self._memory_models.get(model_name)
        if model is None:
            # The estimate needs only the architecture: built on the meta device, no memory, no weights.
            import torch

            from tokcodec.models import build_tokenizer
            from tokcodec.zoo import get_entry

            with torch.device("meta"):
                model = self._memory_models[model_name] = build_tokenizer(get_entry(model_name).config)
        from tokcodec.codec.pipeline import gop_coding_bytes

        return gop_coding_bytes(model, frames, width, height)

    # -- bookkeeping -------------------------------------------------------------------------

    def _rel(self, task: FileTask) -> str:
        return Path(task.output).relative_to(self.dst).as_posix()

    def _record(self, task: FileTask, r: FileResult) -> None:
        rel = self._rel(task)
        for note in r.notes:
            self.summary.notes.append({"source": task.source, "note": note})
        if r.error is not None:
            self.state.finish(
                rel,
                status="failed",
                error=r.error + (f"\n{r.detail}" if r.detail else ""),
                verified=r.verified,
                seconds=r.seconds,
            )
            self.summary.failed += 1
            self.summary.failures.append({"source": task.source, "error": r.error})
            return
        if task.verify_only:
            self.state.update(rel, verified=r.verified)
            self._skip(*self._checked_sizes[rel])
            return
        outputs = {Path(p).relative_to(self.dst).as_posix(): n for p, n in r.outputs.items()}
        out_size = sum(outputs.values())
        self.state.finish(
            rel,
            status="done",
            src_size=r.src_size,
            src_mtime_ns=r.src_mtime_ns,
            src_sha256=r.src_sha256,
            out_size=out_size,
            outputs=outputs,
            options_hash=self.options_hash,
            model_hash=r.model_hash,
            frames=r.frames,
            seconds=r.seconds,
            verified=r.verified,
            notes=r.notes or None,
        )
        self.summary.done += 1
        self._count_bytes(r.src_size, out_size)

    def _skip(self, bytes_in: int | None, bytes_out: int | None) -> None:
        self.summary.skipped += 1
        self._count_bytes(bytes_in, bytes_out)

    def _count_bytes(self, bytes_in: int | None, bytes_out: int | None) -> None:
        self.summary.bytes_in += bytes_in or 0
        self.summary.bytes_out += bytes_out or 0


def _result_of(future: cf.Future, task: FileTask) -> tuple[FileResult, bool]:
    """The job's result, or a failed one when the worker itself died; and whether the pool broke."""
    try:
        return future.result(), False
    except (cf.process.BrokenProcessPool, cf.CancelledError) as e:
        return _died(task), isinstance(e, cf.process.BrokenProcessPool)
    except Exception as e:  # noqa: BLE001 - a Ray worker crash, a result that did not come back
        return FileResult(
            task.output,
            error=f"worker failed: {type(e).__name__}: {str(e).splitlines()[0]}"
            if str(e)
            else f"worker failed: {type(e).__name__}",
        ), False


def _died(task: FileTask) -> FileResult:
    return FileResult(
        task.output,
        error="the worker process died while coding it (killed, out of memory, "
        "or a crash in a decoder); run again to retry",
    )


def _is_container(path) -> bool:
    return str(path).lower().endswith(".tkc")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _replace(task: FileTask, **changes) -> FileTask:
    import dataclasses

    return dataclasses.replace(task, **changes)


PROGRESS_EVERY_S = 0.5  # how often the progress line takes the jobs' frame counts


def _drain(queue) -> dict[str, tuple[int, int | None]]:
    """The latest (frames done, total) per output that the workers reported since the last call."""
    latest: dict[str, tuple[int, int | None]] = {}
    while queue is not None:
        try:
            output, done, total = queue.get_nowait()
        except Exception:  # noqa: BLE001 - queue.Empty, or a queue the pool closed: nothing more now
            break
        latest[output] = (done, total)
    return latest


def _status(finished: int, count: int, failed: int, frames: dict, running: dict) -> str:
    """'3/10 files, 1 failed; a.mp4 120/280 frames': the files, and the frames of the jobs under way."""
    text = f"{finished}/{count} files" + (f", {failed} failed" if failed else "")
    live = {t.output for t, _ in running.values()}
    jobs = [
        f"{Path(output).name} {done}/{total if total else '?'} frames"
        for output, (done, total) in frames.items()
        if output in live
    ]
    return text + ("; " + ", ".join(jobs) if jobs else "")
