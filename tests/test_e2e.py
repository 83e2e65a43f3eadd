"""The shipped default model on the bundled real clip, through the installed command."""
import json
import subprocess
import sys

import numpy as np

from tokcodec.io import read_frames
from tokcodec.metrics import psnr
from tokcodec.zoo import get_entry


def tokcodec(*args):
    return subprocess.run([sys.executable, "-m", "tokcodec_cli.main", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_shipped_model_round_trip_on_real_clip(example_clip, tmp_path, monkeypatch):
    monkeypatch.delenv("TOKCODEC_ZOO", raising=False)
    entry = get_entry("default")
    enc = tokcodec("encode", example_clip, "-o", tmp_path / "dog.tkc", "--device", "cpu", "--json", "-q")
    assert enc.returncode == 0, enc.stderr
    summary = json.loads(enc.stdout)
    assert summary["frames"] == 33 and summary["model"] == entry.name
    # 33 frames at 320x180, GOP 17: 2 GOPs of 5 + 4 latent frames of 23x40 tokens at 18 bits, plus headers.
    tokens = (5 + 4) * 23 * 40
    size = (tmp_path / "dog.tkc").stat().st_size
    assert tokens * 18 / 8 < size < tokens * 18 / 8 + 1024
    dec = tokcodec("decode", tmp_path / "dog.tkc", "-o", tmp_path / "dec/", "--device", "cpu", "-q")
    assert dec.returncode == 0, dec.stderr
    source, _ = read_frames(example_clip)
    decoded, info = read_frames(tmp_path / "dec")
    assert len(decoded) == 33 and decoded[0].shape == (180, 320, 3)
    quality = psnr(np.stack(source), np.stack(decoded))
    # The model card's floor for this clip: a trained model, far above what random weights give (~10 dB).
    assert quality > entry.card["metrics_floor"]["example_clip_psnr"], quality
