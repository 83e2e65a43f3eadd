"""Token grids as data: read a container's GOPs without decoding pixels, export them as `.npz`.

    for gop in iter_gops("clip.tkc"):      # mode 0: numpy only, no model, no torch import
        gop.tokens                         # int64 (T', H', W'), like ContainerReader.read_tokens

A mode 1 file (range coded) needs its token prior, and so torch.

An `.npz` export (`tokcodec tokens`, `export_tokens`) holds one array per GOP,
`gop_00000`, `gop_00001`, ... (uint16 when the tokens fit 16 bits, else
uint32), and `meta`, a JSON string: shapes, frame counts, fps, sizes, strides,
token bits, model name and weights hash. `load_npz` reads one back.

A video (rather than a .tkc) is encoded in memory first; that part needs the
model, and so torch.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from tokcodec.codec.container import ContainerReader, Header
from tokcodec.errors import OutputError
from tokcodec.io.atomic import atomic_output

META_VERSION = 1


@dataclass(frozen=True)
class TokenGop:
    """One GOP's token grid: `tokens` int64 (T', H', W'), `num_frames` video frames."""

    index: int
    num_frames: int
    tokens: np.ndarray


def iter_gops(src: str | os.PathLike | bytes | BinaryIO | ContainerReader) -> Iterator[TokenGop]:
    """The GOPs of a container (a path, bytes, a binary file or an open reader) in order, every CRC
    checked: a damaged GOP raises ContainerError."""
    if not isinstance(src, ContainerReader):
        with ContainerReader(src) as reader:
            yield from iter_gops(reader)
        return
    unpack = None
    if src.header.entropy_mode == 1:
        from tokcodec.codec.entropy import coder_for_header  # the prior, and torch, only for mode 1

        unpack = coder_for_header(src.header).unpack
    for i in range(src.header.num_gops):
        yield TokenGop(i, src.header.gop_frames(i), src.read_tokens(i, unpack))


def token_meta(header: Header, shapes: list[tuple[int, ...]], source: str | None = None) -> dict:
    """What a consumer of the token grids needs to know about them (the `.npz` `meta`)."""
    width, height = header.display_size
    return {
        "version": META_VERSION,
        "source": source,
        "model": header.model_name,
        "weights_sha256": header.weights_hash.hex(),
        "token_bits": header.token_bits,
        "fps": f"{header.fps_num}/{header.fps_den}",
        "frames": header.frame_count,
        "gop_length": header.gop_length,
        "width": width,
        "height": height,
        "coded_width": header.width,
        "coded_height": header.height,
        "strides": {"temporal": header.temporal_stride, "spatial": header.spatial_stride},
        # token -> latent values (SPEC A.2), from the file's QUAN record (None in files before 1.3)
        "quantizer": ({"kind": header.quantizer, "levels": list(header.fsq_levels)} if header.quantizer else None),
        "gops": [{"name": gop_key(i), "frames": header.gop_frames(i), "shape": list(s)} for i, s in enumerate(shapes)],
    }


def gop_key(index: int) -> str:
    return f"gop_{index:05d}"


def write_npz(
    container: str | os.PathLike | bytes,
    out: str | os.PathLike | BinaryIO,
    force: bool = False,
    source: str | None = None,
) -> dict:
    """Export a container's token grids to `out` (a path, written atomically, or a binary file); returns the meta."""
    with ContainerReader(container) as reader:
        header = reader.header
        dtype = np.uint16 if header.token_bits <= 16 else np.uint32
        arrays = {gop_key(g.index): g.tokens.astype(dtype) for g in iter_gops(reader)}
    meta = token_meta(header, [a.shape for a in arrays.values()], source)
    arrays["meta"] = np.array(json.dumps(meta))
    if not isinstance(out, (str, os.PathLike)):
        np.savez(out, **arrays)
        return meta
    with atomic_output(out, force=force) as target:
        # A file object, not a name: np.savez would append ".npz" to a name without it.
        try:
            with open(target.tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:  # a full disk, a file size limit: the temporary goes, the old output stays
            raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    return meta


def encode_to_bytes(src: str | os.PathLike, tokenizer, entry, gop: int = 17, device: str = "cpu") -> bytes:
    """Encode a video or image with a loaded model into a container held in memory (torch)."""
    from tokcodec.codec.pipeline import encode_video
    from tokcodec.io import open_video

    buffer = io.BytesIO()
    with open_video(src) as reader:
        # only the tokens are wanted: no colour offsets, which cost a partial decode
        encode_video(
            reader, reader.info, buffer, tokenizer, entry, gop=gop, device=device, quiet=True, fix_colour=False
        )
    return buffer.getvalue()


def is_container(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".tkc"


def export_tokens(
    src: str | os.PathLike,
    out: str | os.PathLike | BinaryIO,
    model: str = "default",
    gop: int = 17,
    device: str = "cpu",
    force: bool = False,
    loaded=None,
) -> dict:
    """`tokcodec tokens` for one file: a .tkc is read as it is, anything else encoded in memory first
    (with `loaded` = (tokenizer, entry) if given, else the zoo model `model`). Returns the meta."""
    if is_container(src):
        data = Path(src)
    else:
        if loaded is None:
            from tokcodec.zoo import load_model

            loaded = load_model(model, device=device)
        data = encode_to_bytes(src, *loaded, gop=gop, device=device)
    return write_npz(data, out, force=force, source=Path(src).name)


def load_npz(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """The meta and the token grids (in GOP order) of an export."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return meta, [data[g["name"]] for g in meta["gops"]]
