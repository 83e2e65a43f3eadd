"""Video in and out: files, frame folders and images as RGB uint8 frames.

See docs/architecture.md (tokcodec/io) for the contract.

The names below load on first use: `tokcodec.io.atomic` (outputs, --force,
signals) is imported by the command line before any option is checked, and
must not pull in PyAV, numpy or torch.
"""

import importlib

_HOME = {
    "AtomicOutput": "atomic",
    "atomic_output": "atomic",
    "ColourInfo": "colour",
    "rgb_to_yuv": "colour",
    "rgb_to_yuv420": "colour",
    "yuv420_to_rgb": "colour",
    "yuv_to_rgb": "colour",
    "resize_area": "frames",
    "to_frames": "frames",
    "to_tensor": "frames",
    "VideoInfo": "video",
    "VideoReader": "video",
    "VideoWriter": "video",
    "open_video": "video",
    "open_writer": "video",
    "read_frames": "video",
}


def __getattr__(name):
    if name not in _HOME:
        raise AttributeError(f"module 'tokcodec.io' has no attribute '{name}'")
    return getattr(importlib.import_module(f"tokcodec.io.{_HOME[name]}"), name)


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
