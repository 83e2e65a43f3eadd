#!/usr/bin/env python3
"""Coverage-guided fuzzing of entropy mode 1 through the shipped token prior: .tkc bytes whose tokens are
read as `tokcodec.open(path).tokens(g)` reads them (no pixels decoded), instrumenting tokcodec only.

    nice -n 19 python fuzz/fuzz_mode1.py -runs=100000 -rss_limit_mb=2048 -timeout=30 \\
        -max_len=16384 /tmp/fuzz/mode1 fuzz/corpus/mode1

The seeds are small mode 1 files of the default model under its prior (`--seeds DIR` writes them); the
.tkc-aware mutator (mutator.py) edits header fields to breaking values, so headers announce large grids,
many frames, tiny frames, with the CRCs recomputed: the header's limits and the work bound (SPEC 3.5)
must refuse what the payload cannot pay for, and every payload that passes goes through the range
decoder and the integer network. Success or a clean TokcodecError; anything else, a hang or a blow-up is
a finding (fuzz/common.py `mode1_tokens`).
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
    from tokcodec import api  # noqa: E402,F401
    from tokcodec.codec import container, entropy, mlm_coding, range_coding  # noqa: E402,F401
    from tokcodec.models import mlm_int  # noqa: E402,F401

SCRATCH = Path(tempfile.mkdtemp(prefix="tokcodec-fuzz-mode1-"))


def test_one_input(data: bytes) -> None:
    common.mode1_tokens(data, SCRATCH)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    return mutate(data, max_size, seed, atheris.Mutate)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    if sys.argv[1:2] == ["--seeds"]:
        common.mode1_seeds(Path(sys.argv[2]))
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
