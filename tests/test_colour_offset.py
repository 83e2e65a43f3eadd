"""The per-GOP colour offset (SPEC 4.1, A.3) and the streaming pipeline around it."""

import numpy as np
import torch

from tokcodec.codec import colour_offset
from tokcodec.codec.container import ContainerReader
from tokcodec.codec.pipeline import GopRead, gop_coding_bytes, gop_groups
from tokcodec.evaluate import code_frames, colour_bias
from tokcodec.zoo import load_model


def flat_clip(frames=9, colour=(140, 120, 125), h=48, w=64, seed=0):
    """A flat colour with a little noise: the tiny random model decodes it some levels off its mean
    (within the offset's +-32 levels)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-6, 7, size=(frames, h, w, 3))
    return list(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8))


def test_offset_brings_the_decoded_mean_to_the_source(zoo):
    model, entry = load_model("tiny")
    video = flat_clip()
    data, plain, _ = code_frames(video, model, entry, gop=5, fix_colour=False)
    reader = ContainerReader(data)
    assert [reader.colour_offset(i) for i in range(2)] == [(0, 0, 0)] * 2
    data, fixed, _ = code_frames(video, model, entry, gop=5)
    reader = ContainerReader(data)
    offsets = [reader.colour_offset(i) for i in range(2)]
    source = np.stack(video)
    # the estimate uses GOP frames 0, 4, 8, ...: on those, the mean lands within rounding (1/8 level)
    # (GOP 0; GOP 1's frames 5-8 are padded to 5-9 and its sample is the padding frame 9)
    assert max(abs(b) for b in colour_bias(source[[0, 4]], np.stack(fixed)[[0, 4]])) < 0.3
    before, after = colour_bias(source, np.stack(plain)), colour_bias(source, np.stack(fixed))
    assert max(abs(b) for b in before) > 3  # the random model has a cast ...
    assert max(abs(a) for a in after) < max(abs(b) for b in before) / 2  # ... the offsets cut (its frames vary)
    assert len(offsets) == 2 and any(o != (0, 0, 0) for o in offsets)
    # the offset is a quarter-level shift of the same decoded frames, never a different picture
    shift = (np.stack(fixed).astype(float) - np.stack(plain)).mean((0, 1, 2))
    assert np.allclose(shift, np.mean(offsets, 0) / 4, atol=0.6)


def test_offset_estimate_saturates_at_the_field_range():
    class Black(torch.nn.Module):
        def decode_stream(self, tokens, sampled):
            yield -torch.ones(1, 3, tokens.shape[1], 16, 16)

    white = torch.ones(2, 3, dtype=torch.float64)
    assert colour_offset.estimate(Black(), torch.zeros(1, 2, 2, 2), white, 16, 16) == (127, 127, 127)


def test_gop_groups_reads_frames_only_as_the_model_asks(zoo):
    model, _ = load_model("tiny")
    taken = []
    frames = (taken.append(i) or f for i, f in enumerate(flat_clip(frames=20)))
    read = GopRead()
    groups = gop_groups(frames, 17, model, read=read)
    first = next(groups)
    assert first.shape[2] == 1 and len(taken) == 1
    second = next(groups)
    assert second.shape[2] == 4 and len(taken) == 5
    rest = list(groups)
    assert len(rest) == 3 and len(taken) == 17 and read.frames == 17  # the GOP ends; frame 17 stays unread
    assert len(read.sampled_means) == 5


def test_short_gop_is_padded_with_its_last_frame(zoo):
    model, _ = load_model("tiny")
    video = flat_clip(frames=7)
    read = GopRead()
    groups = list(gop_groups(iter(video), 17, model, read=read))
    assert [g.shape[2] for g in groups] == [1, 4, 4] and read.frames == 7
    assert torch.equal(groups[-1][:, :, 1], groups[-1][:, :, 3])  # frames 6, 6, 6 after frame 5


def test_patch_family_memory_does_not_depend_on_the_gop():
    from tokcodec.models.patch import PatchTokenizer

    model = PatchTokenizer()
    assert gop_coding_bytes(model, 5, 1920, 1080) == gop_coding_bytes(model, 65, 1920, 1080)
