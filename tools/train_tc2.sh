#!/usr/bin/env bash
# Train tc-2 on the CPU: image stage, then the video stage warm-started from it.
# Resumable: re-run the same command (each stage resumes from RUNS/<stage>/last.pt).
# Usage: tools/train_tc2.sh [RUNS=~/tokcodec-runs/tc-2] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-$HOME/tokcodec-runs/tc-2}
export OMP_NUM_THREADS=${2:-2}
mkdir -p "$RUNS"
BANK="$RUNS/data_bank.pt"
tokcodec train tokenizer --config tokcodec/zoo/recipes/tc-2-image.json --run-dir "$RUNS/image" --data-cache "$BANK"
tokcodec train tokenizer --config tokcodec/zoo/recipes/tc-2-video.json --run-dir "$RUNS/video" --data-cache "$BANK" \
    --init-from "$RUNS/image/best.pt"
