#!/usr/bin/env python3
"""Coverage-guided fuzzing of the transcoder's sidecar parser (a.mp4.tkc.json), instrumenting tokcodec only.

    nice -n 19 python fuzz/fuzz_sidecar.py -runs=100000 -rss_limit_mb=2048 -timeout=5 \\
        -max_len=4096 /tmp/fuzz/sidecar fuzz/corpus/sidecar

A sidecar must parse into fields tokcodec can use, or fail with a clean one-line error; what the
decode side then reads from it (needs_remux, display_matrix, kept_packets, notes) must not raise or
hang either. See fuzz/README.md.
"""

import sys

import atheris

sys.path.insert(0, __import__("os").path.dirname(__file__))

with atheris.instrument_imports(include=["tokcodec"]):
    import common  # noqa: E402
    from tokcodec.batch import streams  # noqa: E402,F401  (imported here, so that it is instrumented)


def test_one_input(data: bytes) -> None:
    common.sidecar(data)


HOSTILE = [
    "1e100000000",
    "-1/0",
    "9" * 400,
    "1/3",
    "",
    None,
    True,
    -1,
    2**63,
    1e308,
    [],
    {},
    [1] * 9,
    "../x",
    "a/b",
    "\u0000",
    {"x": [{}]},
    [[[[[]]]]],
    "0/1",
    -(2**31) - 1,
]


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """Half the time libFuzzer's byte mutations; else one JSON value replaced by a hostile one (so
    mutations reach the field checks past the JSON parser)."""
    import json
    import random

    rng = random.Random(seed)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if doc is None or rng.random() < 0.5:
        return atheris.Mutate(data, max_size)
    node, parents = doc, []
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        parents.append((node, key))
        node = node[key]
    value = rng.choice(HOSTILE)
    if parents:
        holder, key = parents[-1]
        holder[key] = value
    else:
        doc = value
    out = json.dumps(doc).encode()
    return out[:max_size]


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
