"""The patch family (tc-2): same promises as the MAGVIT-v2 family, plus streaming and FSQ."""

import pytest
import torch

from tokcodec.bench.macs import count_macs
from tokcodec.models import build_tokenizer, config_from_dict
from tokcodec.models.fsq import FSQ
from tokcodec.models.patch import PatchTokenizer, PatchTokenizerConfig

from conftest import jitter_weights

TINY = PatchTokenizerConfig(width_4=8, width_8=16, width_latent=32, enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 2))


def random_model(config=TINY, seed=0) -> PatchTokenizer:
    """Random weights everywhere (the zero-initialised convs too), so every path matters."""
    torch.manual_seed(seed)
    return jitter_weights(PatchTokenizer(config), seed)


@pytest.fixture(scope="module", params=["fsq", "lfq"])
def model(request):
    return random_model(PatchTokenizerConfig(**{**TINY.to_dict(), "quantizer": request.param}))


def clip(frames=9, h=32, w=48, seed=1):
    torch.manual_seed(seed)
    return torch.rand(1, 3, frames, h, w) * 2 - 1


def test_fsq_index_round_trip_covers_2_to_the_18():
    fsq = FSQ((8,) * 6)
    idx = torch.tensor([[0, 1, 8, 2**18 - 1, 123456]])
    values = fsq.indices_to_values(idx)
    assert values.shape == (1, 6, 5) and values.min() == -1 and values.max() == 0.75
    # latents that the bound maps exactly onto each value's level quantize back to the same index
    half, offset = 3.5 * (1 + 1e-3), 0.5
    z = torch.atanh((values * 4 + offset) / half) - torch.atanh(torch.tensor(offset / half))
    _, again, _ = fsq(z)
    assert torch.equal(again, idx)


def test_fsq_digit_order_is_channel_order():
    fsq = FSQ((8,) * 6)
    values = torch.full((1, 6, 1), -1.0)
    values[0, 0, 0] = -0.75  # digit 1 in channel 0 -> index 1
    values[0, 5, 0] = -0.5  # digit 2 in channel 5 -> 2 * 8^5
    idx = (((values * 4).round() + 4).long() * torch.tensor([8**i for i in range(6)]).view(1, 6, 1)).sum(1)
    assert idx.item() == 1 + 2 * 8**5
    assert torch.equal(fsq.indices_to_values(idx), values)


def test_shapes_and_range(model):
    tokens = model.encode(clip())
    assert tokens.shape == (1, 3, 4, 6) and tokens.dtype == torch.int64
    assert 0 <= tokens.min() and tokens.max() < 2**18
    assert model.decode(tokens).shape == (1, 3, 9, 32, 48)


def test_streaming_equals_whole_clip(model):
    x = clip(13)
    with torch.no_grad():
        recon, _, tokens = model(x)
    assert torch.equal(model.encode(x), tokens)
    assert torch.allclose(model.decode(tokens), recon, atol=1e-5)
    pieces = list(model.decode_stream(tokens))
    assert [p.shape[2] for p in pieces] == [1, 4, 4, 4]  # frame 0, then one latent frame at a time
    groups = [x[:, :, :1]] + [x[:, :, i : i + 4] for i in range(1, 13, 4)]
    assert torch.equal(model.encode_stream(iter(groups)), tokens)


def test_sampled_decode_is_every_fourth_frame(model):
    tokens = model.encode(clip(13))
    full, sampled = model.decode(tokens), torch.cat(list(model.decode_stream(tokens, sampled=True)), 2)
    assert sampled.shape[2] == 4
    assert torch.allclose(sampled, full[:, :, ::4], atol=1e-5)


def test_causal_in_time(model):
    x = clip(9)
    y = x.clone()
    y[:, :, 5:] = 0  # change the third latent group only
    a, b = model.encode(x), model.encode(y)
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.equal(a[:, 2], b[:, 2])
    da, db = model.decode(a), model.decode(b)
    assert torch.equal(da[:, :, :5], db[:, :, :5])


def test_image_is_a_one_frame_video(model):
    x = clip(5)
    assert torch.equal(model.encode(x[:, :, :1]), model.encode(x)[:, :1])
    tokens = model.encode(x)
    assert torch.allclose(model.decode(tokens[:, :1]), model.decode(tokens)[:, :, :1], atol=1e-6)


def test_frames_of_a_group_are_decoded_individually(model):
    """Motion is codable: the four frames of a group come out different, not one frame held."""
    frames = model.decode(model.encode(clip(5)))[0, :, 1:]
    for i in range(3):
        assert (frames[:, i] - frames[:, i + 1]).abs().max() > 1e-3


def test_config_round_trip_and_family_dispatch():
    d = TINY.to_dict()
    assert d["family"] == "patch" and config_from_dict(d) == TINY
    assert isinstance(build_tokenizer(config_from_dict(d)), PatchTokenizer)
    from tokcodec.models.tokenizer import TokenizerConfig

    assert config_from_dict(TokenizerConfig(channels=8).to_dict()).family == "magvit2"
    with pytest.raises(ValueError):
        PatchTokenizerConfig(fsq_levels=(8, 8, 8))


def test_mac_counter_counts_the_low_resolution_design():
    macs = count_macs(PatchTokenizer().eval(), 5, 64, 64)
    # stem, blocks at 1/4 and 1/8, fold, latent blocks: about 37k to encode and 54k to decode per pixel
    assert 30_000 < macs["encode_macs_per_pixel"] < 45_000
    assert 45_000 < macs["decode_macs_per_pixel"] < 65_000
    assert macs["decode_macs_per_pixel"] > macs["encode_macs_per_pixel"]


def test_memory_estimate_does_not_grow_with_the_gop():
    m = PatchTokenizer(TINY)
    small, large = m.coding_memory_bytes(5, 1088, 1920), m.coding_memory_bytes(65, 1088, 1920)
    assert large == small < 2 * 2**30  # coding streams one latent frame's group
    assert m.frames_held(65) == 4 and m.frames_held(1) == 1


def test_bf16_precision_runs_the_networks_in_bf16_and_hands_back_float32(model):
    """tokcodec.precision: each side's network autocasts to its dtype; the quantizer and the frames stay
    float32; tokens and frames stay close to float32's (the model here is random, so only roughly)."""
    x = clip()
    tokens = model.encode(x)
    frames = torch.cat(list(model.decode_stream(tokens)), 2)
    try:
        model.autocast_dtypes = {"encode": torch.bfloat16, "decode": None}
        assert torch.equal(torch.cat(list(model.decode_stream(tokens)), 2), frames)
        tokens_bf16 = model.encode(x)
        model.autocast_dtypes = {"encode": None, "decode": torch.bfloat16}
        assert torch.equal(model.encode(x), tokens)
        frames_bf16 = torch.cat(list(model.decode_stream(tokens)), 2)
        sampled_bf16 = torch.cat(list(model.decode_stream(tokens, sampled=True)), 2)
    finally:
        del model.autocast_dtypes
    assert tokens_bf16.dtype == torch.int64 and tokens_bf16.shape == tokens.shape
    assert (tokens_bf16 == tokens).float().mean() > 0.5
    assert frames_bf16.dtype == torch.float32 and frames_bf16.shape == frames.shape
    assert not torch.equal(frames_bf16, frames)  # it did run in bf16
    assert (frames_bf16 - frames).abs().mean() < 0.05 * frames.abs().mean()
    assert torch.equal(sampled_bf16, frames_bf16[:, :, ::4])


def test_precision_setting(monkeypatch):
    from tokcodec import precision
    from tokcodec.errors import InputError

    precision.use_precision(" BF16 ")
    assert precision.selected_precision() == "bf16"
    precision.use_precision(None)
    assert precision.selected_precision() == "fp32"
    with pytest.raises(InputError, match="precision 'fast': use one of fp32, auto, bf16"):
        precision.use_precision("fast")
    bf16 = torch.bfloat16
    assert precision.autocast_dtypes("fp32", "cpu") == {"encode": None, "decode": None}
    assert precision.autocast_dtypes("bf16", "cpu") == {"encode": bf16, "decode": bf16}
    for native, expected in ((True, bf16), (False, None)):  # auto: the encoding side, where it is native
        monkeypatch.setattr(precision, "bf16_supported", lambda device, native=native: native)
        assert precision.autocast_dtypes("auto", "cpu") == {"encode": expected, "decode": None}
