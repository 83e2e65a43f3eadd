"""Rate-distortion and speed benchmark: tokcodec against HEVC (x265), VVC (vvenc), AV1 (SVT-AV1).

The pieces, in the order a run uses them:

- `datasets`: find clips (MCL-JCV raw `.yuv` named `name_WxH_fps.yuv`, any video
  file, a folder of frames), resize them to the benchmark size and build the
  one reference every codec gets (yuv420p, BT.709 limited range; its RGB
  conversion is the reference RGB).
- `anchors`: x265, vvenc and SVT-AV1 through the ffmpeg binary of the
  `imageio-ffmpeg` wheel, decoded with PyAV.
- `tokcodec_codec`: tokcodec itself, through the library or the CLI.
- `evaluate`: bpp from the bytes written, PSNR (RGB, Y), MS-SSIM, LPIPS-alex, VMAF.
- `runner`: the job list (codec x point x clip), a result cache so re-runs skip
  finished work, worker processes.
- `bdrate`, `report`, `plots`: BD-rate tables, CompressAI-like JSON, CSV, figures.

`tokcodec bench` (cli/bench.py) drives all of it; `benchmarks/` holds the fixed
configuration and the committed results.
"""
