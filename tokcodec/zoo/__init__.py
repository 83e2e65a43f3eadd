"""The model zoo: shipped tokenizer weights as data, loading as one call.

`registry.json` maps a public model name to its architecture config, its
weight files (fp16 safetensors, at most 16 MiB each) with their sha256, and
its model card (a Markdown file plus the measured numbers). The CLI, the
benchmark and the tests all load models through `load_model`.

An entry may instead name another entry's weights (`weights_from`) and a
`coding_scale`: the same tokenizer, run on frames resized by that factor
(the container records the display size, SPEC 3.4). Such entries are the
rungs of the rate ladder: `ladder` lists entry names from the lowest rate to
the highest, and `--quality N` picks rung N (1-based).

Names: `tc-<generation>` is a tokenizer (`tc-small-1`: the MAGVIT-v2 family; `tc-2`: the patch family),
`tc-2.1` the same architecture trained longer (a new revision: new weights, new hash, the old files keep
decoding with the old entry), `-lfq` a variant with LFQ instead of FSQ, `-x<scale>` a rung of the rate
ladder (the same weights at that coding scale), `-sharp` a decoder-only entry (`decoders.py`) for that
model's tokens; `mlm-<tokenizer>` is the token prior of entropy mode 1 for that tokenizer, and
`conformance-*` the spec's conformance networks (bitstream_spec annexes A.5 and B.9).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from ..errors import ModelError

if TYPE_CHECKING:  # the registry is read without torch (`tokcodec info` lists decoders); loading imports it
    import torch

ZOO_DIR = Path(__file__).parent
MAX_SHARD_BYTES = 15 * 2**20


_selected_registry: Path | None = None  # use_zoo's; None: the shipped registry


def use_zoo(registry: str | Path | None) -> None:
    """Look models up in (and register them into) this registry file alone, instead of the shipped one and
    the companion's (your own models, or tests' tiny ones); None: back to those. For this process only:
    the transcoder and the benchmark pass it on to their workers; the command line sets it from
    TOKCODEC_ZOO."""
    global _selected_registry
    _selected_registry = Path(registry) if registry else None


def selected_zoo() -> str | None:
    """The registry use_zoo selected, as a path string a worker process can be given, or None (the shipped one)."""
    return str(_selected_registry) if _selected_registry is not None else None


def registry_path() -> Path:
    """The registry entries are written to: use_zoo's, else the shipped one."""
    return _selected_registry or ZOO_DIR / "registry.json"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config: object  # a family's config (tokcodec.models.FAMILIES)
    files: tuple[Path, ...]
    sha256: tuple[str, ...]
    card: dict  # training facts and measured metrics; card["path"] is the Markdown card
    coding_scale: float = 1.0  # frames are coded at this factor of their size, then resized back

    @functools.cached_property
    def weights_hash(self) -> bytes:
        """The container's weights_sha256 (files_hash of its weight files; computed once per entry: a batch
        asks for it per file)."""
        return files_hash(self.files)


def _update_from_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def read_registry(path: Path | None = None) -> dict:
    path = path or registry_path()
    if not path.exists():
        return {"default": None, "models": {}}
    return json.loads(path.read_text())


def registries() -> list[Path]:
    """The registries entries are looked up in, first match wins: use_zoo's alone when set; else the
    shipped one, then the companion package's (tokcodec.companion: the retired models), when present.
    Writing (register_*) goes to registry_path() only."""
    if _selected_registry is not None:
        return [_selected_registry]
    from ..companion import companion_dir

    extra = companion_dir()
    return [registry_path()] + ([extra / "registry.json"] if extra is not None else [])


def find_in_zoo(section: str, name: str) -> tuple[dict, Path] | None:
    """(entry dict, the folder its paths are relative to) of `name` in a registry section ("models",
    "priors", "decoders"), or None."""
    for path in registries():
        entries = read_registry(path).get(section, {})
        if name in entries:
            return entries[name], path.parent
    return None


def all_in_zoo(section: str) -> list[tuple[str, dict, Path]]:
    """Every (name, entry dict, folder) of a registry section, the first registry's first."""
    seen, found = set(), []
    for path in registries():
        for name, d in sorted(read_registry(path).get(section, {}).items()):
            if name not in seen:
                seen.add(name)
                found.append((name, d, path.parent))
    return found


def missing_entry(kind: str, name: str, known: list[str]) -> ModelError:
    """The error for a name the zoo lacks: a retired one names the companion package that has it."""
    from ..companion import INSTALL_HINT

    retired = read_registry(registry_path()).get("retired", {})
    if name in retired.get("models", []) + retired.get("priors", []):
        return ModelError(f"{kind} '{name}' is retired: it is in the companion package; {INSTALL_HINT}", 30)
    return ModelError(f"unknown {kind} '{name}' (shipped: {', '.join(sorted(known)) or 'none'})", 30)


def list_models() -> list[str]:
    return sorted(name for name, _, _ in all_in_zoo("models"))


def ladder() -> list[str]:
    """The rate ladder's entry names, lowest rate first (just the default model when none is listed)."""
    registry = read_registry()
    return list(registry.get("ladder") or ([registry["default"]] if registry.get("default") else []))


def ladder_entry(quality: int) -> str:
    """The entry name of rung `quality` (1 = lowest rate)."""
    rungs = ladder()
    if not 1 <= quality <= len(rungs):
        raise ModelError(f"quality {quality} out of range: the ladder has rungs 1..{len(rungs)}")
    return rungs[quality - 1]


def _weights_of(name: str, m: dict, root: Path) -> dict:
    """The entry holding `name`'s weight files: its own, or (a rung) its registry's `weights_from` entry."""
    source = m.get("weights_from", name)
    weights = read_registry(root / "registry.json")["models"].get(source)  # rungs share their registry's weights
    if weights is None or "files" not in weights:
        raise ModelError(f"model '{name}' has no weights (it names '{source}' for them)")
    return weights


def files_hash(paths) -> bytes:
    """SHA-256 over the files' bytes, concatenated in order: a container's weights_sha256 (SPEC 3.3).
    Remembered per (path, size, mtime) in this process: every rung of a ladder names the same files."""
    stamps = tuple((str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths)
    return _hash_of(stamps)


@functools.lru_cache(maxsize=64)
def _hash_of(stamps: tuple) -> bytes:
    h = hashlib.sha256()
    for path, _, _ in stamps:
        _update_from_file(h, path)
    return h.digest()


def model_weights_hash(name: str) -> bytes | None:
    """The weights_sha256 of zoo model `name` from its registry entry alone (no torch), or None."""
    found = find_in_zoo("models", name)
    if found is None:
        return None
    m, root = found
    return files_hash(root / f for f in _weights_of(name, m, root)["files"])


def get_entry(name: str = "default") -> ModelEntry:
    path = registry_path()
    if name == "default":
        name = read_registry(path).get("default") or ""
        if not name:
            raise ModelError(f"no default model in the zoo ({path})")
    found = find_in_zoo("models", name)
    if found is None:
        raise missing_entry("model", name, [n for n in list_models()])
    m, root = found
    weights = _weights_of(name, m, root)
    from ..models import config_from_dict

    return ModelEntry(
        name,
        config_from_dict(weights["config"]),
        tuple(root / f for f in weights["files"]),
        tuple(weights["sha256"]),
        m.get("card", {}),
        float(m.get("coding_scale", 1.0)),
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    _update_from_file(h, path)
    return h.hexdigest()


def load_state(entry: ModelEntry) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for path, expected in zip(entry.files, entry.sha256):
        if not path.exists():
            raise ModelError(f"weights of model '{entry.name}' missing: {path}")
        if sha256_file(path) != expected:
            raise ModelError(f"weights of model '{entry.name}' do not match their sha256: {path}")
        try:
            state.update(load_file(str(path)))
        except Exception as e:  # safetensors' errors (a pickle, a truncated header) are not ours to report as bugs
            raise ModelError(
                f"weights of model '{entry.name}' are not a safetensors file ({path}: {str(e).splitlines()[0][:200]})"
            ) from None
    return state


def load_model(name: str = "default", device: str = "cpu") -> tuple[torch.nn.Module, ModelEntry]:
    """The named shipped tokenizer in eval mode, sha256-checked: fp32 weights, its networks run at the
    process's precision (tokcodec.precision.use_precision; float32 unless set)."""
    entry = get_entry(name)
    from ..models import build_tokenizer
    from ..precision import autocast_dtypes, selected_precision

    model = build_tokenizer(entry.config)
    try:
        model.load_state_dict({k: v.float() for k, v in load_state(entry).items()})
    except RuntimeError as e:
        raise ModelError(f"weights of model '{entry.name}' do not fit its config: {str(e).splitlines()[0]}") from None
    model.autocast_dtypes = autocast_dtypes(selected_precision(), device)
    return model.to(device).eval(), entry


def export_weights(state: dict[str, torch.Tensor], out_dir: Path, name: str) -> list[Path]:
    """Write a state dict as fp16 safetensors shards of at most MAX_SHARD_BYTES."""
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch
    from safetensors.torch import save_file

    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in state.items():
        value = value.detach().to("cpu", torch.float16).contiguous()
        nbytes = value.numel() * 2
        if shards[-1] and size + nbytes > MAX_SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    paths = []
    for i, shard in enumerate(shards):
        path = out_dir / (
            f"{name}.safetensors" if len(shards) == 1 else f"{name}-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        )
        save_file(shard, str(path))
        paths.append(path)
    return paths


def refuse_replacing(kind: str, name: str, section: dict, replace: bool) -> None:
    """Files name their model and prior (SPEC 3.3, A.4): new weights under an old name would make
    every file written with the old ones undecodable (error 31), so replacing needs `replace`."""
    if name in section and not replace:
        raise ModelError(
            f"the zoo already has a {kind} '{name}': files written with it name its weights, "
            "so new weights need a new name (or --replace, which breaks those files)"
        )


def register_model(
    name: str, config, state: dict[str, torch.Tensor], card: dict, make_default: bool = False, replace: bool = False
) -> ModelEntry:
    """Export weights into the zoo (registry_path()'s folder) and add the entry (`replace`: replace it)."""
    path = registry_path()
    registry = read_registry(path)
    refuse_replacing("model", name, registry["models"], replace)
    files = export_weights(state, path.parent / "weights", name)
    registry["models"][name] = {
        "config": config.to_dict(),
        "files": [str(f.relative_to(path.parent)) for f in files],
        "sha256": [sha256_file(f) for f in files],
        "card": card,
    }
    if make_default or not registry.get("default"):
        registry["default"] = name
    path.write_text(json.dumps(registry, indent=2) + "\n")
    return get_entry(name)
