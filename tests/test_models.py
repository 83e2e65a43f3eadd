"""The tokenizer's promises: causality, image == 1-frame video, LFQ bit order, shapes."""

import pytest
import torch

from tokcodec.models.causal import CausalConv3d, latent_for_frames
from tokcodec.models.lfq import LFQ, bits_to_indices, indices_to_bits
from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
from tokcodec.train.tokenizer import inflate_image_weights

from conftest import jitter_weights

TINY = TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2), res_blocks=1)


def random_tiny_model(seed: int = 0) -> Tokenizer:
    """A tiny tokenizer with random (not zero-initialised) weights everywhere, so every kernel slice matters."""
    torch.manual_seed(seed)
    return jitter_weights(Tokenizer(TINY), seed)


@pytest.fixture(scope="module")
def model():
    return random_tiny_model()


def test_lfq_bits_index_round_trip():
    idx = torch.randint(0, 2**18, (2, 3, 5, 7))
    bits = indices_to_bits(idx, 18)
    assert bits.shape == (2, 18, 3, 5, 7)
    assert set(bits.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(bits_to_indices(bits), idx)


def test_lfq_bit_order_is_channel_order():
    z = -torch.ones(1, 18, 1, 1, 1)
    z[0, 0] = 0.5  # channel 0 -> bit 0
    z[0, 17] = 2.0  # channel 17 -> bit 17
    _, idx, _ = LFQ(18).eval()(z)
    assert idx.item() == 1 + 2**17
    assert bits_to_indices(torch.zeros(1, 18, 1)).item() == 0  # 0 quantizes to -1 (bit off)


def test_lfq_losses_and_straight_through():
    lfq = LFQ(18).train()
    z = torch.randn(2, 18, 1, 4, 4, requires_grad=True)
    q, _, loss = lfq(z)
    assert torch.equal(q.detach().abs(), torch.ones_like(q))
    assert 0 < loss.per_sample_entropy < 18 * 0.6932
    assert 0 < loss.batch_entropy <= 18 * 0.6932 + 1e-4
    q.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))  # straight-through


def test_shapes_and_strides(model):
    assert TINY.spatial_stride == 8 and TINY.temporal_stride == 4
    x = torch.rand(1, 3, 9, 32, 40) * 2 - 1
    tokens = model.encode(x)
    assert tokens.shape == (1, 3, 4, 5) == (1, *TINY.latent_shape(9, 32, 40))
    assert tokens.dtype == torch.int64 and tokens.max() < 2**18 and tokens.min() >= 0
    assert model.decode(tokens).shape == x.shape
    with pytest.raises(ValueError):
        model.encode(torch.zeros(1, 3, 8, 32, 32))


def test_encoder_and_decoder_are_causal(model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 17, 32, 32) * 2 - 1
    y = x.clone()
    y[:, :, 9:] = torch.rand_like(y[:, :, 9:])  # change frames 9..16 (latents 3, 4)
    tx, ty = model.encode(x), model.encode(y)
    assert torch.equal(tx[:, :3], ty[:, :3])
    assert not torch.equal(tx[:, 3:], ty[:, 3:])
    ty[:, :3] = tx[:, :3]
    ty[:, 3:] = torch.randint(0, 2**18, ty[:, 3:].shape)
    dx, dy = model.decode(tx), model.decode(ty)
    assert torch.equal(dx[:, :, :9], dy[:, :, :9])  # frames 0..8 come from latents 0..2 only
    assert not torch.equal(dx[:, :, 9:], dy[:, :, 9:])


def test_image_is_a_one_frame_video(model):
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    video_tokens = model.encode(x)
    image_tokens = model.encode(x[:, :, :1])
    assert torch.equal(video_tokens[:, :1], image_tokens)
    video = model.decode(video_tokens)
    image = model.decode(image_tokens)
    assert torch.allclose(video[:, :, :1], image, atol=1e-5)


def test_single_frame_fast_path_equals_padded_conv():
    torch.manual_seed(0)
    conv = CausalConv3d(4, 6, stride=(2, 2))
    x = torch.randn(2, 4, 1, 9, 11)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1, 2, 0))
    assert torch.allclose(conv(x), conv.conv(padded), atol=1e-5)


def test_latent_for_frames_never_looks_ahead():
    z = torch.arange(3.0).view(1, 1, 3, 1, 1)
    mapped = latent_for_frames(z, 9).flatten().tolist()
    assert mapped == [0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_inflation_holds_the_image_model_over_each_group():
    m = random_tiny_model()
    frame = torch.rand(1, 3, 1, 16, 16) * 2 - 1
    image_recon = m.decode(m.encode(frame))
    inflate_image_weights(m)
    assert torch.equal(m.encode(frame), m.encode(frame))  # deterministic
    video = frame.repeat(1, 1, 5, 1, 1)
    tokens = m.encode(video)
    # A static video: every latent is the image's tokens, every decoded frame the image's reconstruction.
    assert torch.equal(tokens, m.encode(frame).expand_as(tokens))
    recon = m.decode(tokens)
    assert torch.allclose(recon, image_recon.expand_as(recon), atol=1e-4)
