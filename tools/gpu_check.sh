#!/usr/bin/env bash
# The device check of mode 1 (run it when `device` lends a GPU; about 2 minutes there):
# a clip encoded with the tokenizer on the GPU, in the default entropy mode, decodes on the CPU
# with every chunk's tokens CRC passing, in a fresh process with 1 thread and under
# ATEN_CPU_CAPABILITY=default (the prior runs on the CPU on both sides: only the tokens come from
# the GPU); then the CPU determinism matrix (tools/determinism_check.py) on the same machine.
# Usage: tools/gpu_check.sh [CLIP=examples/dog_320x180.mp4]   (prints one JSON line per check)
set -euo pipefail
cd "$(dirname "$0")/.."
CLIP=${1:-examples/dog_320x180.mp4}
OUT=${OUT:-$(mktemp -d)}
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
tokcodec encode "$CLIP" -o "$OUT/gpu.tkc" --device cuda --frames 17 -y -q --json
tokcodec encode "$CLIP" -o "$OUT/cpu.tkc" --device cpu --frames 17 -y -q --json
for env in "OMP_NUM_THREADS=1" "ATEN_CPU_CAPABILITY=default"; do
  env $env python - "$OUT/gpu.tkc" "$env" <<'PY'
import json, sys, zlib
from tokcodec.codec.tokens import iter_gops
tokens = b"".join(g.tokens.astype("<i8").tobytes() for g in iter_gops(sys.argv[1]))  # every tokens CRC checked
print(json.dumps({"file": "gpu.tkc", "decoded on": "cpu, " + sys.argv[2], "tokens_crc32": zlib.crc32(tokens)}))
PY
done
python tools/determinism_check.py "$CLIP" --frames 17 --size 320x176 --out "$OUT/cpu-det.tkc" | tail -3
cmp -s "$OUT/gpu.tkc" "$OUT/cpu.tkc" && echo '{"gpu and cpu files": "identical"}' || echo '{"gpu and cpu files": "differ (the tokenizer runs in float on each device; each file decodes exactly)"}'
