"""Make examples/dog_320x180.mp4, the bundled real clip (see examples/README.md).

    python examples/make_example.py [SOURCE] [OUTPUT]

SOURCE defaults to /work/shared/data/video/01_dog.mp4 (facebookresearch/sam2,
demo/data/gallery/01_dog.mp4). The first 33 frames are area-downscaled 4x to
320x180 and written with tokcodec's own mp4 writer (libx264 crf 12, 4:2:0,
tagged BT.709 limited range), keeping the source frame rate.
"""

import sys
from pathlib import Path

from tokcodec.io import open_writer, read_frames

NUM_FRAMES = 33  # 1 + 4k frames: one whole group for a temporal stride of 4
SIZE = (320, 180)


def main(source: str, output: str) -> None:
    frames, info = read_frames(source, max_frames=NUM_FRAMES, size=SIZE)
    with open_writer(output, *SIZE, fps=info.fps, force=True) as writer:
        for frame in frames:
            writer.write(frame)
    size = Path(output).stat().st_size
    print(f"{output}: {len(frames)} frames {SIZE[0]}x{SIZE[1]} at {info.fps} fps, {size} bytes")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    args = sys.argv[1:] + [None, None]
    main(args[0] or "/work/shared/data/video/01_dog.mp4", args[1] or str(here / "dog_320x180.mp4"))
