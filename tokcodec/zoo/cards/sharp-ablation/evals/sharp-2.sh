#!/usr/bin/env bash
# tc-2.1-sharp-2 (the zoo entry) on the benchmark clips at the other rungs of the ladder, without DISTS
# (the default rung with DISTS: blend-select.sh, tc-2.1-sharp-2-q4.json, the same tensors); ninth session,
# 2 threads, a paused training run beside it
set -e
cd "$(git rev-parse --show-toplevel)"
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
OUT=tokcodec/zoo/cards/sharp-ablation/evals
for q in ${RUNGS:-1 2 3 5}; do
  [ -f $OUT/tc-2.1-sharp-2-q$q.json ] || tokcodec eval $CLIPS --quality $q --decoder tc-2.1-sharp-2 --no-dists --size 640x360 --frames 33 --gop 17 --device cpu -q -o $OUT/tc-2.1-sharp-2-q$q.json
done
