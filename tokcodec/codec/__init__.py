"""The container, its token packing and entropy coding, and the encode/decode pipeline."""

# What decoding does with a damaged or missing GOP (the first is the default): see
# pipeline.decode_frames. Here, not in pipeline, so the command line reads it without torch.
ON_DAMAGE = ("freeze", "skip", "stop")
