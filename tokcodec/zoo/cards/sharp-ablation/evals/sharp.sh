#!/usr/bin/env bash
# the sharp decoder (the zoo entry) on the benchmark clips: the default rung with DISTS, the other rungs without
# run with OMP_NUM_THREADS=1 on a CPU shared with training and a fuzzer (2026-12-03): the fps fields are not speeds
set -e
cd "$(git rev-parse --show-toplevel)"
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
OUT=~/tokcodec-runs/evals
for q in 1 2 3 5; do
  [ -f $OUT/tc-2.1-sharp-q$q.json ] || tokcodec eval $CLIPS --quality $q --decoder tc-2.1-sharp --no-dists --size 640x360 --frames 33 --gop 17 --device cpu -q -o $OUT/tc-2.1-sharp-q$q.json
done
[ -f $OUT/tc-2.1-sharp-q4.json ] || tokcodec eval $CLIPS --decoder tc-2.1-sharp --size 640x360 --frames 33 --gop 17 --device cpu -q -o $OUT/tc-2.1-sharp-q4.json
