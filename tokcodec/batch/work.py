"""The per-file job: what a worker process (or a Ray task) does with one source file.

`process_file(FileTask) -> FileResult` is the one function both executors run.
Task and result are plain picklable data; the function never opens the batch
database (the driver alone writes it) and never raises for a problem with
the file: the result says what went wrong. Only KeyboardInterrupt and
`Terminated` (SIGTERM, SIGHUP) escape, after the outputs' temporaries are gone.

A source is only ever read: it is hashed first, and if its size or mtime has
changed by the time the outputs are ready, they are thrown away.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tokcodec.errors import ContainerError, InputError, ModelError, TokcodecError, is_out_of_memory
from tokcodec.io.atomic import atomic_output
from tokcodec.batch.outputs import OutputGroup
from tokcodec.batch.walk import FRAME_PATTERN
from tokcodec.precision import use_precision
from tokcodec.zoo import use_zoo


@dataclass(frozen=True)
class FileTask:
    mode: str  # "encode", "decode" or "tokens"
    source: str  # absolute path
    output: str  # absolute path of the main output
    model: str | None = None  # zoo entry for encode and tokens; decode: --model instead of the file's
    model_hash: str | None = None  # the driver's sha256 of that model's weights: other weights are refused
    gop: int = 17
    entropy: str | None = None  # encode: "mlm" (strict), "raw", or None (mlm where the model has a prior)
    to: str | None = None  # decode: "mp4", "mkv" or "png" (output_name chose the name already)
    decoder: str | None = None  # decode: a decoder-only zoo entry instead of the file's model's decoder
    device: str = "cpu"
    threads: int | None = None  # torch threads for this job
    force: bool = False  # may replace an existing output (the database recorded it, or --force)
    verify: bool = False
    verify_only: bool = False  # the output is done already: only check it
    zoo: str | None = None  # the driver's zoo (tokcodec.zoo.use_zoo), for workers in other processes
    precision: str | None = None  # the driver's (tokcodec.precision.use_precision), likewise; None: the default


@dataclass
class FileResult:
    output: str
    error: str | None = None  # None: done
    detail: str | None = None  # a traceback, for errors that are bugs
    src_size: int | None = None
    src_mtime_ns: int | None = None
    src_sha256: str | None = None
    outputs: dict[str, int] = field(default_factory=dict)  # absolute path -> bytes
    frames: int | None = None
    model_hash: str | None = None
    verified: str | None = None  # None: not checked; "ok"; or the problem
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class VerifyFailed(TokcodecError):
    pass


# Where a job's frame counts go (set in pool workers by executors: a queue to the driver's progress
# line); None elsewhere (Ray, tests): then jobs report nothing but their result.
PROGRESS_SINK = None
PROGRESS_EVERY_S = 0.5


def _progress(task: FileTask):
    """A WorkBar progress callback that sends (output, frames done, total) to PROGRESS_SINK, at most
    every PROGRESS_EVERY_S seconds, and always the first time (a job shows it started)."""
    if PROGRESS_SINK is None:
        return None
    last = [0.0]

    def report(done: float, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or last[0] == 0.0:
            last[0] = now
            try:
                PROGRESS_SINK.put_nowait((task.output, int(done), total))
            except Exception:  # noqa: BLE001 - a full or closed queue costs a progress line, never the job
                pass

    return report


def process_file(task: FileTask) -> FileResult:
    """Code (or check) one file; every problem ends up in the result, not in an exception."""
    t0 = time.perf_counter()
    result = FileResult(task.output)
    try:
        if task.zoo:
            use_zoo(task.zoo)
        use_precision(task.precision)
        source = Path(task.source)
        before = source_stamp(source)
        result.src_size, result.src_mtime_ns = before
        if task.verify_only:
            _verify_done(task, result)
        else:
            result.src_sha256 = sha256_file(source)

            def unchanged() -> None:
                if source_stamp(source) != before:
                    raise InputError(f"{source} changed while it was being coded (run again)")

            with OutputGroup(task.force, before_commit=unchanged) as group:
                _JOBS[task.mode](task, result, group)
            result.outputs = {str(p): n for p, n in group.sizes().items()}
            if task.verify:
                result.verified = "ok"
    except VerifyFailed as e:
        result.verified = str(e)
        result.error = f"--verify: {e}"
    except TokcodecError as e:
        result.error = str(e)
    except OSError as e:
        result.error = f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}"
    except Exception as e:
        if is_out_of_memory(e):  # torch's failed allocation is a RuntimeError, not MemoryError
            result.error = "out of memory (try fewer --jobs or a shorter --gop)"
        else:  # a bug: one line for the list, the traceback for the database
            result.error = f"unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            result.detail = traceback.format_exc(limit=8)
    result.seconds = time.perf_counter() - t0
    return result


def source_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns): what tells a source changed, before its hash does."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# --- the three jobs ----------------------------------------------------------------------------


def _encode(task: FileTask, result: FileResult, group: OutputGroup) -> None:
    from tokcodec.batch import streams
    from tokcodec.codec.pipeline import encode_video
    from tokcodec.io import open_video

    source, output = Path(task.source), Path(task.output)
    tokenizer, entry, coder, result.model_hash = _setup(task)
    main = group.add(output)  # first: committed last
    sidecar = streams.probe(source)
    _keep_side_streams(source, output, sidecar, group, result)
    sidecar_out = group.add(output.with_name(output.name + ".json"))
    with open(main.tmp, "wb") as f, open_video(source) as reader:
        stats = encode_video(
            reader,
            reader.info,
            f,
            tokenizer,
            entry,
            gop=task.gop,
            device=task.device,
            quiet=True,
            coder=coder,
            progress=_progress(task),
        )
    # What the frames lost or had changed (readers that turn frames upright say so), and a cut source.
    result.notes += list(getattr(reader.info, "notes", []))
    if getattr(reader, "ended_early", None):
        result.notes.append(reader.ended_early)
    sidecar["video"]["rotation_applied"] = getattr(reader.info, "rotation", 0)
    result.frames = stats.frames
    sidecar["encoded"] = {
        "frames": stats.frames,
        "width": stats.width,
        "height": stats.height,
        "model": entry.name,
        "weights_sha256": result.model_hash,
        "gop": task.gop,
        "entropy_mode": coder.mode,
        "prior": coder.prior_name or None,
    }
    streams.write_sidecar(sidecar_out.tmp, sidecar)
    if task.verify:
        from tokcodec.batch.verify import check_container

        _check(check_container(main.tmp, _source_frames(sidecar, stats.frames), (stats.width, stats.height)))


def _keep_side_streams(source: Path, output: Path, sidecar: dict, group: OutputGroup, result: FileResult) -> None:
    """Scan the source; copy its audio and subtitles into a side file (source format, else Matroska)."""
    import av

    from tokcodec.batch import streams

    if not streams.side_streams(sidecar):
        streams.scan(source, sidecar, None)
    else:
        problems = []
        for suffix in streams.side_suffixes(source):
            side = group.add(output.with_name(f"{output.name}.side{suffix}"))
            try:
                streams.scan(source, sidecar, side.tmp)
                sidecar["side_file"] = side.path.name
                break
            except (av.FFmpegError, OSError, ValueError) as e:
                group.drop(side)
                if streams.is_disk_error(e):  # another format would not help
                    raise OSError(e.errno, streams.reason(e), str(side.path)) from None
                problems.append(f"{suffix}: {streams.reason(e)}")
        else:
            raise InputError(
                f"{source}: its audio/subtitle streams cannot be copied ({'; '.join(problems)}); "
                "not coded, so that nothing is lost"
            )
    result.notes += streams.notes(sidecar)


def _decode(task: FileTask, result: FileResult, group: OutputGroup) -> None:
    from tokcodec.batch import streams
    from tokcodec.io.video import is_image_path

    source, output = Path(task.source), Path(task.output)
    with _open_container(source) as reader:
        header = reader.header
    result.model_hash, result.frames = header.weights_hash.hex(), header.frame_count
    sidecar = streams.read_sidecar(source)
    side = source.with_name(sidecar["side_file"]) if sidecar and sidecar.get("side_file") else None
    if side is not None and not side.is_file():
        raise InputError(f"{side} is missing: {source.name}'s audio/subtitles would be lost")
    folder = task.to == "png" and not is_image_path(output)
    main = group.add(output, folder_of=FRAME_PATTERN if folder else None)
    if output.suffix.lower() in (".mp4", ".mkv") and streams.needs_remux(sidecar):
        # The frames go to a temporary first, then join the kept streams in the output.
        frames = atomic_output(output.with_name(f"{output.name}.frames{output.suffix}"), force=True)
        try:
            _decode_frames(task, source, frames.tmp)
            streams.remux(frames.tmp, side, sidecar, main.tmp)
        finally:
            frames.discard()
    else:
        _decode_frames(task, source, f"{main.tmp}/" if folder else main.tmp)
        if side is not None:  # a PNG folder or an image cannot hold sound: it goes beside
            copy = group.add(output.with_name(f"{output.name}.side{side.suffix}"))
            shutil.copyfile(side, copy.tmp)
            result.notes.append(f"audio/subtitles kept beside the frames in {copy.path.name}")
        if streams.display_matrix(sidecar):
            result.notes.append("display rotation not applied to the frames (recorded in the .json sidecar)")
    if task.verify:
        from tokcodec.batch.verify import check_video

        muxed = side is not None and output.suffix.lower() in (".mp4", ".mkv")
        _check(check_video(main.tmp, header, streams.kept_packets(sidecar) if muxed else None))


def _decode_frames(task: FileTask, source: Path, out) -> None:
    from tokcodec.codec.pipeline import decode_container

    _set_process(task)
    _, lost = decode_container(
        source,
        out,
        device=task.device,
        force=True,
        quiet=True,
        model_name=task.model,
        on_damage="stop",
        decoder=task.decoder,
        progress=_progress(task),
    )
    if lost:
        raise ContainerError(
            f"{source}: damaged from GOP {lost[0].gop} ({lost[0].reason}); `tokcodec decode` recovers the intact GOPs"
        )


def _tokens(task: FileTask, result: FileResult, group: OutputGroup) -> None:
    from tokcodec.codec.tokens import export_tokens, is_container

    source = Path(task.source)
    loaded = None
    if not is_container(source):
        tokenizer, entry, _, result.model_hash = _setup(task)
        loaded = (tokenizer, entry)
    main = group.add(Path(task.output))
    with open(main.tmp, "wb") as f:
        meta = export_tokens(source, f, gop=task.gop, device=task.device, loaded=loaded)
    result.frames = meta["frames"]
    if task.verify:
        from tokcodec.batch.verify import check_tokens

        _check(check_tokens(main.tmp, None))


_JOBS = {"encode": _encode, "decode": _decode, "tokens": _tokens}


# --- checking an output that is already done ---------------------------------------------------


def _verify_done(task: FileTask, result: FileResult) -> None:
    from tokcodec.batch import streams, verify

    source, output = Path(task.source), Path(task.output)
    if task.mode == "encode":
        sidecar = streams.read_sidecar(output) or {}
        encoded = sidecar.get("encoded", {})
        size = (encoded.get("width"), encoded.get("height"))
        problem = verify.check_container(output, _source_frames(sidecar, encoded.get("frames")), size)
    elif task.mode == "decode":
        with _open_container(source) as reader:
            header = reader.header
        problem = verify.check_video(output, header)
    else:
        problem = verify.check_tokens(output, None)
    result.verified = problem or "ok"
    if problem:
        result.error = f"--verify: {problem}"


def _source_frames(sidecar: dict, decoded: int | None) -> int | None:
    """The source's frame count: its video packets (what its container holds), else what was decoded."""
    video = sidecar.get("video") or {}
    return video.get("frames") or decoded


def _check(problem: str | None) -> None:
    if problem:
        raise VerifyFailed(problem)


def _open_container(path: Path):
    from tokcodec.codec.container import ContainerReader

    return ContainerReader(path)


# --- models, loaded once per worker process ----------------------------------------------------


def _setup(task: FileTask):
    """(tokenizer, entry, entropy coder, weights sha256 hex) for the task's model and --entropy, loaded once
    per worker process (codec.pipeline.encoding_setup); refused when this process's zoo has other weights
    under that name than the driver's."""
    from tokcodec.codec.pipeline import encoding_setup

    _set_process(task)
    tokenizer, entry, coder = encoding_setup(task.model or "default", task.entropy, device=task.device)
    digest = entry.weights_hash.hex()
    if task.model_hash and digest != task.model_hash:
        raise ModelError(
            f"model '{entry.name}' here has other weights than the driver's "
            f"(sha256 {digest[:12]}..., expected {task.model_hash[:12]}...)"
        )
    return tokenizer, entry, coder, digest


def _set_process(task: FileTask) -> None:
    """The worker process's settings: freed tensor memory kept for reuse (allocator.py), the task's threads."""
    from ..allocator import keep_freed_memory

    keep_freed_memory()
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
