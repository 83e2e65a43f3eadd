"""Write the seed .tkc files into fuzz/corpus/{container,decode} (run once; the fuzzers add to them).

Container seeds: the spec's vectors and the bundled dog clip file. Decode seeds:
small clips encoded with the tiny model (tests/conftest.py), an image, a GOP
shorter than the rest, and a DISP file (a rung coded at half size).
"""

import json
import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402


def main() -> None:
    repo = HERE.parent
    container, decode = common.CORPUS / "container", common.CORPUS / "decode"
    container.mkdir(parents=True, exist_ok=True)
    decode.mkdir(parents=True, exist_ok=True)
    for path in sorted((repo / "bitstream_spec" / "vectors").glob("*.tkc")):
        shutil.copy(path, container / f"seed_{path.name}")
    shutil.copy(repo / "tests" / "data" / "dog_tc-small-1_5frames.tkc", container / "seed_dog.tkc")

    import numpy as np

    import tokcodec
    from tokcodec.io import ColourInfo, VideoInfo

    work = Path(tempfile.mkdtemp())
    registry = common.make_tiny_zoo(work)
    data = json.loads(registry.read_text())
    data["models"]["tiny-half"] = {"weights_from": "tiny", "coding_scale": 0.5}
    registry.write_text(json.dumps(data))
    rng = np.random.default_rng(0)
    for name, (w, h, n, gop, model) in {
        "clip_24x16_7f": (24, 16, 7, 5, "tiny"),
        "image_9x5": (9, 5, 1, 5, "tiny"),
        "clip_16x16_9f_gop9": (16, 16, 9, 9, "tiny"),
        "disp_32x24_5f": (32, 24, 5, 5, "tiny-half"),
    }.items():
        frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
        info = VideoInfo(w, h, Fraction(25), n, ColourInfo())
        out = decode / f"seed_{name}.tkc"
        tokcodec.encode_frames(frames, info, out, model=model, gop=gop, force=True)
        shutil.copy(out, container / out.name)
    print(f"seeds: {len(list(container.iterdir()))} container, {len(list(decode.iterdir()))} decode")


if __name__ == "__main__":
    main()
