#!/usr/bin/env python3
"""Coverage-guided fuzzing of the transcoder's database (DST/.tokcodec-batch.sqlite), instrumenting tokcodec.

    nice -n 19 python fuzz/fuzz_state.py -runs=100000 -rss_limit_mb=2048 -timeout=10 \\
        -max_len=32768 /tmp/fuzz/state fuzz/corpus/state

A database SQLite cannot use (damaged pages, another schema, not a database) must end in one clean
OutputError naming it; one it can use must work. See fuzz/README.md.
"""

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, __import__("os").path.dirname(__file__))

with atheris.instrument_imports(include=["tokcodec"]):
    import common  # noqa: E402
    from tokcodec.batch import state  # noqa: E402,F401  (imported here, so that it is instrumented)

FOLDER = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))  # fsync is cheap there


def test_one_input(data: bytes) -> None:
    common.state(data, FOLDER)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
