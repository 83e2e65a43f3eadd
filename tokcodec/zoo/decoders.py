"""Decoder-only zoo entries: another decoder for the same tokens (SPEC 3.3, revision 1.5).

A tokenizer's tokens are fixed by its encoder and quantizer; its decoder is
one way of drawing frames from them. A decoder entry holds only `decoder.*`
tensors and names the tokenizer it decodes for (`base`, and that model's
weights hash, the `weights_sha256` of the files it can decode). Choosing one
is the reader's choice at decode time (`tokcodec decode --decoder NAME`): a
file is never rewritten, and decoding with its own model stays bit-identical.

A decoder may have another shape than the base model's own (`config`: the decoder keys of the base's
config it changes, e.g. {"dec_hidden_4": 128}); it still takes the same tokens.

registry.json:
    "decoders": {"tc-2.1-sharp": {"base": "tc-2.1", "base_sha256": "...", "file": "weights/...",
                                  "sha256": "...", "card": {...}, "config": {...} (optional)}}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import ModelError
from ..precision import autocast_dtypes, selected_precision
from . import (
    all_in_zoo,
    find_in_zoo,
    get_entry,
    load_model,
    read_registry,
    refuse_replacing,
    registry_path,
    sha256_file,
)


@dataclass(frozen=True)
class DecoderEntry:
    name: str
    base: str  # the zoo model whose encoder made the tokens
    base_sha256: str  # its weights hash: the weights_sha256 of the files this decoder can decode
    file: Path
    sha256: str
    card: dict
    config: dict = field(default_factory=dict)  # the base config's decoder keys this decoder changes

    @property
    def base_hash(self) -> bytes:
        return bytes.fromhex(self.base_sha256)


def _entry(name: str, d: dict, root: Path) -> DecoderEntry:
    return DecoderEntry(
        name, d["base"], d["base_sha256"], root / d["file"], d["sha256"], d.get("card", {}), d.get("config", {})
    )


def list_decoders() -> list[DecoderEntry]:
    return [_entry(n, d, root) for n, d, root in all_in_zoo("decoders")]


def get_decoder(name: str) -> DecoderEntry:
    found = find_in_zoo("decoders", name)
    if found is None:
        known = ", ".join(n for n, _, _ in all_in_zoo("decoders")) or "none"
        raise ModelError(
            f"unknown decoder '{name}' (shipped: {known}; `tokcodec info FILE` lists the decoders of a file)", 30
        )
    return _entry(name, *found)


def decoders_for(weights_hash: bytes) -> list[DecoderEntry]:
    """The decoder entries that decode the tokens of a tokenizer with these weights."""
    return [d for d in list_decoders() if d.base_hash == weights_hash]


def load_decoder(name: str, device: str = "cpu", model_name: str | None = None):
    """(model, its ModelEntry, DecoderEntry): the base tokenizer (or `model_name`, another zoo entry with
    the same weights: a rung of the rate ladder, which codes at another scale) with this entry's decoder
    tensors in place of its own, both files sha256-checked, in eval mode."""
    entry = get_decoder(name)
    model, base = load_model(model_name or entry.base, device="cpu")
    if base.weights_hash != entry.base_hash:
        raise ModelError(
            f"decoder '{name}' decodes the tokens of other '{entry.base}' weights "
            f"({entry.base_sha256[:12]}...) than {'the zoo' if model_name is None else repr(model_name)}'s",
            31,
        )
    if not entry.file.exists():
        raise ModelError(f"weights of decoder '{name}' missing: {entry.file}")
    if sha256_file(entry.file) != entry.sha256:
        raise ModelError(f"weights of decoder '{name}' do not match their sha256: {entry.file}", 31)
    try:
        tensors = load_file(str(entry.file))
    except Exception as e:  # not safetensors, offsets past the data: the file is not a decoder
        raise ModelError(
            f"weights of decoder '{name}' are not safetensors ({str(e).splitlines()[0][:200]})", 30
        ) from None
    if entry.config:
        model.decoder = _reshaped_decoder(model, entry)
    own = model.state_dict()
    wrong = [k for k, v in tensors.items() if not k.startswith("decoder.") or k not in own or v.shape != own[k].shape]
    if wrong or not tensors:
        raise ModelError(f"decoder '{name}' does not fit '{entry.base}' (tensor {wrong[0] if wrong else 'none'})", 32)
    with torch.no_grad():
        for k, v in tensors.items():
            own[k].copy_(v.float())
    model.autocast_dtypes = autocast_dtypes(selected_precision(), device)  # loaded on the CPU, runs on `device`
    return model.to(device).eval(), base, entry


def _reshaped_decoder(model, entry: DecoderEntry) -> torch.nn.Module:
    """A fresh decoder of the base model's class in the entry's shape (the base's config with the entry's
    decoder keys), which the entry's tensors then fill."""
    fields = model.config.to_dict()
    wrong = [k for k in entry.config if not k.startswith("dec_") or k not in fields]
    if wrong:
        raise ModelError(f"decoder '{entry.name}': config key {wrong[0]!r} is not a decoder key of '{entry.base}'", 32)
    try:
        model.config = dataclasses.replace(model.config, **entry.config)
        return type(model.decoder)(model.config)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"decoder '{entry.name}': config {entry.config} builds no decoder ({e})", 32) from None


def register_decoder(
    name: str,
    base: str,
    decoder: dict[str, torch.Tensor],
    card: dict,
    replace: bool = False,
    config: dict | None = None,
) -> DecoderEntry:
    """Write a decoder's tensors (fp16) into the zoo and add its entry."""
    path = registry_path()
    registry = read_registry(path)
    decoders = registry.setdefault("decoders", {})
    refuse_replacing("decoder", name, decoders, replace)
    if name in registry["models"]:
        raise ModelError(f"'{name}' already names a model in the zoo")
    base_entry = get_entry(base)
    file = path.parent / "weights" / f"{name}.decoder.safetensors"
    file.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.half().contiguous() for k, v in decoder.items()},
        str(file),
        metadata={
            "base": base_entry.name,
            "base_sha256": base_entry.weights_hash.hex(),
            **({"decoder_config": json.dumps(config)} if config else {}),
        },
    )
    decoders[name] = {
        "base": base_entry.name,
        "base_sha256": base_entry.weights_hash.hex(),
        "file": str(file.relative_to(path.parent)),
        "sha256": sha256_file(file),
        "card": card,
        **({"config": config} if config else {}),
    }
    path.write_text(json.dumps(registry, indent=2) + "\n")
    return get_decoder(name)
