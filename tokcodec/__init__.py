"""tokcodec: a neural video codec (a causal video tokenizer, a token prior, a documented container).

The public API (tokcodec.api; docs/api.md):

    tokcodec.encode(src, dst, ...)  -> EncodeResult     a video, frame folder or image -> .tkc
    tokcodec.encode_frames(frames, info, dst, ...)      frames in memory -> .tkc
    tokcodec.decode(src, dst, ...)  -> DecodeResult     .tkc -> .mp4 / .mkv / .y4m / PNG
    tokcodec.open(path)             -> TkcFile          header, tokens per GOP, frames
    tokcodec.load_model(name)       -> (tokenizer, zoo entry)

and one call for each other command: tokcodec.transcode, export_tokens, train_tokenizer,
export_tokenizer, train_prior, export_prior, run_bench, and tokcodec.api.evaluate and
tokcodec.api.models (those two only through tokcodec.api: tokcodec.evaluate and tokcodec.models are
modules of the package).

Importing tokcodec is cheap: torch and the models load on first use.
"""

from __future__ import annotations

__all__ = [
    "encode",
    "encode_frames",
    "decode",
    "open",
    "load_model",
    "describe",
    "check_file",
    "transcode",
    "export_tokens",
    "train_tokenizer",
    "export_tokenizer",
    "train_prior",
    "export_prior",
    "run_bench",
    "resolve_device",
    "info_text",
    "batch_text",
    "models_text",
    "safe_text",
    "model_name",
    "ON_DAMAGE",
    "DECODE_TARGETS",
    "EncodeResult",
    "DecodeResult",
    "TkcFile",
]


def __getattr__(name: str):
    # Lazy: `import tokcodec` (e.g. for tokcodec.errors) must not import torch.
    if name == "api" or name in __all__:
        import importlib

        api = importlib.import_module("tokcodec.api")  # not `from . import api`: that asks this hook again
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'tokcodec' has no attribute {name!r}")
