#!/usr/bin/env bash
# stage wide-b's selected decoder (best.pt: lowest LPIPS-alex on the held-out selection clips within
# tc-2.1's PSNR - 1 dB and flicker + 10% there) on the benchmark clips, registered in a scratch zoo as
# tc-2.1-sharp-2 (ninth session). Usage: evals/wide-b.sh CHECKPOINT OUT.json
set -e
cd "$(git rev-parse --show-toplevel)"
CKPT=${1:-~/tokcodec-runs/sharp/wide-b/best.pt}
OUT=${2:-tokcodec/zoo/cards/sharp-ablation/evals/wide-b-q4.json}
ZOO=/tmp/zoo-wide-b  # a scratch zoo: a copy of registry.json, weights/ linked file by file
rm -rf $ZOO && mkdir -p $ZOO/weights && cp tokcodec/zoo/registry.json $ZOO/
ln -s "$(pwd)"/tokcodec/zoo/weights/* $ZOO/weights/
python tools/export_decoder.py "$CKPT" --base tc-2.1 -o $ZOO/wide-b.decoder.safetensors
python tools/export_decoder.py $ZOO/wide-b.decoder.safetensors --base tc-2.1 --register tc-2.1-sharp-2 --zoo $ZOO/registry.json
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
TOKCODEC_ZOO=$ZOO/registry.json tokcodec eval $CLIPS --decoder tc-2.1-sharp-2 --size 640x360 --frames 33 --gop 17 --device cpu -q -o "$OUT"
