"""Video in and out: files, frame folders and images as RGB uint8 frames.

See docs/architecture.md (tokcodec/io) for the contract.
"""

from tokcodec.io.atomic import AtomicOutput, atomic_output
from tokcodec.io.colour import ColourInfo, rgb_to_yuv, rgb_to_yuv420, yuv420_to_rgb, yuv_to_rgb
from tokcodec.io.frames import resize_area, to_frames, to_tensor
from tokcodec.io.video import VideoInfo, VideoReader, VideoWriter, open_video, open_writer, read_frames

__all__ = [
    "AtomicOutput",
    "ColourInfo",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_output",
    "open_video",
    "open_writer",
    "read_frames",
    "resize_area",
    "rgb_to_yuv",
    "rgb_to_yuv420",
    "to_frames",
    "to_tensor",
    "yuv420_to_rgb",
    "yuv_to_rgb",
]
