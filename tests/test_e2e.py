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
    # 33 frames at 320x180, GOP 17: GOPs of 17 and 16 frames, 5 latent frames each, of 23x40 tokens at 18 bits.
    tokens = (5 + 5) * 23 * 40
    size = (tmp_path / "dog.tkc").stat().st_size
    assert tokens * 18 / 8 < size < tokens * 18 / 8 + 1024
    dec = tokcodec("decode", tmp_path / "dog.tkc", "-o", tmp_path / "dec/", "--device", "cpu", "-q")
    assert dec.returncode == 0, dec.stderr
    source, _ = read_frames(example_clip)
    decoded, info = read_frames(tmp_path / "dec")
    assert len(decoded) == 33 and decoded[0].shape == (180, 320, 3)
    quality = psnr(np.stack(source), np.stack(decoded))
    # Measured 19.13 dB for tc-small-1 (`tokcodec eval examples/dog_320x180.mp4 --size 320x180`);
    # untrained weights give about 10 dB. A floor, so a better model passes and a broken decode fails.
    assert quality > 16.0, quality
