"""Token priors (the MLMs of entropy mode 1) in the zoo.

`registry.json` has a `priors` section: name -> config (models.mlm.MLMConfig,
with the SHA-256 of the tokenizer weights it models), one file of integer
weights (int32 safetensors: the weights *are* the integer network of
models.mlm_int, so every machine computes the same tables), its sha256 and a
card. The prior of a tokenizer is found by that tokenizer's weights hash, so
every rung of a ladder (same weights, other coding scale) shares it; where a
tokenizer has several, the card's `"default": true` marks the one new files use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..errors import ModelError
from ..models.mlm_layout import MLMConfig
from . import all_in_zoo, find_in_zoo, missing_entry, read_registry, refuse_replacing, registry_path, sha256_file


@dataclass(frozen=True)
class PriorEntry:
    name: str
    config: MLMConfig
    file: Path
    sha256: str
    card: dict

    @property
    def weights_hash(self) -> bytes:
        """The container's mlm_sha256: SHA-256 of the weights file (SPEC 3.3)."""
        return bytes.fromhex(self.sha256)


def _entry(name: str, d: dict, root: Path) -> PriorEntry:
    return PriorEntry(name, MLMConfig.from_dict(d["config"]), root / d["file"], d["sha256"], d.get("card", {}))


def get_prior(name: str) -> PriorEntry:
    found = find_in_zoo("priors", name)
    if found is None:
        raise missing_entry("token prior", name, [n for n, _, _ in all_in_zoo("priors")])
    return _entry(name, *found)


def list_priors() -> list[PriorEntry]:
    return [_entry(name, d, root) for name, d, root in all_in_zoo("priors")]


def prior_for(tokenizer_hash: bytes) -> PriorEntry | None:
    """The prior new files of the tokenizer with these weights are coded with, if it has one: the
    entry whose card says `"default": true`, else the first. (A file names its own prior, so files
    coded with another prior of the same tokenizer keep decoding with theirs.)"""
    candidates = [p for p in list_priors() if p.config.tokenizer_sha256 == tokenizer_hash.hex()]
    return next((p for p in candidates if p.card.get("default")), candidates[0] if candidates else None)


def load_prior(entry: PriorEntry):
    """The integer network of a prior (models.mlm_int.IntegerMLM), sha256-checked, then checked to be
    a prior at all (SPEC B.2, B.8: a file that is not is error 30) before anything is built from it."""
    from ..models.mlm_int import PRIOR_HEADER_MAX, IntegerMLM, prior_problem

    if not entry.file.exists():
        raise ModelError(f"weights of token prior '{entry.name}' missing: {entry.file}")
    if sha256_file(entry.file) != entry.sha256:
        raise ModelError(f"weights of token prior '{entry.name}' do not match their sha256: {entry.file}", 31)

    def not_a_prior(why: str) -> ModelError:
        return ModelError(f"token prior '{entry.name}' is not a valid prior ({why}): {entry.file}", 30)

    with open(entry.file, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < size <= PRIOR_HEADER_MAX:
            raise not_a_prior(f"a JSON header of {size} bytes, not 1..{PRIOR_HEADER_MAX}")
        try:
            metadata = json.loads(f.read(size)).get("__metadata__") or {}
            file_config = json.loads(metadata["config"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise not_a_prior("no configuration in its header") from None
    if file_config != entry.config.to_dict():
        raise not_a_prior("its configuration differs from the registry's")
    try:
        tensors = load_file(str(entry.file))
    except Exception as e:  # safetensors' own checks: offsets past the data, overlaps, unknown dtypes
        raise not_a_prior(f"unreadable: {str(e).splitlines()[0][:200]}") from None
    if (problem := prior_problem(entry.config, tensors)) is not None:
        raise not_a_prior(problem)
    return IntegerMLM(entry.config, tensors)


def register_prior(name: str, config: MLMConfig, tensors: dict, card: dict, replace: bool = False) -> PriorEntry:
    """Write integer weights into the zoo and add the registry entry (`replace`: replace it)."""
    path = registry_path()
    registry = read_registry(path)
    refuse_replacing("token prior", name, registry.get("priors", {}), replace)
    file = path.parent / "weights" / f"{name}.safetensors"
    file.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(file), metadata={"config": json.dumps(config.to_dict())}
    )
    registry.setdefault("priors", {})[name] = {
        "config": config.to_dict(),
        "file": str(file.relative_to(path.parent)),
        "sha256": sha256_file(file),
        "card": card,
    }
    path.write_text(json.dumps(registry, indent=2) + "\n")
    return get_prior(name)
