"""tokcodec as a benchmarked codec: one curve per entropy mode, one point per shipped model.

The rate of tokcodec is set by the model (18-bit tokens on a 4x8x8 latent grid,
`1 + 4k` frames per GOP), so its rate points are the shipped models of the zoo,
and the entropy modes (0: bit-packed tokens, 1: MLM range coding) give one
curve each. bpp is the size of the `.tkc` file, container header, chunk headers,
index and footer included.

Two backends, swappable behind `TokcodecBackend`:
- "library": `tokcodec.zoo.load_model` once per worker, then
  `tokcodec.codec.pipeline` encode / decode in-process (the model load is not
  timed, as an encoder's start-up is not);
- "cli": `tokcodec encode` / `tokcodec decode` in a subprocess, reference frames
  handed over as a lossless PNG folder (timing then includes Python start-up
  and the model load).
"auto" takes the library when `tokcodec.codec.pipeline` imports, else the CLI.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokcodec.errors import ModelError

MODES = {0: "bit-packed", 1: "MLM range coded"}


@dataclass(frozen=True)
class TokcodecSpec:
    """A tokcodec curve: one entropy mode over rate points = models x GOP lengths.

    A GOP of None is the whole clip as one GOP (the largest 1 + 4k <= frames):
    one intra frame per clip, as the anchors have. Shorter GOPs cost more bits
    (each GOP starts with an image-like latent frame) and are extra rate points.
    """

    name: str
    mode: int
    models: tuple[str, ...]
    gops: tuple[int | None, ...] = (None,)
    backend: str = "auto"
    description: str = ""

    @property
    def points(self) -> list[tuple[str, str, int | None]]:
        """(label, model, gop) per rate point; the label is the model name, plus -g<N> with several GOPs."""
        many = len(self.gops) > 1
        return [((f"{m}-g{g or 'clip'}" if many else m), m, g) for m in self.models for g in self.gops]

    def to_dict(self) -> dict:
        return {"name": self.name, "family": "tokcodec", "mode": self.mode, "models": list(self.models),
                "gops": list(self.gops), "backend": self.backend, "description": self.description}


def parse_gops(value) -> tuple[int | None, ...]:
    """Config "gop": null | N | [null, 17, 9] -> a tuple (None = whole clip)."""
    if isinstance(value, (list, tuple)):
        vals = tuple(None if v in (None, "clip", 0) else int(v) for v in value)
        return vals or (None,)
    return (None if value in (None, "clip", 0) else int(value),)


def shipped_models() -> list[str]:
    try:
        from tokcodec.zoo import list_models
    except ImportError:
        return []
    return list_models()


def resolve_models(models) -> tuple[str, ...]:
    """"all" (or None) -> every shipped model; a list stays as it is."""
    if models in (None, "all", ["all"]):
        found = shipped_models()
        if not found:
            raise ModelError("no tokcodec model is shipped yet (tokcodec/zoo/registry.json has none)")
        return tuple(found)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    return tuple(models)


def gop_for(gop: int | None, num_frames: int, temporal_stride: int = 4) -> int:
    """The GOP length used for a clip: `gop`, or the whole clip as one GOP of 1 + s*k frames."""
    if gop:
        return gop
    return 1 + temporal_stride * max(0, (num_frames - 1) // temporal_stride)


def _pipeline():
    try:
        from tokcodec.codec import pipeline
    except ImportError:
        return None
    return pipeline


def choose_backend(backend: str) -> str:
    if backend == "auto":
        p = _pipeline()
        return "library" if p is not None and _encode_fn(p) and _decode_fn(p) else "cli"
    if backend not in ("library", "cli"):
        raise ValueError(f"unknown tokcodec backend {backend!r}")
    return backend


def _encode_fn(pipeline):
    """The pipeline's in-memory encode: `encode_frames` (the planned name) or `encode_video` (a reader)."""
    return getattr(pipeline, "encode_frames", None) or getattr(pipeline, "encode_video", None)


def _decode_fn(pipeline):
    """The pipeline's in-memory decode: `decode_file(path, ...)` or `decode_frames(ContainerReader, ...)`."""
    return getattr(pipeline, "decode_file", None) or getattr(pipeline, "decode_frames", None)


def _frames_reader(frames: np.ndarray, fps: float):
    """In-memory frames as a tokcodec.io VideoReader (what `encode_video` reads)."""
    from fractions import Fraction

    from tokcodec.io import VideoInfo, VideoReader
    from tokcodec.io.colour import BT709_LIMITED

    h, w = frames.shape[1:3]
    info = VideoInfo(w, h, Fraction(fps).limit_denominator(1001), len(frames), BT709_LIMITED)
    return VideoReader(Path("<benchmark reference>"), info, (np.ascontiguousarray(f) for f in frames),
                       lambda: None)


def available_modes(backend: str = "auto") -> set[int]:
    """Entropy modes this tokcodec can write: 0 always; others when the encoder takes a mode argument."""
    if choose_backend(backend) == "cli":
        return {0, 1}  # the CLI says for itself (an error names the missing option)
    fn = _encode_fn(_pipeline())
    return {0, 1} if _mode_kwarg(fn) else {0}


def _bind(fn, values: dict) -> dict:
    """Keyword arguments for `fn` by parameter name (the pipeline's signatures are matched, not assumed)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in values:
            out[name] = values[name]
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ModelError(f"tokcodec.codec.pipeline.{fn.__name__} takes an argument {name!r} the benchmark "
                             "does not know")
    return out


def _mode_kwarg(fn) -> str | None:
    params = inspect.signature(fn).parameters
    for name in ("mode", "entropy_mode", "entropy"):
        if name in params:
            return name
    return None


class TokcodecBackend:
    """Encode / decode RGB clips with tokcodec; models are loaded once per process."""

    def __init__(self, backend: str = "auto", device: str = "cpu", threads: int = 1):
        self.backend = choose_backend(backend)
        self.device = device
        self.threads = threads
        self._models: dict[str, tuple] = {}

    # -- library --------------------------------------------------------------------------
    def _model(self, name: str):
        if name not in self._models:
            from tokcodec.zoo import load_model

            self._models[name] = load_model(name, self.device)
        return self._models[name]

    def encode(self, frames: np.ndarray, fps: float, model: str, mode: int, gop: int, out_path: str) -> tuple[float, float, str]:
        """Encode RGB frames to `out_path`; (wall s, CPU s, a description of the call)."""
        if self.backend == "library":
            import torch

            torch.set_num_threads(self.threads)
            pipeline = _pipeline()
            m, entry = self._model(model)
            fn = _encode_fn(pipeline)
            key = _mode_kwarg(fn)
            kwargs = {key: mode} if key else {}
            if not key and mode != 0:
                raise ModelError(f"tokcodec.codec.pipeline.{fn.__name__} has no entropy mode argument yet "
                                 f"(mode {mode} unavailable)")
            reader = _frames_reader(frames, fps)
            values = {"frames": reader, "reader": reader, "info": reader.info, "out": out_path,
                      "out_path": out_path, "output": out_path, "dest": out_path, "path": out_path, "model": m,
                      "tokenizer": m, "entry": entry, "gop": gop, "device": self.device, "force": True,
                      "quiet": True, "fps": fps, **kwargs}
            call_kwargs = _bind(fn, values)
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.inference_mode():
                fn(**call_kwargs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            call = f"tokcodec.codec.pipeline.{fn.__name__}(..., model={model!r}, gop={gop}, " \
                   f"{key or 'mode'}={mode}, device={self.device!r})"
            return wall, cpu, call
        with tempfile.TemporaryDirectory(prefix="tkc-bench-") as tmp:
            folder = _write_png_folder(frames, Path(tmp) / "in")
            cmd = _cli() + ["encode", str(folder), "-o", str(out_path), "--model", model, "--gop", str(gop),
                            "--force", "--quiet"]
            if mode != 0:
                cmd += ["--entropy", str(mode)]
            wall, cpu = _run(cmd, self.threads, fps)
            return wall, cpu, " ".join(["tokcodec"] + cmd[len(_cli()):]).replace(str(folder), "IN_PNGS/")

    def decode(self, path: str, model: str) -> tuple[np.ndarray, float, float]:
        """Decode a .tkc file; (RGB frames (T, H, W, 3), wall s, CPU s)."""
        if self.backend == "library":
            import torch

            torch.set_num_threads(self.threads)
            pipeline = _pipeline()
            fn = _decode_fn(pipeline)
            m, _ = self._model(model)
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.inference_mode():
                if fn.__name__ == "decode_frames":  # decode_frames(ContainerReader, model, device, ...)
                    from tokcodec.codec.container import ContainerReader

                    with ContainerReader(str(path)) as reader:
                        frames = list(fn(**_bind(fn, {"reader": reader, "model": m, "tokenizer": m,
                                                       "device": self.device, "quiet": True})))
                else:  # decode_file(path, model, device)
                    frames = list(fn(**_bind(fn, {"path": str(path), "src": str(path), "model": m,
                                                   "tokenizer": m, "device": self.device, "quiet": True})))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            return np.stack([np.asarray(f) for f in frames]), wall, cpu
        with tempfile.TemporaryDirectory(prefix="tkc-bench-") as tmp:
            out = Path(tmp) / "out"
            cmd = _cli() + ["decode", str(path), "-o", str(out) + "/", "--force", "--quiet"]
            wall, cpu = _run(cmd, self.threads)
            from tokcodec.io import read_frames

            frames, _ = read_frames(out)
            return np.stack(frames), wall, cpu


def _cli() -> list[str]:
    exe = shutil.which("tokcodec")
    return [exe] if exe else [sys.executable, "-m", "tokcodec_cli.main"]


def _run(cmd: list[str], threads: int, fps: float | None = None) -> tuple[float, float]:
    from tokcodec.bench.anchors import run_measured

    env_threads = str(threads)
    old = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(OMP_NUM_THREADS=env_threads, MKL_NUM_THREADS=env_threads)
    try:
        wall, cpu, _ = run_measured(cmd)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return wall, cpu


def _write_png_folder(frames: np.ndarray, folder: Path) -> Path:
    """Frames as a lossless PNG folder (tokcodec.io's PNG writer), the CLI's input."""
    from tokcodec.io import open_writer

    h, w = frames.shape[1:3]
    with open_writer(str(folder) + "/", w, h, 25) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f))
    return folder


def describe(spec: TokcodecSpec, backend: str, device: str, threads: int) -> dict:
    import torch

    cards = {}
    try:
        from tokcodec.zoo import get_entry

        for m in spec.models:
            e = get_entry(m)
            cards[m] = {"config": e.config.to_dict() if hasattr(e.config, "to_dict") else str(e.config),
                        "sha256": list(e.sha256), "card": {k: v for k, v in e.card.items() if k != "metrics"}}
    except Exception as e:  # noqa: BLE001 - a description must not fail a run
        cards = {"error": str(e)}
    return {
        "family": "tokcodec",
        "entropy_mode": spec.mode,
        "entropy_mode_name": MODES.get(spec.mode, "?"),
        "models": list(spec.models),
        "gops": [g or "whole clip (1 + 4k frames)" for g in spec.gops],
        "backend": choose_backend(backend),
        "device": device,
        "torch": torch.__version__,
        "threads": threads,
        "model_info": cards,
    }
