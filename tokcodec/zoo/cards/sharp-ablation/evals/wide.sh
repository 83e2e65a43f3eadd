#!/usr/bin/env bash
# the wide stage's selected decoder (step 1300) on the benchmark clips, registered in a scratch zoo as tc-2.1-sharp-2 (eighth session)
set -e
cd "$(git rev-parse --show-toplevel)"
RUN=~/tokcodec-runs/sharp/wide
python tools/export_decoder.py $RUN/best.pt --base tc-2.1 -o tokcodec/zoo/cards/sharp-ablation/wide-best-decoder.fp16.safetensors
python tools/export_decoder.py tokcodec/zoo/cards/sharp-ablation/wide-best-decoder.fp16.safetensors --base tc-2.1 --register tc-2.1-sharp-2 --zoo /tmp/zoo-s8/registry.json  # a scratch zoo: a copy of registry.json, weights/ linked file by file
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
TOKCODEC_ZOO=/tmp/zoo-s8/registry.json tokcodec eval $CLIPS --decoder tc-2.1-sharp-2 --size 640x360 --frames 33 --gop 17 --device cpu -q -o tokcodec/zoo/cards/sharp-ablation/evals/wide-1300-q4.json
