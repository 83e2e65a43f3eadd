#!/usr/bin/env python3
"""Coverage-guided fuzzing of the decode path: .tkc bytes -> `decode_container` -> a .y4m file,
with the tests' tiny random tokenizer as the default model (fast), instrumenting tokcodec only.

    nice -n 19 python fuzz/fuzz_decode.py -runs=100000 -rss_limit_mb=3072 -timeout=20 \\
        -max_len=16384 /tmp/fuzz/decode fuzz/corpus/decode

Every input is decoded with --on-damage freeze, skip or stop (by its length), so
all three paths run. See fuzz/README.md.
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, os.path.dirname(__file__))
from mutator import mutate  # noqa: E402

with atheris.instrument_imports(include=["tokcodec"]):
    import common  # noqa: E402
    from tokcodec.codec import pipeline  # noqa: E402,F401

WORK = Path(tempfile.mkdtemp(prefix="tokcodec-fuzz-"))
SCRATCH = WORK / "scratch"
SCRATCH.mkdir()
common.make_tiny_zoo(WORK)


def test_one_input(data: bytes) -> None:
    common.decode(data, SCRATCH, ("freeze", "skip", "stop")[len(data) % 3])


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    return mutate(data, max_size, seed, atheris.Mutate)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
