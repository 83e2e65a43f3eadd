"""Shared pytest fixtures. Tests must not need /work/shared: they generate their
inputs or use the clip bundled in examples/."""

import os
from pathlib import Path

import numpy as np
import pytest

from tokcodec.precision import use_precision

REPO = Path(__file__).resolve().parent.parent


# Every test runs the tokenizers in float32 (the default; tokcodec.precision), in process and in the
# commands it runs, even where the environment says otherwise, so that the suite gives the same results
# on every CPU; session fixtures too, hence here. The tests of precision set their own.
os.environ["TOKCODEC_PRECISION"] = "fp32"
use_precision("fp32")


@pytest.fixture(autouse=True)
def float32_tokenizers(monkeypatch):
    """Back to float32 after a test that set another precision."""
    from tokcodec import precision

    monkeypatch.setenv("TOKCODEC_PRECISION", "fp32")
    monkeypatch.setattr(precision, "_selected", "fp32")


@pytest.fixture
def make_clip():
    """make_clip(num_frames=5, height=48, width=64) -> list of RGB uint8 frames:
    smooth colour gradients with a soft disc moving across, so lossy codecs
    round-trip them closely and every frame differs."""

    def make(num_frames: int = 5, height: int = 48, width: int = 64) -> list[np.ndarray]:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        frames = []
        for t in range(num_frames):
            cx, cy = width * (0.3 + 0.1 * t), height * 0.5
            disc = np.clip(1.0 - np.hypot(xx - cx, yy - cy) / (0.3 * height), 0.0, 1.0)
            r = 40 + 150 * xx / width + 60 * disc
            g = 30 + 120 * yy / height + 20 * t
            b = 200 - 100 * disc - 40 * xx / width
            frames.append(np.clip(np.stack([r, g, b], axis=-1), 0, 255).round().astype(np.uint8))
        return frames

    return make


@pytest.fixture
def example_clip() -> Path:
    """The bundled real clip: 33 frames, 320x180, 30000/1001 fps, BT.709."""
    return REPO / "examples" / "dog_320x180.mp4"


def select_zoo(mp, registry) -> None:
    """Select a zoo registry (None: the shipped one) for this test: in process (tokcodec.zoo.use_zoo) and,
    through TOKCODEC_ZOO, for the commands it runs; `mp` (a MonkeyPatch) undoes both afterwards."""
    import tokcodec.zoo

    if registry is None:
        mp.delenv("TOKCODEC_ZOO", raising=False)
    else:
        mp.setenv("TOKCODEC_ZOO", str(registry))
    mp.setattr(tokcodec.zoo, "_selected_registry", None if registry is None else Path(registry))


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """A zoo holding one tiny random tokenizer ('tiny', the default there), selected
    through TOKCODEC_ZOO for the whole session: fast CLI and pipeline tests."""
    import torch

    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model

    registry = tmp_path_factory.mktemp("zoo") / "registry.json"
    with pytest.MonkeyPatch.context() as mp:
        select_zoo(mp, str(registry))
        torch.manual_seed(0)
        model = Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)))
        register_model("tiny", model.config, model.state_dict(), {"stage": "test"}, make_default=True)
        yield registry


@pytest.fixture
def zoo(tiny_zoo, monkeypatch):
    """The tiny zoo for this test (TOKCODEC_ZOO set for it and the commands it runs)."""
    select_zoo(monkeypatch, str(tiny_zoo))
    return tiny_zoo


def write_clip(path, frames, fps=25, force=False):
    """Write RGB frames to `path` (any output tokcodec.io writes: .mkv is lossless) and return the path."""
    from tokcodec.io import open_writer

    h, w = frames[0].shape[:2]
    with open_writer(path, w, h, fps, force=force) as writer:
        for f in frames:
            writer.write(f)
    return path


def jitter_weights(model, seed: int = 0, scale: float = 0.05):
    """Random weights everywhere (zero-initialised convs too), so every path of a test model matters."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model.eval()


def tiny_prior_model(seed: int = 0, tokenizer_sha256: str = ""):
    """A small random token prior (float TokenMLM) with every weight mattering."""
    import torch

    from tokcodec.models.mlm import MLMConfig, TokenMLM

    torch.manual_seed(seed)
    model = TokenMLM(MLMConfig(dim=16, depth=2, heads=2, mlp=2, tokenizer_sha256=tokenizer_sha256))
    jitter_weights(model, seed, scale=0.2)
    return model


@pytest.fixture(scope="session")
def prior_zoo_path(tmp_path_factory):
    """A zoo with the tiny tokenizer (the same weights as tiny_zoo's) and a tiny prior for it:
    entropy mode 1 is the default there."""
    import torch

    from tokcodec.models.mlm_int import integer_tensors
    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig
    from tokcodec.zoo import register_model
    from tokcodec.zoo.priors import register_prior

    registry = tmp_path_factory.mktemp("prior_zoo") / "registry.json"
    with pytest.MonkeyPatch.context() as mp:
        select_zoo(mp, str(registry))
        torch.manual_seed(0)
        model = Tokenizer(TokenizerConfig(channels=8, channel_mults=(1, 2, 2, 2)))
        entry = register_model("tiny", model.config, model.state_dict(), {"stage": "test"}, make_default=True)
        prior = tiny_prior_model(tokenizer_sha256=entry.weights_hash.hex())
        register_prior("tiny-prior", prior.config, integer_tensors(prior), {"stage": "test"})
        yield registry


@pytest.fixture
def prior_zoo(prior_zoo_path, monkeypatch):
    select_zoo(monkeypatch, str(prior_zoo_path))
    return prior_zoo_path
