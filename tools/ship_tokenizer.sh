#!/usr/bin/env bash
# Ship a tc-2 training run as the default tokenizer, and everything that depends on it:
#   1. export the run's best checkpoint into the zoo as NEW (fp16 safetensors)
#   2. make NEW the default and build its rate ladder (NEW-x0.375 ... NEW-x1.5)
#   3. train its token prior (entropy mode 1), warm-started from the previous prior's run
#   4. export the prior as mlm-NEW
#   5. measure: tokcodec eval (the card's 8 clips), the prior's bench, the full benchmark
# Every step is skipped when its output is already there, so re-running the same
# command after an interruption carries on. Nothing is committed: read the numbers,
# write cards/NEW.md and cards/mlm-NEW.md, then commit.
# Usage: tools/ship_tokenizer.sh NEW [RUNS=~/tokcodec-runs/tc-2] [THREADS=2] [PRIOR_STEPS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${1:?usage: tools/ship_tokenizer.sh NEW [RUNS] [THREADS] [PRIOR_STEPS]}
RUNS=${2:-$HOME/tokcodec-runs/tc-2}
export OMP_NUM_THREADS=${3:-2}
PRIOR_STEPS=${4:-2000}
PRIOR_RUN="$(dirname "$RUNS")/mlm-$NEW"
PREVIOUS_PRIOR="$(dirname "$RUNS")/mlm/best.pt"
CARDS=tokcodec/zoo/cards
# The benchmark's clips, as paths from the repository root (config.json's data_root is relative to benchmarks/)
mapfile -t CLIPS < <(python -c "import json, os; c = json.load(open('benchmarks/config.json'))
print('\n'.join(os.path.normpath(os.path.join('benchmarks', c['data_root'], clip)) for clip in c['clips']))")
in_zoo() { python -c "import json,sys; r=json.load(open('tokcodec/zoo/registry.json')); sys.exit(0 if '$2' in r['$1'] else 1)"; }
step() { echo; echo "== $(date +%H:%M:%S) $*"; }

if ! in_zoo models "$NEW"; then
    step "export $RUNS/video best.pt as $NEW"
    # The facts that do not change with the run (data, hardware, stages) come from tc-2's entry;
    # the video stage's steps, step time and config are added by the export from the checkpoint,
    # the image stage's step time (the start of the lineage) is read here.
    python - "$NEW" "$RUNS" > "/tmp/$NEW-card.json" <<'EOF'
import json, sys
import torch
new, runs = sys.argv[1:]
tc2 = json.load(open("tokcodec/zoo/registry.json"))["models"]["tc-2"]["card"]
keep = ("summary", "hardware", "data", "validation_clips", "stages")
image = torch.load(f"{runs}/image/best.pt", map_location="cpu", weights_only=True)
video = torch.load(f"{runs}/video/best.pt", map_location="cpu", weights_only=True)
lineage = {"image_stage_steps": image["step"], "image_stage_train_seconds": round(image["train_seconds"]),
           "hours": round((image["train_seconds"] + video["train_seconds"]) / 3600, 2)}
print(json.dumps({**{k: tc2[k] for k in keep}, "lineage": lineage, "path": f"cards/{new}.md"}, indent=1))
EOF
    tokcodec train export "$RUNS/video" --name "$NEW" --checkpoint best --card "/tmp/$NEW-card.json"
fi

if [ "$(python -c "import json; print(json.load(open('tokcodec/zoo/registry.json'))['default'])")" != "$NEW" ]; then
    step "default and ladder: $NEW"
    python tools/register_ladder.py "$NEW"
fi

if ! in_zoo priors "mlm-$NEW"; then
    step "token prior for $NEW: $PRIOR_STEPS steps in $PRIOR_RUN"
    init=()
    [ -f "$PREVIOUS_PRIOR" ] && init=(--init-from "$PREVIOUS_PRIOR")
    tokcodec train mlm --config tokcodec/zoo/recipes/mlm-tc-2.json --tokenizer "$NEW" --run-dir "$PRIOR_RUN" \
        --data-cache "$RUNS/data_bank.pt" --steps "$PRIOR_STEPS" "${init[@]}"
    # the card records the command as anyone would type it: ~ for this machine's home
    command="tokcodec train mlm --config tokcodec/zoo/recipes/mlm-tc-2.json --tokenizer $NEW --run-dir $PRIOR_RUN --data-cache $RUNS/data_bank.pt --steps $PRIOR_STEPS ${init[*]}"
    cat > "/tmp/mlm-$NEW-card.json" <<EOF
{"summary": "Token prior (entropy mode 1) of $NEW: the architecture of mlm-tc-2, retrained on $NEW's tokens",
 "tokenizer": "$NEW (and every rung of its ladder: same weights)",
 "recipe": "recipes/mlm-tc-2.json",
 "command": "${command//$HOME/\~}",
 "path": "cards/mlm-$NEW.md"}
EOF
    tokcodec train export-mlm "$PRIOR_RUN" --name "mlm-$NEW" --card "/tmp/mlm-$NEW-card.json"
fi

if [ ! -f "$CARDS/$NEW.eval.json" ]; then
    step "tokcodec eval: 8 benchmark clips, mode 0, GOP 17"
    tokcodec eval "${CLIPS[@]}" --model "$NEW" --size 640x360 --frames 33 --gop 17 \
        --device cpu -o "$CARDS/$NEW.eval.json"
fi

if [ ! -f "$CARDS/mlm-$NEW.eval.json" ]; then
    step "the prior on the benchmark clips"
    python -m tokcodec.bench.prior --model "$NEW" --steps 1,2,4 --threads "$OMP_NUM_THREADS" -o "$CARDS/mlm-$NEW.eval.json"
    python tools/prior_card.py "$CARDS/mlm-$NEW.eval.json" > "$CARDS/mlm-$NEW.tables.md"
fi

step "benchmark: the ladder's rungs in modes 0 and 1 (anchors seeded from the committed results)"
# The speed pass names the rungs it times at 1080p: point it at the new ladder (a text edit, so
# the file keeps its layout).
python - <<'EOF'
import json
path = "benchmarks/config.json"
text, config = open(path).read(), json.load(open(path))
ladder = json.load(open("tokcodec/zoo/registry.json"))["ladder"]
for size in config["speed"]["sizes"]:
    if "models" in size:
        text = text.replace(json.dumps(size["models"]), json.dumps(ladder))
open(path, "w").write(text)
EOF
tokcodec bench --config benchmarks/config.json -o benchmarks/results --cache bench_cache \
    --seed-from benchmarks/results --seed-speed always -j 2
python tools/ladder_cards.py
step "done: write $CARDS/$NEW.md and $CARDS/mlm-$NEW.md from the numbers above, update the README, commit"
