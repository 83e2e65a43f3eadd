"""The annex A vectors (SPEC.md): token -> decoder input values, and frames of the conformance model.

Built by make_vectors.py. The frames are tokcodec's: the conformance network
of A.5 written as a torch module and run through tokcodec's own decode step
(`tokcodec.codec.pipeline.decode_gop`: crop, DISP resize, rounding), with
tc-2's FSQ mapping (`tokcodec.models.fsq`). The reference decoder computes
the same frames from the text alone; they agree to within the tolerance.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import reference_decoder as ref  # noqa: E402  (the weights formula of A.5 only)
from tokcodec.codec.container import Err, Header, write_container  # noqa: E402
from tokcodec.codec.pipeline import decode_gop  # noqa: E402
from tokcodec.models.fsq import FSQ  # noqa: E402
from tokcodec.models.lfq import indices_to_bits  # noqa: E402
from vector_files import chunk_entry, describe_valid, error_entry  # noqa: E402

NAME = "conformance-linear"
LEVELS = (8, 8, 8, 8, 8, 8)
TS, SS, BITS = 4, 8, 18
TOLERANCE = 1  # |decoded - expected| per 8-bit sample (A.5)
LATENT_TOKENS = [0, 1, 0x2A5C3, 123456, (1 << 18) - 1]


class ConformanceLinear(nn.Module):
    """The network of annex A.5 with the FSQ mapping of A.2 (what a zoo model is to tokcodec)."""

    def __init__(self, alt: bool = False):
        super().__init__()
        self.config = SimpleNamespace(temporal_stride=TS, spatial_stride=SS, token_bits=BITS)
        self.fsq = FSQ(LEVELS)
        weights, bias = ref.conformance_weights(TS, SS, len(LEVELS), alt)  # alt: conformance-linear-alt
        self.register_buffer("weights", torch.from_numpy(weights.astype(np.float32)))  # (ts, 3, ss, ss, C)
        self.register_buffer("bias", torch.from_numpy(bias.astype(np.float32)))  # (ts, 3, ss, ss)

    @staticmethod
    def weights_sha256() -> bytes:
        weights, bias = ref.conformance_weights(TS, SS, len(LEVELS))
        return hashlib.sha256(weights.tobytes() + bias.tobytes()).digest()

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(1, T', H', W') tokens -> (1, 3, 1 + ts (T' - 1), H' ss, W' ss) float frames."""
        values = self.fsq.indices_to_values(tokens)[0]  # (C, T', H', W')
        _, t, h, w = values.shape
        out = torch.zeros(3, 1 + TS * (t - 1), h * SS, w * SS)
        for k in range(t):
            frames = [0] if k == 0 else range(1 + TS * (k - 1), 1 + TS * k)
            for j, f in enumerate(frames):
                patch = torch.einsum("kyxc,chw->khywx", self.weights[j], values[:, k])
                patch = patch + self.bias[j][:, None, :, None, :]
                out[:, f] = patch.reshape(3, h * SS, w * SS)
        return out[None]

    def decode_stream(self, tokens: torch.Tensor):
        yield self.decode(tokens)  # the pipeline's interface; this network does not stream


def _latents() -> dict:
    tokens = torch.tensor(LATENT_TOKENS)
    fsq = FSQ(LEVELS).indices_to_values(tokens[:, None, None])[:, :, 0, 0]
    lfq = indices_to_bits(tokens, BITS)
    return {
        "note": "decoder input values of single tokens (annex A.2)",
        "fsq": {
            "levels": list(LEVELS),
            "tokens": [{"token": int(t), "values": v.tolist()} for t, v in zip(tokens, fsq)],
        },
        "lfq": {"token_bits": BITS, "tokens": [{"token": int(t), "values": v.tolist()} for t, v in zip(tokens, lfq)]},
    }


def _file(header: Header, tokens: list[np.ndarray], colour_offsets=()) -> bytes:
    out = io.BytesIO()
    write_container(out, header, tokens, colour_offsets=colour_offsets)
    return out.getvalue()


def _frames(header: Header, tokens: list[np.ndarray], colour_offsets=((0, 0, 0),), alt: bool = False) -> np.ndarray:
    """tokcodec's decode of every GOP with the conformance network: (frames, height, width, 3) uint8."""
    return np.concatenate(
        [
            np.stack(
                list(
                    decode_gop(
                        ConformanceLinear(alt), torch.from_numpy(t), header.gop_frames(i), header, colour_offsets[i]
                    )
                )
            )
            for i, t in enumerate(tokens)
        ]
    )


def _model_vector(name: str, header: Header, tokens: list[np.ndarray], colour_offsets) -> dict[str, bytes]:

    frames = _frames(header, tokens, colour_offsets)
    data = _file(header, tokens, colour_offsets)
    return {
        name + ".tkc": data,
        name + ".rgb": frames.tobytes(),
        name + ".json": (
            json.dumps(
                {
                    **describe_valid(header, tokens, data),
                    "chunks": [chunk_entry(header, i, t, o) for i, (t, o) in enumerate(zip(tokens, colour_offsets))],
                    "model": {
                        "name": NAME,
                        "quantizer": "fsq",
                        "levels": list(LEVELS),
                        "frames_file": name + ".rgb",
                        "frames_shape": list(frames.shape),
                        "frames_layout": "uint8, frame, row, column, R G B",
                        "tolerance": TOLERANCE,
                    },
                }
            )
            + "\n"
        ).encode(),
    }


def build() -> dict[str, bytes]:

    files = {"model_latents.json": (json.dumps(_latents(), indent=1) + "\n").encode()}
    header = Header(
        width=20,
        height=12,
        frame_count=5,
        fps_num=25,
        fps_den=1,
        gop_length=5,
        model_name=NAME,
        weights_hash=ConformanceLinear.weights_sha256(),
        colour_primaries=1,
        transfer_characteristics=1,
        matrix_coefficients=1,
        display_width=30,
        display_height=17,
    )
    rng = np.random.default_rng(11)
    tokens = [rng.integers(0, 1 << BITS, size=header.latent_shape(5), dtype=np.int64)]
    files.update(_model_vector("model_fsq_20x12", header, tokens, [(0, 0, 0)]))
    alt = _frames(header, tokens, alt=True)  # the same tokens, drawn by a decoder entry (A.4, revision 1.5)
    files["model_decoder_20x12.rgb"] = alt.tobytes()
    files["model_decoder.json"] = (
        json.dumps(
            {
                "note": "model_fsq_20x12.tkc's tokens decoded with the decoder entry conformance-linear-alt, bound to "
                "the conformance model's weights_sha256 (A.4, A.5; revision 1.5); the file is unchanged",
                "file": "model_fsq_20x12.tkc",
                "decoder": "conformance-linear-alt",
                "base_sha256": ConformanceLinear.weights_sha256().hex(),
                "frames_file": "model_decoder_20x12.rgb",
                "frames_shape": list(alt.shape),
                "frames_layout": "uint8, frame, row, column, R G B",
                "tolerance": TOLERANCE,
            },
            indent=1,
        )
        + "\n"
    ).encode()
    broken = {
        "model_unknown": (
            Header(**{**vars(header), "model_name": "no-such-model"}),
            Err.MODEL_UNKNOWN,
            "names a model no decoder has",
        ),
        "model_hash": (
            Header(**{**vars(header), "weights_hash": bytes(32)}),
            Err.MODEL_HASH,
            f"names {NAME} with an all-zero weights_sha256",
        ),
        "model_mismatch": (
            Header(**{**vars(header), "temporal_stride": 2}),
            Err.MODEL_MISMATCH,
            f"names {NAME} (temporal stride 4) with temporal_stride 2",
        ),
        "model_quantizer": (
            Header(**{**vars(header), "quantizer": "lfq"}),
            Err.MODEL_MISMATCH,
            f"names {NAME} (FSQ [8]*6) with a QUAN record saying LFQ",
        ),
    }
    for name, (h, code, note) in broken.items():
        toks = [rng.integers(0, 1 << BITS, size=h.latent_shape(5), dtype=np.int64)]
        files[name + ".tkc"] = data = _file(h, toks)
        files[name + ".json"] = (
            json.dumps(
                {
                    **describe_valid(h, toks, data),
                    "valid": False,
                    "note": note + " (a valid container: tokens decode; frames do not)",
                    "model_error": error_entry(code),
                },
                indent=1,
            )
            + "\n"
        ).encode()
    two_gops = Header(**{**vars(header), "frame_count": 10})
    rng = np.random.default_rng(12)
    tokens = [rng.integers(0, 1 << BITS, size=two_gops.latent_shape(5), dtype=np.int64) for _ in range(2)]
    files.update(_model_vector("model_offset_20x12", two_gops, tokens, [(-128, 37, 127), (20, -7, 0)]))
    return files
