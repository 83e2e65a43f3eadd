#!/usr/bin/env python3
"""Coverage-guided fuzzing of entropy mode 1's payload decoding through the shipped token prior
(`decode_gop`: the range decoder fed by the integer network's tables), instrumenting tokcodec only.

    nice -n 19 python fuzz/fuzz_mode1.py -runs=10000 -rss_limit_mb=2048 -timeout=20 \\
        -max_len=4096 /tmp/fuzz/mode1 fuzz/corpus/mode1

Each input is one GOP's payload for a (2, 16, 16) token grid (fuzz/common.py `mode1`): tokens in range,
or a ValueError, never anything else, a hang or a blow-up. The prior is the default model's
(TOKCODEC_FUZZ_PRIOR names another zoo prior, e.g. conformance-prior: the same code at a fraction of the
cost). `python fuzz/fuzz_mode1.py --seeds DIR` writes the seeds (payloads an encoder writes).
"""

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, os.path.dirname(__file__))

with atheris.instrument_imports(include=["tokcodec"]):
    import common  # noqa: E402
    from tokcodec.codec import mlm_coding, range_coding  # noqa: E402,F401
    from tokcodec.models import mlm_int  # noqa: E402,F401


def load_prior():
    from tokcodec.zoo import get_entry
    from tokcodec.zoo.priors import get_prior, load_prior, prior_for

    name = os.environ.get("TOKCODEC_FUZZ_PRIOR")
    return load_prior(get_prior(name) if name else prior_for(get_entry("default").weights_hash))


PRIOR = load_prior()


def test_one_input(data: bytes) -> None:
    common.mode1(data, PRIOR)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    if sys.argv[1:2] == ["--seeds"]:
        folder = Path(sys.argv[2])
        folder.mkdir(parents=True, exist_ok=True)
        for i, (_, payload) in enumerate(common.mode1_seeds(PRIOR)):
            (folder / f"seed{i}.bin").write_bytes(payload)
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
