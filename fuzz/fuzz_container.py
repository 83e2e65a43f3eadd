#!/usr/bin/env python3
"""Coverage-guided fuzzing of the .tkc parser (atheris / libFuzzer), instrumenting tokcodec only.

    nice -n 19 python fuzz/fuzz_container.py -runs=1000000 -rss_limit_mb=2048 -timeout=10 \\
        -max_len=8192 /tmp/fuzz/container fuzz/corpus/container

The first folder collects new inputs, the others are seeds (fuzz/corpus/container:
real .tkc files and their minimised descendants). See fuzz/README.md.
"""

import sys

import atheris

sys.path.insert(0, __import__("os").path.dirname(__file__))
from mutator import mutate  # noqa: E402  (not instrumented: it is the fuzzer, not the target)

with atheris.instrument_imports(include=["tokcodec"]):
    import common  # noqa: E402
    from tokcodec.codec import container  # noqa: E402,F401


def test_one_input(data: bytes) -> None:
    common.parse(data)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    return mutate(data, max_size, seed, atheris.Mutate)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
