"""The benchmark's codec interface: what the runner, the speed pass and the figures call, one
implementation per family (the anchors through ffmpeg, tokcodec through its pipeline).

A `Codec` is made from a curve's spec (`AnchorSpec.to_dict()` / `TokcodecSpec.to_dict()`, as a job
carries it) by `codec_for`; it encodes the reference clip at one rate point (`value`: the anchor's
CRF or QP, tokcodec's zoo model) into a stream file and decodes that file back. A new family is a
new class in `CODECS`, not a branch in the runner.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from tokcodec.bench import anchors as anc
from tokcodec.bench.datasets import Reference


@dataclass
class Encoded:
    wall_s: float
    cpu_s: float
    command: str  # the command line or call that made the stream
    extra: dict = field(default_factory=dict)  # recorded with the result (tokcodec: the GOP used)


@dataclass
class Decoded:
    """The decoded clip: RGB frames (tokcodec) or 8-bit yuv420p planes (the anchors), and its cost."""

    wall_s: float
    cpu_s: float
    rgb: np.ndarray | None = None  # (T, H, W, 3) uint8
    yuv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (T, H, W), (T, H/2, W/2) x 2

    def __len__(self) -> int:
        return len(self.rgb) if self.rgb is not None else len(self.yuv[0])

    def rgb_frames(self, frames: slice = slice(None)) -> np.ndarray:
        if self.rgb is not None:
            return self.rgb[frames]
        from tokcodec.bench.evaluate import yuv420_clip_to_rgb

        return yuv420_clip_to_rgb(*(p[frames] for p in self.yuv))


class Codec:
    """One curve's codec. `extension`: its stream files'; `seeded`: whether its results may be carried
    over from a committed report (`tokcodec bench --seed-from`)."""

    extension = ""
    seeded = False

    def __init__(self, spec: dict, threads: int = 1, device: str = "cpu", intra_period: int | None = None):
        self.spec, self.threads, self.device, self.intra_period = spec, threads, device, intra_period

    def prepare(self, value: str, ref_yuv: str, work_dir: str) -> None:
        """What encode needs besides the clip, made outside the timing (a model, a converted input)."""

    def encode(self, value: str, gop: int | None, ref: Reference, ref_yuv: str, out_path: str) -> Encoded:
        """The reference (its frames; `ref_yuv`: the same as a raw yuv420p file) at rate point `value`
        (`gop`: tokcodec's, None = the whole clip) into `out_path`, written whole or not at all."""
        raise NotImplementedError

    def decode(self, value: str, path: str) -> Decoded:
        raise NotImplementedError


class AnchorCodec(Codec):
    """x265, vvenc, SVT-AV1 (anchors.FAMILIES): ffmpeg encodes, PyAV decodes."""

    seeded = True

    def __init__(self, spec: dict, threads: int = 1, device: str = "cpu", intra_period: int | None = None):
        super().__init__(spec, threads, device, intra_period)
        self.anchor = anc.AnchorSpec.from_dict(spec)
        self.family = anc.family(self.anchor)
        self.extension = self.family.extension

    def prepare(self, value: str, ref_yuv: str, work_dir: str) -> None:
        anc.ref_input(ref_yuv, self.family.bit_depth, work_dir)  # the 10-bit input of vvenc

    def encode(self, value: str, gop: int | None, ref: Reference, ref_yuv: str, out_path: str) -> Encoded:
        coded = anc.encode(
            self.anchor, int(value), ref_yuv, ref.width, ref.height, ref.fps, ref.num_frames, out_path,
            self.threads, self.intra_period,
        )  # fmt: skip
        return Encoded(coded.encode_wall_s, coded.encode_cpu_s, " ".join(coded.command))

    def decode(self, value: str, path: str) -> Decoded:
        dec = anc.decode(self.anchor, path, self.threads)
        return Decoded(dec.decode_wall_s, dec.decode_cpu_s, yuv=(dec.y, dec.u, dec.v))


_BACKENDS: dict = {}  # (device, threads) -> TokcodecBackend: its models stay loaded across jobs


class TokcodecCodec(Codec):
    """tokcodec in one entropy mode (spec "mode"), a zoo model per rate point, optionally drawn by a
    decoder-only entry (spec "decoder")."""

    extension = ".tkc"

    @property
    def backend(self):
        from tokcodec.bench.tokcodec_codec import TokcodecBackend

        key = (self.device, self.threads)
        if key not in _BACKENDS:
            _BACKENDS[key] = TokcodecBackend(self.device, self.threads)
        return _BACKENDS[key]

    def prepare(self, value: str, ref_yuv: str, work_dir: str) -> None:
        self.backend.setup(value, self.spec["mode"])  # load the model outside the timing

    def encode(self, value: str, gop: int | None, ref: Reference, ref_yuv: str, out_path: str) -> Encoded:
        from tokcodec.bench.tokcodec_codec import gop_for

        gop = gop_for(gop, ref.num_frames)
        tmp = out_path + ".part.tkc"
        wall, cpu, call = self.backend.encode(ref.rgb, ref.fps, value, self.spec["mode"], gop, tmp)
        os.replace(tmp, out_path)
        return Encoded(wall, cpu, call, {"gop": gop})

    def decode(self, value: str, path: str) -> Decoded:
        rgb, wall, cpu = self.backend.decode(str(path), value, self.spec.get("decoder"))
        return Decoded(wall, cpu, rgb=rgb)


CODECS: dict[str, type[Codec]] = {"tokcodec": TokcodecCodec, **{name: AnchorCodec for name in anc.FAMILIES}}


def codec_for(spec: dict, threads: int = 1, device: str = "cpu", intra_period: int | None = None) -> Codec:
    """The codec of a curve's spec (its "family" picks the implementation)."""
    if spec.get("family") not in CODECS:
        raise ValueError(f"unknown codec family {spec.get('family')!r} (known: {', '.join(CODECS)})")
    return CODECS[spec["family"]](spec, threads, device, intra_period)
