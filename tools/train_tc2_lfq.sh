#!/usr/bin/env bash
# The LFQ twin of tc-2's image stage: same architecture, data and schedule, LFQ instead of FSQ
# (the issue's quantizer comparison, about an hour on 2 threads). Resumable like train_tc2.sh.
# Usage: tools/train_tc2_lfq.sh [RUNS=~/tokcodec-runs/tc-2-lfq] [THREADS=2] [BANK=~/tokcodec-runs/tc-2/data_bank.pt]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-$HOME/tokcodec-runs/tc-2-lfq}
export OMP_NUM_THREADS=${2:-2}
BANK=${3:-$HOME/tokcodec-runs/tc-2/data_bank.pt}
mkdir -p "$RUNS"
tokcodec train tokenizer --config tokcodec/zoo/recipes/tc-2-lfq-image.json --run-dir "$RUNS/image" --data-cache "$BANK"
