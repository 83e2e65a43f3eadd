#!/usr/bin/env bash
# The sharp-decoder ablation for tc-2.1 (decoder-only fine-tuning; recipes in tokcodec/zoo/recipes/sharp/),
# arm after arm; re-run the same command to resume (each arm resumes from RUNS/<arm>/last.pt).
# Usage: tools/train_sharp.sh [RUNS=~/tokcodec-runs/sharp] [THREADS=2] [MINUTES per arm=60]
# Results: python tools/learning_curve.py --separate --table RUNS/{l1,lpips,lpips-strong,gan,long}
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-$HOME/tokcodec-runs/sharp}
export OMP_NUM_THREADS=${2:-2}
MINUTES=${3:-60}
mkdir -p "$RUNS"
for arm in l1 lpips lpips-strong; do
  tokcodec train tokenizer --config "tokcodec/zoo/recipes/sharp/$arm.json" --run-dir "$RUNS/$arm" \
      --data-cache "$RUNS/data_bank.pt" --max-minutes "$MINUTES"
done
# the GAN arm starts from the LPIPS arm's best checkpoint (the recipe's init_from)
tokcodec train tokenizer --config tokcodec/zoo/recipes/sharp/gan.json --run-dir "$RUNS/gan" \
    --data-cache "$RUNS/data_bank.pt" --max-minutes "$MINUTES"
# the long run (tokcodec/zoo/cards/sharp-ablation/README.md: "The long run"); starts from the kept gan-best decoder
tokcodec train tokenizer --config tokcodec/zoo/recipes/sharp/long.json --run-dir "$RUNS/long" \
    --data-cache "$RUNS/data_bank.pt" --max-minutes "$MINUTES"
