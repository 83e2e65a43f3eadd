#!/usr/bin/env bash
# Ninth session: the point on the line from tc-2.1's own decoder (alpha 0) to tc-2.1-sharp (alpha 1) chosen
# on the held-out selection clips of recipes/sharp/wide-b.json (lowest LPIPS-alex with PSNR >= tc-2.1's - 1 dB
# and flicker <= tc-2.1's + 10% there), then measured on the benchmark clips, registered in a scratch zoo.
set -e
cd "$(git rev-parse --show-toplevel)"
E=tokcodec/zoo/cards/sharp-ablation/evals
R=tokcodec/zoo/recipes/sharp/wide-b.json
python tools/decoder_blend.py tc-2.1-sharp --recipe $R --alpha 0.8 --alpha 0.85 --alpha 0.9 --alpha 0.92 --alpha 0.94 --alpha 0.95 --alpha 1.0 --json $E/blend-select-sel.json
ALPHA=${ALPHA:-0.92}  # the selection's pick
ZOO=/tmp/zoo-blend  # a scratch zoo: a copy of registry.json, weights/ linked file by file
rm -rf $ZOO && mkdir -p $ZOO/weights && cp tokcodec/zoo/registry.json $ZOO/
ln -s "$(pwd)"/tokcodec/zoo/weights/* $ZOO/weights/
python tools/decoder_blend.py tc-2.1-sharp --save $ALPHA -o $ZOO/sharp-$ALPHA.decoder.safetensors
python tools/export_decoder.py $ZOO/sharp-$ALPHA.decoder.safetensors --base tc-2.1 --register sharp-$ALPHA --zoo $ZOO/registry.json
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
TOKCODEC_ZOO=$ZOO/registry.json tokcodec eval $CLIPS --decoder sharp-$ALPHA --size 640x360 --frames 33 --gop 17 --device cpu -q -o $E/tc-2.1-sharp-2-q4.json  # the pick, shipped as tc-2.1-sharp-2 (the same tensors)
