#!/usr/bin/env bash
# tc-2.1's own decoder on the benchmark clips: the default rung with DISTS, the other rungs without
# run with OMP_NUM_THREADS=1 on a CPU shared with training and a fuzzer (2026-12-03): the fps fields are not speeds
set -e
cd "$(git rev-parse --show-toplevel)"
D=../shared/data/video
CLIPS="$D/davis_rollercoaster.mp4 $D/intel_bottle-detection.mp4 $D/intel_car-detection.mp4 $D/intel_one-by-one-person-detection.mp4 $D/cityCC0.mpg $D/vtest.avi $D/VID_20191220_170832.mp4 $D/node-opencv_motion.mov"
OUT=~/tokcodec-runs/evals
[ -f $OUT/own-q4.json ] || tokcodec eval $CLIPS --size 640x360 --frames 33 --gop 17 --device cpu -q -o $OUT/own-q4.json
for q in 1 2 3 5; do
  [ -f $OUT/own-q$q.json ] || tokcodec eval $CLIPS --quality $q --no-dists --size 640x360 --frames 33 --gop 17 --device cpu -q -o $OUT/own-q$q.json
done
