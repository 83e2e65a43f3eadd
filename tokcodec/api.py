"""The public Python API: what the command line, the transcoder, the benchmark and the tools call.

    import tokcodec
    result = tokcodec.encode("clip.mp4", "clip.tkc")           # -> EncodeResult
    tokcodec.decode("clip.tkc", "clip.mkv")                     # -> DecodeResult
    with tokcodec.open("clip.tkc") as f:                        # -> TkcFile
        print(f.header.frame_count, f.tokens(0).shape)
        for frame in f.frames():                                # (H, W, 3) uint8, in order
            ...

Each call is one step of the way (io -> models -> codec on encode, back on
decode) and sets everything up itself: the model from the zoo, the entropy
coder (mode 1 under the tokenizer's prior where the zoo has one), the rate
ladder for `quality` / `bpp`. Errors are tokcodec.errors.TokcodecError with a
one-line message (the command line prints exactly that).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from .batch.walk import DECODE_TARGETS as DECODE_TARGETS  # what transcode --decode writes
from .bench.command import BenchOutcome as BenchOutcome, run_bench as run_bench
from .codec import ON_DAMAGE as ON_DAMAGE  # what decode does with a damaged or missing GOP (the first: the default)
from . import __all__ as PACKAGE_NAMES
from .errors import InputError, TokcodecError
from .text import batch_text as batch_text, info_text as info_text, models_text as models_text
from .text import bench_text as bench_text, damage_lines as damage_lines, decode_text as decode_text
from .text import encode_text as encode_text, eval_text as eval_text, safe_text as safe_text
from .text import tokens_text as tokens_text
from .threads import choose_wait_policy as choose_wait_policy
from .allocator import keep_freed_memory as keep_freed_memory
from .precision import bf16_supported as bf16_supported, selected_precision as selected_precision
from .precision import use_precision as use_precision
from .zoo import use_zoo as use_zoo
from .train.commands import export_prior as export_prior, export_tokenizer as export_tokenizer
from .train.commands import train_prior as train_prior, train_tokenizer as train_tokenizer

DEFAULT_GOP = 17

# what the command line may import (.importlinter): the package's names (tokcodec/__init__.py), and two
# whose names there are modules of the package (tokcodec.models, tokcodec.evaluate)
__all__ = [*PACKAGE_NAMES, "models", "evaluate", "decoders", "encoder", "BenchOutcome", "DEFAULT_GOP"]
__all__ += ["encode_text", "decode_text", "damage_lines", "eval_text", "tokens_text", "bench_text", "default_rung_text"]
__all__ += [
    "bf16_supported",
    "choose_wait_policy",
    "keep_freed_memory",
    "selected_precision",
    "use_precision",
    "use_zoo",
]


@dataclass
class EncodeResult:
    output: str
    frames: int
    width: int
    height: int
    bytes: int
    bpp: float
    fps: float  # frames encoded per second of wall time
    model: str  # the zoo entry that coded it (a ladder rung under --quality / --bpp)
    quality: int | None  # its rung on the ladder (None: not a ladder model)
    entropy_mode: int
    prior: str | None
    device: str
    rotation: int  # degrees the source's frames were turned to be coded upright
    rate: dict | None  # with `bpp`: {"requested_bpp", "achieved_bpp", "met"}
    warnings: list[str] = field(default_factory=list)  # what the file does not keep, a target not met
    ended_early: str | None = None  # the source ended before its announced frames (why)

    def summary(self) -> dict:
        """`tokcodec encode --json`'s object."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("fps", "ended_early")}
        return d | {"bpp": round(self.bpp, 6), "encode_fps": round(self.fps, 2)}


@dataclass
class DecodeResult:
    output: str
    frames: int
    width: int
    height: int
    fps: float
    device: str
    lost: list = field(default_factory=list)  # codec.pipeline.LostGop per damaged or missing GOP

    def summary(self) -> dict:
        """`tokcodec decode --json`'s object."""
        lost = [
            {"gop": g.gop, "frames": [g.first_frame, g.first_frame + g.frames - 1], "reason": g.reason}
            for g in self.lost
        ]
        d = {"output": self.output, "frames": self.frames, "width": self.width, "height": self.height}
        return d | {"decode_fps": round(self.fps, 2), "device": self.device, "lost": lost}


def default_rung_text() -> str:
    """'the default model, NAME: rung K of N' (for help texts; reads the registry's JSON, not torch)."""
    from .text import default_rung_text as text
    from .zoo import registry_path

    return text(registry_path())


def resolve_device(device: str = "auto") -> str:
    """ "auto" -> "cuda" where torch sees a GPU, else "cpu"; "cuda" without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TokcodecError("--device cuda: no CUDA device available")
    return device


def load_model(name: str = "default", device: str = "cpu"):
    """(tokenizer, zoo entry) of a zoo model name (see `tokcodec models`), weights hash-checked."""
    from .zoo import load_model as zoo_load

    return zoo_load(name, device=device)


def model_name(model: str | None = None, quality: int | None = None) -> str:
    """The zoo entry that `model` or `quality` (a rung of the rate ladder) names; the default model when neither."""
    from .zoo import ladder_entry

    if model is not None and quality is not None:
        raise InputError("give at most one of model and quality")
    return ladder_entry(quality) if quality is not None else model or "default"


def encoder(
    name: str = "default",
    *,
    entropy: str | None = None,
    mlm_steps: int = 4,
    strict: bool | None = None,
    device: str = "cpu",
    prior: str | None = None,
):
    """(tokenizer, zoo entry, entropy coder) for encoding with zoo model `name`, loaded once per process
    (codec.pipeline.encoding_setup). `entropy`: "mlm" (mode 1 under the model's prior; the default, falling
    back to mode 0 where the zoo has none) or "raw" (mode 0). `strict` (default: entropy given as "mlm"):
    no prior is an error instead of a fallback. `prior`: another zoo prior of the model than its default."""
    from .codec.pipeline import encoding_setup

    return encoding_setup(name, entropy, mlm_steps, strict, device, prior)


def encode(
    src,
    dst: str | Path | BinaryIO,
    *,
    model: str | None = None,
    quality: int | None = None,
    bpp: float | None = None,
    gop: int = DEFAULT_GOP,
    max_frames: int | None = None,
    fps=None,
    entropy: str | None = None,
    mlm_steps: int = 4,
    prior: str | None = None,
    colour_offset: bool = True,
    device: str = "cpu",
    force: bool = False,
    quiet: bool = True,
    note: Callable[[str], None] | None = None,
) -> EncodeResult:
    """Encode a video file, frame folder or image `src` into a .tkc container `dst`.

    The rate is the model's: `quality` picks a rung of the rate ladder, `bpp` the highest rung whose rate
    fits the target. In entropy mode 1 the rate depends on the content, so `bpp` estimates, encodes, and
    steps down a rung when the file came out above the target (`note` hears of each retry); a target no
    rung meets is in the result (`rate`, `warnings`), not an error. `prior` names a zoo prior of the model
    other than its default (`tokcodec models` lists them). `dst` is written atomically: an
    existing file is replaced only with `force`.
    """
    from .codec.entropy import DEFAULT_ENTROPY, payload_factor
    from .codec.pipeline import encode_video, rungs_for_bpp
    from .io import open_video
    from .zoo import get_entry, ladder

    if sum(v is not None for v in (model, quality, bpp)) > 1:
        raise InputError("give at most one of model, quality and bpp")
    if isinstance(dst, (str, Path)) and Path(dst).exists() and not force:
        raise TokcodecError(f"{dst} exists (use --force to overwrite)")
    attempts = [model_name(model, quality)]
    if bpp is not None:  # mode 0: the exact rate picks the rung; mode 1: an estimate, checked after
        with open_video(src, fps=fps) as reader:
            frames = min((n for n in (reader.info.num_frames, max_frames) if n), default=None)
            info = dataclasses.replace(reader.info, num_frames=frames)
        factor = payload_factor(entropy or DEFAULT_ENTROPY, get_entry("default").weights_hash)
        attempts = [name for name, _ in rungs_for_bpp(bpp, info, gop, factor)]
    for i, name in enumerate(attempts):
        with open_video(src, fps=fps) as reader:
            tokenizer, entry, coder = encoder(name, entropy=entropy, mlm_steps=mlm_steps, device=device, prior=prior)
            # a second try replaces the file this call just wrote
            stats = encode_video(
                reader,
                reader.info,
                dst,
                tokenizer,
                entry,
                gop=gop,
                device=device,
                force=force or i > 0,
                quiet=quiet,
                max_frames=max_frames,
                coder=coder,
                fix_colour=colour_offset,
            )
        if bpp is None or stats.bpp <= bpp or i == len(attempts) - 1:
            break
        if note is not None:
            note(f"{name} gave {stats.bpp:.4f} bpp, above {bpp}: trying {attempts[i + 1]}")
    warnings = list(reader.info.notes) + ([reader.ended_early] if reader.ended_early else [])
    rate = None
    if bpp is not None:
        rate = {"requested_bpp": bpp, "achieved_bpp": round(stats.bpp, 6), "met": stats.bpp <= bpp}
        if not rate["met"]:
            warnings.append(
                f"--bpp {bpp:g} cannot be met: the lowest rate this model reaches on this input is "
                f"{stats.bpp:.4f} bpp ({entry.name}); the file has that rate"
            )
    rung = ladder().index(entry.name) + 1 if entry.name in ladder() else None
    return EncodeResult(
        output=str(getattr(dst, "name", dst)),
        frames=stats.frames,
        width=stats.width,
        height=stats.height,
        bytes=stats.bytes,
        bpp=stats.bpp,
        fps=stats.fps,
        model=entry.name,
        quality=rung,
        entropy_mode=coder.mode,
        prior=coder.prior_name or None,
        device=device,
        rotation=reader.info.rotation,
        rate=rate,
        warnings=warnings,
        ended_early=reader.ended_early or None,
    )


def encode_frames(
    frames,
    info,
    dst: str | Path | BinaryIO,
    *,
    model: str = "default",
    entropy: str | None = None,
    mlm_steps: int = 4,
    prior: str | None = None,
    gop: int = DEFAULT_GOP,
    colour_offset: bool = True,
    device: str = "cpu",
    force: bool = False,
    quiet: bool = True,
):
    """Encode frames held in memory (an iterable of (H, W, 3) uint8 RGB; `info`: their io.VideoInfo) into
    `dst` with zoo model `model`; the same set-up as `encode`. Returns codec.pipeline.CodingStats."""
    from .codec.pipeline import encode_video

    tokenizer, entry, coder = encoder(model, entropy=entropy, mlm_steps=mlm_steps, device=device, prior=prior)
    return encode_video(
        frames,
        info,
        dst,
        tokenizer,
        entry,
        gop=gop,
        device=device,
        force=force,
        quiet=quiet,
        coder=coder,
        fix_colour=colour_offset,
    )


def decode(
    src: str | Path,
    dst: str | Path,
    *,
    model: str | None = None,
    decoder: str | None = None,
    on_damage: str = "freeze",
    crf: int | None = None,
    device: str = "cpu",
    force: bool = False,
    quiet: bool = True,
) -> DecodeResult:
    """Decode the .tkc `src` to `dst` (.mp4, .mkv, .y4m, a PNG folder, or one .png/.jpg for a one-frame
    file). `model`: decode with this zoo model instead of the one the file names; `decoder`: with this
    decoder-only zoo entry for the file's tokens (`describe(...)["decoders"]` lists them). A damaged or
    missing GOP is handled per `on_damage` ("freeze", "skip", "stop") and listed in `lost`. `device`
    "auto" is resolved after the header checks: a hostile file is refused before torch loads."""
    check_file(src)
    device = resolve_device(device)
    from .codec.pipeline import decode_container

    stats, lost = decode_container(
        src,
        dst,
        device=device,
        force=force,
        quiet=quiet,
        model_name=model,
        on_damage=on_damage,
        crf=crf,
        decoder=decoder,
    )
    return DecodeResult(
        output=str(dst),
        frames=stats.frames,
        width=stats.width,
        height=stats.height,
        fps=stats.fps,
        device=device,
        lost=list(lost),
    )


def check_file(path: str | Path) -> None:
    """Raise the refusals a .tkc header alone decides (SPEC errors 1-11: limits, the output and the prior
    work its bytes allow), without torch or a model: a hostile file costs a fraction of a second."""
    from .codec.container import ContainerReader

    with ContainerReader(path, recover=True):
        pass


class TkcFile:
    """A .tkc container opened for reading: its header, each GOP's tokens, and its frames.

    Tokens need no model (mode 1 needs the token prior the file names); frames need the tokenizer the
    file names (or `model`). Every CRC is checked as it is read.
    """

    def __init__(self, path: str | Path, *, model: str | None = None, decoder: str | None = None, device: str = "cpu"):
        from .codec.container import ContainerReader

        self.path = str(path)
        self._reader = ContainerReader(path, recover=True)
        self.header = self._reader.header
        self._model, self._decoder, self._device = model, decoder, device
        self._coder = None

    @property
    def num_gops(self) -> int:
        return self.header.num_gops

    def tokens(self, gop: int) -> np.ndarray:
        """GOP `gop`'s token grid, (T', H', W') int64."""
        if self._coder is None:
            from .codec.entropy import coder_for_header

            self._coder = coder_for_header(self.header)
        return self._reader.read_tokens(gop, unpack=self._coder.unpack)

    def frames(self) -> Iterator[np.ndarray]:
        """The decoded frames, (H, W, 3) uint8 at the display size, in order; a damaged GOP raises."""
        from .codec.pipeline import decode_frames, model_for

        tokenizer, _ = model_for(self.header, self._model, self._device, self._decoder)
        yield from decode_frames(self._reader, tokenizer, device=self._device, coder=self._coder)

    def describe(self) -> dict:
        """What `tokcodec info` shows: header fields, bpp, and every GOP with its CRCs checked."""
        return describe(self._reader, self.path)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "TkcFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open(
    path: str | Path,
    *,
    model: str | None = None,
    decoder: str | None = None,  # noqa: A001
    device: str = "cpu",
) -> TkcFile:
    """Open a .tkc container for reading (see TkcFile)."""
    return TkcFile(path, model=model, decoder=decoder, device=device)


def decoders(header) -> list[dict]:
    """The zoo's decoders for a file's tokens: its own model (when the zoo has those weights) and the
    decoder-only entries for them, each {"name", "kind": "model" | "decoder", "default": bool}."""
    from .zoo import all_in_zoo, model_weights_hash  # registry JSON and file hashes only: no torch for `info`

    found = []
    try:
        if model_weights_hash(header.model_name) == header.weights_hash:
            found.append({"name": header.model_name, "kind": "model"})
    except (TokcodecError, OSError):  # a registry entry without its files: not a decoder of this file
        pass
    found += [
        {"name": name, "kind": "decoder"}
        for name, d, _ in all_in_zoo("decoders")
        if d.get("base_sha256") == header.weights_hash.hex()
    ]
    for i, d in enumerate(found):
        d["default"] = i == 0
    return found


def describe(reader, path: str | Path) -> dict:
    """The facts of an open container (codec.container.ContainerReader) as `tokcodec info --json` prints
    them; each chunk is read, so its CRCs are checked ("ok", or "problem")."""
    from .codec.container import ENTROPY_MODES, ContainerError
    from .io.colour import colour_names

    h = reader.header
    size = Path(path).stat().st_size
    display_w, display_h = h.display_size  # bpp counts the pixels shown (SPEC 9)
    pixels = display_w * display_h * max(h.frame_count, 1)
    chunks = []
    for gop in range(h.num_gops):
        c, frames = reader.chunks[gop], h.gop_frames(gop)
        try:  # every CRC; a mode this decoder cannot decode: up to the payload CRC
            reader.read_tokens(gop) if h.entropy_mode == 0 else reader.read_payload(gop)
            problem = None
        except ContainerError as e:
            problem = str(e).removeprefix(f"{reader.name}: ")
        chunk_bytes = c.size if c is not None else 0
        tokens = math.prod(h.latent_shape(frames))
        offset = reader.colour_offset(gop) if problem is None else None
        chunks.append(
            {
                "gop": gop,
                "frames": frames,
                "bytes": chunk_bytes,
                "bpp": chunk_bytes * 8 / (display_w * display_h * frames),
                "bits_per_token": (c.payload_length * 8 / tokens) if c is not None else None,
                "colour_offset": [v / 4 for v in offset] if offset else None,  # 8-bit levels
                "ok": problem is None,
                **({"problem": problem} if problem else {}),
            }
        )
    found = [c for c in reader.chunks if c is not None]
    found_tokens = sum(math.prod(h.latent_shape(c.num_frames)) for c in found)
    return {
        "file": str(path),
        "bytes": size,
        "bpp": size * 8 / pixels,
        "width": display_w,
        "height": display_h,
        "coded_size": f"{h.width}x{h.height}",
        "frames": h.frame_count,
        "fps": f"{h.fps_num}/{h.fps_den}",
        "gop": h.gop_length,
        "model": h.model_name,
        "weights_sha256": h.weights_hash.hex(),
        "token_bits": h.token_bits,
        "bit_order": h.bit_order,
        "quantizer": (
            {"kind": h.quantizer, **({"levels": list(h.fsq_levels)} if h.fsq_levels else {})} if h.quantizer else None
        ),
        "strides": {"temporal": h.temporal_stride, "spatial": h.spatial_stride},
        "entropy_mode": h.entropy_mode,
        "entropy_mode_name": ENTROPY_MODES.get(h.entropy_mode, "unknown"),
        **({"prior": h.mlm_name, "prior_sha256": h.mlm_hash.hex()} if h.entropy_mode == 1 else {}),
        # payload bits per token over the chunks found (chunk headers excluded)
        "bits_per_token": (sum(c.payload_length for c in found) * 8 / found_tokens) if found_tokens else None,
        "colour": {
            "primaries": h.colour_primaries,
            "transfer": h.transfer_characteristics,
            "matrix": h.matrix_coefficients,
            "full_range": h.full_range,
            "names": list(colour_names(h.colour_primaries, h.transfer_characteristics, h.matrix_coefficients)),
        },
        "decoders": [d["name"] for d in decoders(h)],
        "index_ok": reader.index_ok,
        "chunks": chunks,
    }


def models(include_all: bool = False) -> dict:
    """What `tokcodec models` shows: the default model's rate ladder (each rung's measured rates in entropy
    mode 1, the default, as mean and range over the benchmark clips, beside mode 0's exact rate; PSNR and
    LPIPS, which the two modes share), its token prior and the decoders for its tokens; with
    `include_all`, the retired and experimental models too."""
    from .zoo import get_entry, ladder, list_models
    from .zoo.decoders import decoders_for
    from .zoo.priors import list_priors, prior_for

    rungs = ladder()
    default = get_entry("default")

    def describe_model(name: str) -> dict:
        entry = get_entry(name)
        prior = prior_for(entry.weights_hash)
        card = entry.card
        return {
            "name": name,
            "default": name == default.name,
            "quality": rungs.index(name) + 1 if name in rungs else None,
            "coding_scale": entry.coding_scale,
            "prior": prior.name if prior else None,
            # rungs are compared on one protocol (cards/ladder.md); other models on their own eval
            "mode0": card.get("ladder_metrics") or card.get("metrics", {}),
            "mode1": card.get("ladder_metrics_mode1"),
        }

    ladder_rows = [describe_model(name) for name in rungs]
    shown = set(rungs)
    ladder_hashes = {get_entry(r["name"]).weights_hash.hex() for r in ladder_rows}
    default_priors = {r["prior"] for r in ladder_rows if r["prior"]}
    current_priors = {p.name for p in list_priors() if p.config.tokenizer_sha256 in ladder_hashes}
    result = {
        "default": default.name,
        "ladder": ladder_rows,
        "priors": [  # the ladder's default prior first, then the others for its tokens (encode --prior NAME)
            {
                "name": p.name,
                "default": p.name in default_priors,
                "models": sorted(r["name"] for r in ladder_rows if r["prior"] == p.name),
                "metrics": p.card.get("metrics", {}),
            }
            for p in sorted(list_priors(), key=lambda p: p.name not in default_priors)
            if p.name in current_priors
        ],
        "decoders": [{"name": d.name, "base": d.base, "card": d.card} for d in decoders_for(default.weights_hash)],
        "others": sorted(set(list_models()) - shown),
        "other_priors": sorted(p.name for p in list_priors() if p.name not in current_priors),
    }
    if include_all:
        result["others"] = [describe_model(name) for name in result["others"]]
    return result


# --- the other commands, one call each: evaluation, batch transcoding, token export, training, benchmark ---


def evaluate(
    clips: list[str | Path],
    *,
    model: str | None = None,
    quality: int | None = None,
    decoder: str | None = None,
    size: tuple[int, int] = (640, 360),
    frames: int = 33,
    gop: int = DEFAULT_GOP,
    colour_offset: bool = True,
    dists: bool = True,
    vmaf: bool = True,
    device: str = "cpu",
    progress: bool = False,
    output: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Measure a zoo model (`decoder`: drawn by that decoder entry for its tokens) on `clips` through the real
    container: bpp, PSNR, MS-SSIM, LPIPS-alex, DISTS, VMAF, flicker, speed; per clip and the mean. `output`: also
    write the result there as JSON (claimed before the measurement, so a bad path fails at once)."""
    import contextlib
    import json

    from .evaluate import evaluate_model
    from .io import atomic_output

    name = model_name(model, quality)
    if decoder is not None:  # the base model's encoder (the same tokens) and the entry's decoder
        from .zoo.decoders import load_decoder

        tokenizer, entry, _ = load_decoder(decoder, device=device, model_name=None if name == "default" else name)
    else:
        tokenizer, entry = load_model(name, device=device)
    with atomic_output(output, force=force) if output else contextlib.nullcontext() as out:
        result = evaluate_model(
            tokenizer,
            entry,
            list(clips),
            size,
            frames,
            gop,
            device,
            progress=progress,
            fix_colour=colour_offset,
            dists=dists,
            vmaf=vmaf,
            decoder=decoder,
        )
        if out:
            Path(out.tmp).write_text(json.dumps(result, indent=2) + "\n")
    return result


def transcode(
    sources: list[str | Path],
    dst: str | Path,
    *,
    mode: str = "encode",
    quality: int | None = None,
    model: str | None = None,
    gop: int | None = None,
    progress: bool = False,
    **options,
):
    """Transcode files and folders into the mirrored tree `dst`, resumably (batch.run_batch; docs/batch.md):
    `mode` "encode" (to .tkc), "decode" (.tkc back to video) or "tokens" (.npz token grids). `quality` picks
    a rung of the rate ladder. Other options: BatchOptions' fields (include, exclude, entropy, to, decoder,
    device, jobs, verify, force, ray). Returns the batch's Summary (failed files listed, not raised)."""
    from .batch import BatchOptions, run_batch

    if mode != "encode" and (quality is not None or (mode == "decode" and gop is not None)):
        raise InputError("the rung and the GOP are chosen at encoding: not when decoding")
    model = model_name(model, quality) if quality is not None else model
    return run_batch(
        BatchOptions(
            sources=[str(s) for s in sources],
            dst=str(dst),
            mode=mode,
            model=model,
            gop=gop or DEFAULT_GOP,
            progress=progress,
            **options,
        )
    )


def export_tokens(
    src: str | Path, out, *, model: str | None = None, gop: int = DEFAULT_GOP, device: str = "cpu", force: bool = False
) -> dict:
    """One file's token grids into an .npz (`out`): a .tkc is read without decoding pixels (no model, on the
    CPU), anything else encoded in memory with the zoo model first. Returns the meta (shapes, frames, model)."""
    from .codec.tokens import export_tokens as export, is_container

    device = "cpu" if is_container(src) else resolve_device(device)  # a .tkc needs no model, so no GPU either
    return export(src, out, model=model or "default", gop=gop, device=device, force=force)
