"""tokcodec as a benchmarked codec: one curve per entropy mode, one point per ladder rung.

The rate of tokcodec is set by the zoo entry (a tokenizer and the scale it codes
at), so its rate points are the rungs of the zoo's rate ladder, and each entropy
mode (0: bit-packed tokens, 1: MLM range coding) gives a curve. bpp is the size
of the `.tkc` file: container header, chunk headers, index and footer included.

Encoding and decoding call `tokcodec.codec.pipeline` in-process, as the CLI
does; a model is loaded once per worker and its loading is not timed (an
encoder's start-up is not either).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from tokcodec.codec.container import ContainerReader
from tokcodec.codec.pipeline import decode_frames, encode_video, encoding_setup
from tokcodec.errors import ModelError
from tokcodec.io import VideoInfo
from tokcodec.io.colour import BT709_LIMITED
from tokcodec.zoo import get_entry, ladder

MODES = {0: "bit-packed", 1: "MLM range coded"}
IMPLEMENTED_MODES = {0, 1}


@dataclass(frozen=True)
class TokcodecSpec:
    """A tokcodec curve: one entropy mode over rate points = zoo entries x GOP lengths.

    A GOP of None is the whole clip as one GOP (the largest 1 + 4k <= frames):
    one intra frame per clip, as the anchors have. Shorter GOPs cost more bits
    (each GOP starts with an image-like latent frame) and are extra rate points.
    """

    name: str
    mode: int
    models: tuple[str, ...]
    gops: tuple[int | None, ...] = (None,)
    description: str = ""
    decoder: str | None = None  # a decoder-only zoo entry drawing the frames instead of each model's own

    @property
    def points(self) -> list[tuple[str, str, int | None]]:
        """(label, model, gop) per rate point; the label is `<model>-g<gop length or "clip">`."""
        return [(f"{m}-g{g or 'clip'}", m, g) for m in self.models for g in self.gops]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": "tokcodec",
            "mode": self.mode,
            "models": list(self.models),
            "gops": list(self.gops),
            "description": self.description,
            **({"decoder": self.decoder} if self.decoder else {}),
        }


def parse_gops(value) -> tuple[int | None, ...]:
    """Config "gop": null | N | [null, 17, 9] -> a tuple (None or "clip" = whole clip)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(None if v in (None, "clip", 0) else int(v) for v in values) or (None,)


def resolve_models(models) -> tuple[str, ...]:
    """ "all" (or None) -> every rung of the shipped rate ladder; a list or "a,b" stays as it is."""
    if models in (None, "all", ["all"]):
        found = ladder()
        if not found:
            raise ModelError("no tokcodec model is shipped yet (the zoo's registry has none)")
        return tuple(found)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    return tuple(models)


def gop_for(gop: int | None, num_frames: int, temporal_stride: int = 4) -> int:
    """The GOP length used for a clip: `gop`, or the whole clip as one GOP of 1 + s*k frames."""
    if gop:
        return gop
    return 1 + temporal_stride * max(0, (num_frames - 1) // temporal_stride)


class TokcodecBackend:
    """Encode / decode RGB clips with tokcodec's pipeline; models are loaded once per process."""

    def __init__(self, device: str = "cpu", threads: int = 1):
        self.device = device
        self.threads = threads
        self._decoders: dict = {}

    def setup(self, model: str, mode: int):
        """(tokenizer, entry, entropy coder): codec.pipeline.encoding_setup, loaded once per process."""
        return encoding_setup(model, "mlm" if mode == 1 else "raw", strict=True, device=self.device)

    def encode(
        self, frames: np.ndarray, fps: float, model: str, mode: int, gop: int, out_path: str
    ) -> tuple[float, float, str]:
        """Encode RGB frames (T, H, W, 3) to `out_path`; (wall s, CPU s, the call made)."""
        if mode not in IMPLEMENTED_MODES:
            raise ModelError(f"tokcodec entropy mode {mode} ({MODES.get(mode, '?')}) is not implemented yet")
        torch.set_num_threads(self.threads)
        tokenizer, entry, coder = self.setup(model, mode)
        h, w = frames.shape[1:3]
        info = VideoInfo(w, h, Fraction(fps).limit_denominator(1001), len(frames), BT709_LIMITED)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            encode_video(
                list(frames),
                info,
                out_path,
                tokenizer,
                entry,
                gop=gop,
                device=self.device,
                force=True,
                quiet=True,
                coder=coder,
            )
        call = (
            f"tokcodec.codec.pipeline.encode_video(..., model={model!r}, gop={gop}, device={self.device!r}, "
            f"coder=encoding_setup({model!r}, {'mlm' if mode else 'raw'!r}, ...))"
        )
        return time.perf_counter() - t0, time.process_time() - c0, call

    def decode(self, path: str, model: str, decoder: str | None = None) -> tuple[np.ndarray, float, float]:
        """Decode a .tkc file (with `decoder`, a decoder-only zoo entry, instead of the model's own decoder);
        (RGB frames (T, H, W, 3), wall s, CPU s)."""
        torch.set_num_threads(self.threads)
        if decoder is None:
            tokenizer, _, _ = encoding_setup(model, "raw", device=self.device)  # the same cached tokenizer
        else:
            tokenizer = self._decoder(decoder)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.inference_mode(), ContainerReader(str(path)) as reader:
            frames = list(decode_frames(reader, tokenizer, self.device))
        return np.stack(frames), time.perf_counter() - t0, time.process_time() - c0

    def _decoder(self, name: str):
        """A decoder entry's tokenizer (zoo.decoders), loaded once per process."""
        if name not in self._decoders:
            from tokcodec.zoo.decoders import load_decoder

            self._decoders[name] = load_decoder(name, device=self.device)[0]
        return self._decoders[name]


def describe(spec: TokcodecSpec, device: str, threads: int) -> dict:
    """What the results of a tokcodec curve were measured with (environment.json)."""
    models = {}
    for name in spec.models:
        e = get_entry(name)
        models[name] = {
            "config": e.config.to_dict(),
            "coding_scale": e.coding_scale,
            "sha256": list(e.sha256),
            "card": e.card.get("path"),
        }
    prior = None
    if spec.mode == 1 and spec.models:
        from tokcodec.zoo.priors import prior_for

        found = prior_for(get_entry(spec.models[0]).weights_hash)
        prior = {"name": found.name, "sha256": found.sha256} if found else None
    return {
        "family": "tokcodec",
        "entropy_mode": spec.mode,
        "entropy_mode_name": MODES.get(spec.mode, "?"),
        "prior": prior,
        "models": list(spec.models),
        "decoder": spec.decoder,
        "gops": [g or "whole clip (1 + 4k frames)" for g in spec.gops],
        "device": device,
        "torch": torch.__version__,
        "threads": threads,
        "model_info": models,
    }
