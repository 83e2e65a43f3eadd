"""Encode: frames -> GOPs -> tokens -> container. Decode: the way back.

A GOP of n frames is padded to 1 + s*k frames (repeating its last frame) and
to multiples of the spatial stride (replicating edges) before the tokenizer
sees it; decoding crops back to the GOP's n frames and width x height
(bitstream_spec/SPEC.md, "Padding and cropping"). GOPs share nothing, so each
container chunk decodes on its own. Frames stream in both directions, a
latent frame's group (1 + 4 frames at most) at a time for the patch family,
so memory depends on the frame size, not on the GOP length. Each GOP also
carries a colour offset, its mean-colour correction (codec.colour_offset).

A zoo entry with a coding scale (a rung of the rate ladder) codes frames
resized by that factor; the header's width x height is then the coded size
and its DISP record the display size, to which the decoder resizes back
(SPEC 3.4). Both resizes are bicubic on float frames, the way back applied
before rounding to 8 bits; the decoder and the encoder side's reconstruction
(`tokcodec.evaluate`) run this same code, so they agree exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import chain, count, islice
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import ContainerError, InputError, ModelError, OutputError
from ..io import ColourInfo, VideoInfo, open_writer, to_frames, to_tensor
from ..io.video import is_image_path
from torch.nn import Module as Tokenizer  # any family of tokcodec.models
from ..zoo import ModelEntry, get_entry, ladder, list_models, load_model
from . import ON_DAMAGE, colour_offset
from .entropy import RAW, EntropyCoder, coder_for_header
from .memory import free_memory
from .container import (
    CHUNK_HEADER_SIZE,
    FOOTER_SIZE,
    INDEX_ENTRY_SIZE,
    INDEX_OVERHEAD,
    ContainerReader,
    ContainerWriter,
    Err,
    Header,
)
from .packing import packed_size


@dataclass
class CodingStats:
    frames: int
    width: int
    height: int
    bytes: int
    seconds: float  # wall time of coding: encode includes reading the frames (they stream), decode writing them

    @property
    def bpp(self) -> float:
        return self.bytes * 8 / max(1, self.width * self.height * self.frames)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def check_gop(gop: int, model: Tokenizer) -> None:
    s = model.config.temporal_stride
    if gop < 1 or (gop - 1) % s:
        raise InputError(f"GOP length {gop} is not of the form 1 + {s}k (e.g. {1 + 4 * s})")


def coded_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The frame size a ladder rung codes at (at least 1 x 1)."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(1, 3, T, H, W) float frames to width x height: bicubic, antialiased when shrinking (SPEC 3.4, resampler 1)."""
    if x.shape[-2:] == (height, width):
        return x
    frames = x[0].transpose(0, 1)  # (T, 3, H, W): interpolate works on 2D images
    y = F.interpolate(frames, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return y.transpose(0, 1)[None]


@dataclass
class GopRead:
    """What `gop_groups` read of one GOP: its real frames, and the R'G'B' means (T', 3) of
    the frames 0, s, 2s, ... as coded (resized, last frame repeated; codec.colour_offset)."""

    frames: int = 0
    sampled_means: list[torch.Tensor] = field(default_factory=list)


def gop_groups(
    frames: Iterator[np.ndarray],
    gop: int,
    model: Tokenizer,
    size: tuple[int, int] | None = None,
    read: GopRead | None = None,
    shape: tuple[int, int] | None = None,
    device: str = "cpu",
) -> Iterator[torch.Tensor]:
    """Up to `gop` frames from `frames`, as the model's input groups (1, 3, t, H', W'): frame 0
    alone, then s frames each, the last group padded by repeating the GOP's last frame; resized
    to `size` (w, h) if given, edges replicated to the spatial stride. Frames are read only as
    groups are asked for, so a GOP never sits in memory whole. `shape` (h, w): every frame's
    size, checked; `read` collects the frame count and the sampled means."""
    s, ss = model.config.temporal_stride, model.config.spatial_stride
    read = read if read is not None else GopRead()
    while read.frames < gop:
        want = 1 if read.frames == 0 else min(s, gop - read.frames)
        group = list(islice(frames, want))
        if not group:
            return
        for frame in group:
            if shape is not None and frame.shape[:2] != shape:
                raise InputError(f"frame {read.frames}: size changes mid-stream to {frame.shape[1]}x{frame.shape[0]}")
            read.frames += 1
        group += [group[-1]] * ((1 if read.frames == 1 else s) - len(group))
        x = to_tensor(group)
        if size is not None:
            x = resize(x, *size)
        read.sampled_means.append(colour_offset.frame_means(x[:, :, -1:])[0])
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % ss, -w % ss
        if pad_h or pad_w:
            x = F.pad(x[0], (0, pad_w, 0, pad_h, 0, 0), mode="replicate")[None]
        yield x.to(device)


def pad_gop(frames: list[np.ndarray], model: Tokenizer, size: tuple[int, int] | None = None) -> torch.Tensor:
    """The GOP as one (1, 3, 1 + s*k, H', W') tensor, padded and resized as `gop_groups` does."""
    return torch.cat(list(gop_groups(iter(frames), len(frames), model, size)), 2)


def decode_gop(
    model: Tokenizer,
    tokens: torch.Tensor,
    frames: int,
    header: Header,
    offset: tuple[int, int, int] = colour_offset.NONE,
    device: str = "cpu",
) -> Iterator[np.ndarray]:
    """Tokens (T', H', W') of one GOP -> its `frames` uint8 frames (display height, display width, 3),
    streamed as the model decodes them, with the chunk's colour offset applied."""
    left = frames
    for x in model.decode_stream(tokens.to(device)[None]):
        if x.shape[3] < header.height or x.shape[4] < header.width:
            break  # model_for checked the strides, so this is a model that breaks its own contract
        x = colour_offset.apply(x[:, :, :left, : header.height, : header.width], offset)
        out = to_frames(resize(x, *header.display_size))
        left -= len(out)
        yield from out
        if left == 0:
            return
    raise ModelError(
        f"model '{header.model_name}' decoded fewer frames or smaller ones than the GOP's "
        f"{frames} frames of {header.width}x{header.height}"
    )


def gop_coding_bytes(model: Tokenizer, gop: int, width: int, height: int) -> int:
    """The model's peak bytes for coding a GOP of `gop` frames at width x height, padded as coded."""
    cfg = model.config
    s, ss = cfg.temporal_stride, cfg.spatial_stride
    frames = 1 + math.ceil((gop - 1) / s) * s
    return model.coding_memory_bytes(frames, math.ceil(height / ss) * ss, math.ceil(width / ss) * ss)


def check_memory(
    model: Tokenizer, gop: int, width: int, height: int, device: str, hint: str, display: tuple[int, int] | None = None
) -> None:
    """Refuse a GOP whose activations cannot fit, with a clear error instead of the OOM killer.

    `display` (w, h): decoded frames are also resized to this size, a float copy or
    three of the frames held at once at that size (input, output, rounding), which counts too.
    """
    need = gop_coding_bytes(model, gop, width, height)
    if display is not None and display != (width, height):
        frames = 1 + math.ceil((gop - 1) / model.config.temporal_stride) * model.config.temporal_stride
        need += 3 * model.frames_held(frames) * 3 * 4 * display[0] * display[1]
    free = free_memory(device)
    if free is not None and need > free:
        size = f"{width}x{height}" + (f" shown at {display[0]}x{display[1]}" if display else "")
        raise InputError(
            f"a GOP of {gop} frames at {size} needs about {need / 2**30:.1f} GiB on {device}, "
            f"{free / 2**30:.1f} GiB are free: {hint}"
        )


def make_header(
    info: VideoInfo, entry: ModelEntry, gop: int, frame_count: int = 0, coder: EntropyCoder = RAW
) -> Header:
    """The container header for coding `info`'s frames with `entry` (frame_count 0: set when the writer closes)."""
    cfg = entry.config
    width, height = coded_size(info.width, info.height, entry.coding_scale)
    display = (info.width, info.height) if (width, height) != (info.width, info.height) else (0, 0)
    header = Header(
        width=width,
        height=height,
        display_width=display[0],
        display_height=display[1],
        frame_count=frame_count,
        fps_num=info.fps.numerator,
        fps_den=info.fps.denominator,
        gop_length=gop,
        model_name=entry.name,
        weights_hash=entry.weights_hash,
        colour_primaries=info.colour.primaries,
        transfer_characteristics=info.colour.transfer,
        matrix_coefficients=info.colour.matrix,
        full_range=info.colour.full_range,
        token_bits=cfg.token_bits,
        temporal_stride=cfg.temporal_stride,
        spatial_stride=cfg.spatial_stride,
        **quantizer_fields(cfg),
        **coder.header_fields,
    )
    if (problem := header.limit_problem()) is not None:  # SPEC 3.5: refuse before any work
        raise InputError(f"cannot encode this input: {problem}")
    return header


def quantizer_fields(cfg) -> dict:
    """The QUAN record's fields (SPEC 3.4) for a model config: LFQ unless the family says FSQ."""
    quantizer = getattr(cfg, "quantizer", "lfq")
    return {"quantizer": quantizer, "fsq_levels": tuple(cfg.fsq_levels) if quantizer == "fsq" else ()}


def predicted_bpp(info: VideoInfo, entry: ModelEntry, gop: int, payload_factor: float = 1.0) -> float:
    """bpp of the mode-0 file `encode_video` would write: the token grid fixes every byte (SPEC 5, 6.1, 9).
    With `payload_factor` < 1 the payloads are scaled by it: an estimate for mode 1, not a prediction."""
    frames = info.num_frames or gop
    header = make_header(info, entry, gop, frame_count=frames)
    size = len(header.to_bytes()) + INDEX_OVERHEAD + FOOTER_SIZE
    for g in range(header.num_gops):
        grid = header.latent_shape(header.gop_frames(g))
        size += CHUNK_HEADER_SIZE + INDEX_ENTRY_SIZE + payload_factor * packed_size(math.prod(grid), header.token_bits)
    return size * 8 / (info.width * info.height * frames)


def rungs_for_bpp(target: float, info: VideoInfo, gop: int, payload_factor: float = 1.0) -> list[tuple[str, float]]:
    """(rung, predicted bpp) to try for `--bpp target`, best first: the rung with the highest predicted
    bpp not above `target` (else the lowest rung), then the rungs below it. Mode 0's prediction is
    exact, so its first rung fits; a mode 1 estimate (`payload_factor`) may not, hence the others."""
    rungs = sorted((predicted_bpp(info, get_entry(name), gop, payload_factor), name) for name in ladder())
    if not rungs:
        raise ModelError("the zoo has no models")
    first = max((i for i, r in enumerate(rungs) if r[0] <= target), default=0)
    return [(name, bpp) for bpp, name in reversed(rungs[: first + 1])]


class WorkBar:
    """A progress bar in frames that a GOP advances stage by stage, not only when it is done.

    Each stage of coding a GOP (the tokenizer, the colour offset's sampled decode, the
    token prior, writing frames) credits its share of the GOP's frames as it goes, so a
    long GOP, or a slow prior, still moves the bar every latent frame; at the end of a
    GOP the count is exact. The shares are rough costs, not measurements.
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        quiet: bool,
        shares: dict[str, float],
        progress: Callable[[float, int | None], None] | None = None,
    ):
        weight = sum(shares.values())
        self.shares = {k: v / weight for k, v in shares.items() if v}
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="frame",
            disable=quiet,
            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
            if total
            else "{desc}: {n:.0f} frames [{elapsed}, {rate_fmt}]",
        )
        self.done = 0  # frames of finished GOPs
        self.n = 0.0  # frames credited so far (the bar's count, also when it is disabled)
        self.total = total
        self.progress = progress  # also told (frames done, total) at each step: a transcode worker's report

    def _advance(self, frames: float) -> None:
        self.n += frames
        self.bar.update(frames)
        if self.progress is not None:
            self.progress(self.n, self.total)

    def credit(self, stage: str, frames: float) -> None:
        if stage in self.shares and frames:
            self._advance(self.shares[stage] * frames)

    def gop_done(self, frames: int) -> None:
        """The GOP is finished: the count becomes exact (shares may not sum to it in floating point)."""
        self.done += frames
        self._advance(self.done - self.n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "WorkBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _credited(groups: Iterator[torch.Tensor], read: GopRead, bar: WorkBar) -> Iterator[torch.Tensor]:
    """`groups`, crediting the tokenizer's share of each group's frames once the model has taken it
    (the generator resumes when the next group is asked for)."""
    done = 0
    for x in groups:
        yield x
        bar.credit("tokenizer", read.frames - done)
        done = read.frames


def encode_video(
    frames: Iterable[np.ndarray],
    info: VideoInfo,
    out: str | Path | BinaryIO,
    model: Tokenizer,
    entry: ModelEntry,
    gop: int = 17,
    device: str = "cpu",
    force: bool = False,
    quiet: bool = False,
    max_frames: int | None = None,
    coder: EntropyCoder = RAW,
    fix_colour: bool = True,
    progress: Callable[[float, int | None], None] | None = None,
) -> CodingStats:
    """Encode RGB frames (a VideoReader, or any iterable matching `info`) into a
    container at `out` (a path, written atomically, or a binary file), its
    payloads coded by `coder` (mode 0 by default; entropy.coder_for_encoding).
    Frames stream through the model a latent frame at a time (families that
    stream: `frames_held`). `fix_colour`: send each GOP's colour offset
    (codec.colour_offset), which costs a decode of the GOP's first two latent frames; off writes
    zeros. `progress(done, total)`: told the frames done as the progress bar moves (a transcode
    worker reports them to its driver)."""
    check_gop(gop, model)
    header = make_header(info, entry, gop, coder=coder)
    width, height = header.width, header.height
    check_memory(
        model,
        min(gop, max_frames or gop, info.num_frames or gop),
        width,
        height,
        device,
        "use a shorter --gop (1 + 4k, e.g. 5) or a lower --quality",
    )
    frames = iter(islice(frames, max_frames))
    total = min(n for n in (info.num_frames, max_frames) if n is not None) if (info.num_frames or max_frames) else None
    coded, seconds = 0, 0.0
    shares = {"tokenizer": 0.2, "colour": 0.1 if fix_colour else 0.0, "prior": 0.7 if coder.mode == 1 else 0.0}
    with ContainerWriter(out, header, force=force) as writer, WorkBar(total, "encode", quiet, shares, progress) as bar:
        for index in count():
            t0 = time.perf_counter()
            first = next(frames, None)
            if first is None:
                break
            read = GopRead()
            groups = gop_groups(
                chain([first], frames), gop, model, (width, height), read, (info.height, info.width), device
            )
            tokens = model.encode_stream(_credited(groups, read, bar))
            per_latent = read.frames / tokens.shape[1]  # frames per latent frame, for the bar
            offset = colour_offset.NONE
            if fix_colour:
                offset = colour_offset.estimate(
                    model,
                    tokens,
                    torch.stack(read.sampled_means),
                    width,
                    height,
                    lambda share, frames=read.frames: bar.credit("colour", share * frames),
                )
            tokens = tokens[0].cpu().numpy()
            payload = coder.encode(tokens, lambda per_latent=per_latent: bar.credit("prior", per_latent))
            writer.write_chunk(index, read.frames, tokens, payload, offset)
            seconds += time.perf_counter() - t0
            coded += read.frames
            bar.gop_done(read.frames)
        if coded == 0:
            raise InputError("no frames to encode")
    size = out.seek(0, 2) if hasattr(out, "seek") else Path(out).stat().st_size
    return CodingStats(coded, info.width, info.height, size, seconds)


_SETUPS: dict[tuple, tuple] = {}  # encoding set-ups loaded in this process (see encoding_setup)


def encoding_setup(
    name: str = "default",
    entropy: str | None = None,
    mlm_steps: int = 4,
    strict: bool | None = None,
    device: str = "cpu",
    prior: str | None = None,
) -> tuple[Tokenizer, ModelEntry, EntropyCoder]:
    """(tokenizer, zoo entry, entropy coder) for encoding with zoo model `name`: the one set-up every
    encoding path shares (tokcodec.encode, the transcoder, the benchmark, the tools), loaded once per
    process and zoo. `entropy`: "mlm" (mode 1 under the model's prior) or "raw" (mode 0); None: mlm
    where the zoo has a prior for the model, else raw. `strict` (default: entropy given as "mlm"): a
    model without a prior is an error instead of mode 0. `prior`: a zoo prior of the model other than its default."""
    from ..precision import selected_precision
    from ..zoo import registry_path
    from .entropy import DEFAULT_ENTROPY, coder_for_encoding

    strict = entropy == "mlm" if strict is None else strict
    registry = registry_path()
    stamp = registry.stat().st_mtime_ns if registry.exists() else 0
    precision = selected_precision()  # a model loaded at one precision is not the other's
    key = (name, entropy or DEFAULT_ENTROPY, int(mlm_steps), strict, device, prior, precision, str(registry), stamp)
    if key not in _SETUPS:
        tokenizer, entry = load_model(name, device=device)
        coder = coder_for_encoding(
            entropy or DEFAULT_ENTROPY, entry.weights_hash, int(mlm_steps), strict=strict, prior=prior
        )
        _SETUPS[key] = (tokenizer, entry, coder)
    return _SETUPS[key]


def model_for(
    header: Header, name: str | None, device: str, decoder: str | None = None
) -> tuple[Tokenizer, ModelEntry]:
    """The model a container was written with (SPEC annex A.4), refusing weights that differ
    and a model whose strides or token size are not the header's (errors 30-32). `decoder`: a
    decoder-only zoo entry (zoo.decoders) for the same tokens instead of the model's own decoder,
    the reader's choice (SPEC 3.3, revision 1.5); it must decode this file's tokenizer's tokens."""
    if decoder is not None:
        from ..zoo.decoders import get_decoder, load_decoder

        if name is not None:
            raise InputError("give a model or a decoder, not both")
        try:
            chosen = get_decoder(decoder)
        except ModelError:  # the file's own model, by name, is one of its decoders too
            if decoder in list_models() and get_entry(decoder).weights_hash == header.weights_hash:
                return model_for(header, decoder, device)
            raise
        if chosen.base_hash != header.weights_hash:
            raise ModelError(
                f"decoder '{decoder}' draws frames from the tokens of '{chosen.base}', this file's "
                f"come from '{header.model_name}' ({header.weights_hash.hex()[:12]}...)",
                Err.MODEL_HASH,
            )
        name = chosen.base
    try:
        entry = get_entry(name or header.model_name)
    except ModelError as e:
        raise ModelError(str(e), Err.MODEL_UNKNOWN) from None
    if entry.weights_hash != header.weights_hash:
        raise ModelError(
            f"model '{entry.name}' is not the one this file was encoded with "
            f"(file says '{header.model_name}', weights {header.weights_hash.hex()[:12]}...)",
            Err.MODEL_HASH,
        )
    cfg = entry.config
    for name in ("temporal_stride", "spatial_stride", "token_bits"):
        if getattr(header, name) != getattr(cfg, name):
            raise ModelError(
                f"the file's {name.replace('_', ' ')} is {getattr(header, name)}, model "
                f"'{entry.name}' has {getattr(cfg, name)}: the file is invalid",
                Err.MODEL_MISMATCH,
            )
    ours = quantizer_fields(cfg)
    if header.quantizer and (header.quantizer, header.fsq_levels) != (ours["quantizer"], ours["fsq_levels"]):
        raise ModelError(
            f"the file's QUAN record says {header.quantizer} {list(header.fsq_levels) or ''}, model "
            f"'{entry.name}' quantizes with {ours['quantizer']}: the file is invalid",
            Err.MODEL_MISMATCH,
        )
    if decoder is not None:
        model, entry, _ = load_decoder(decoder, device)
        return model, entry
    model, entry = load_model(entry.name, device=device)
    return model, entry


@dataclass
class LostGop:
    """A GOP that could not be decoded: which frames it held and why."""

    gop: int
    first_frame: int
    frames: int
    reason: str


def decode_frames(
    reader: ContainerReader,
    model: Tokenizer,
    device: str = "cpu",
    quiet: bool = True,
    on_damage: str | None = None,
    lost: list[LostGop] | None = None,
    coder: EntropyCoder | None = None,
    progress: Callable[[float, int | None], None] | None = None,
) -> Iterator[np.ndarray]:
    """Yield decoded RGB frames of a container, GOP by GOP.

    A damaged or missing GOP raises ContainerError unless `on_damage` says what
    to do and `lost` collects it: "freeze" repeats the last decoded frame (mid-grey
    before any) for its frames, so the duration is kept; "skip" drops them;
    "stop" ends the output at the last intact GOP. `coder`: the file's
    (entropy.coder_for_header), resolved here when not given.
    """
    h = reader.header
    coder = coder or coder_for_header(h)
    check_memory(
        model,
        min(h.gop_length, h.frame_count),
        h.width,
        h.height,
        device,
        "decode on a machine with more memory (the GOP length was chosen at encoding)",
        display=h.display_size,
    )
    last_frame = None
    shares = {"prior": 0.7 if coder.mode == 1 else 0.0, "frames": 0.3}
    with WorkBar(h.frame_count, "decode", quiet, shares, progress) as bar:
        for gop in range(h.num_gops):
            n = h.gop_frames(gop)
            per_latent = n / h.latent_shape(n)[0]
            try:
                tokens = torch.from_numpy(
                    reader.read_tokens(
                        gop, coder.unpacker(lambda per_latent=per_latent: bar.credit("prior", per_latent))
                    )
                )
            except ContainerError as e:
                if on_damage is None or lost is None:
                    raise
                lost.append(LostGop(gop, gop * h.gop_length, n, str(e).removeprefix(f"{reader.name}: ")))
                bar.gop_done(n)
                if on_damage == "stop":
                    return
                if on_damage == "freeze":
                    width, height = h.display_size
                    frame = last_frame if last_frame is not None else np.full((height, width, 3), 128, np.uint8)
                    yield from (frame for _ in range(n))
                continue
            offset = reader.colour_offset(gop)  # read_tokens checked this chunk's header
            for frame in decode_gop(model, tokens, n, h, offset, device):
                bar.credit("frames", 1)
                last_frame = frame
                yield frame
            bar.gop_done(n)


def decode_container(
    src: str | Path,
    out: str | Path,
    device: str = "cpu",
    force: bool = False,
    quiet: bool = False,
    model_name: str | None = None,
    on_damage: str = ON_DAMAGE[0],
    crf: int | None = None,
    decoder: str | None = None,
    progress: Callable[[float, int | None], None] | None = None,
) -> tuple[CodingStats, list[LostGop]]:
    """Decode a .tkc file to a video file, PNG folder or image (chosen by `out`'s name; `crf`: the
    H.264 quality of an .mp4, io.open_writer's default when None).

    A damaged file (a truncated end, a corrupt chunk) still gives back every intact
    GOP, handled per `on_damage` (see decode_frames); the lost GOPs are returned.
    If nothing at all can be decoded, ContainerError is raised and nothing is written.
    """
    reader = ContainerReader(src, recover=True)
    h = reader.header
    try:
        coder = coder_for_header(h)
        model, _ = model_for(h, model_name, device, decoder)
    except BaseException:
        reader.close()
        raise
    colour = ColourInfo(h.colour_primaries, h.transfer_characteristics, h.matrix_coefficients, h.full_range)
    width, height = h.display_size
    if is_image_path(out) and h.frame_count > 1:
        raise OutputError(
            f"{out}: an image holds one frame and {src} has {h.frame_count}; "
            "decode to a folder (out/) or a video (.mp4, .mkv)"
        )
    lost: list[LostGop] = []
    t0 = time.perf_counter()
    with reader, open_writer(out, width, height, h.fps, colour=colour, force=force, crf=crf) as writer:
        for frame in decode_frames(reader, model, device, quiet, on_damage, lost, coder, progress):
            writer.write(frame)
        if len(lost) == h.num_gops or writer.frames_written == 0:
            raise ContainerError(f"{src}: no GOP could be decoded" + (f" ({lost[0].reason})" if lost else ""))
        if not lost and writer.frames_written != h.frame_count:  # never report success with fewer frames
            raise ContainerError(f"{src}: decoded {writer.frames_written} frames, the header announces {h.frame_count}")
    stats = CodingStats(writer.frames_written, width, height, Path(src).stat().st_size, time.perf_counter() - t0)
    return stats, lost
