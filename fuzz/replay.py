"""Replay the committed corpus (no fuzzing): every input must end cleanly; prints the error codes reached.

    python -m coverage run --branch --include='tokcodec/codec/*' fuzz/replay.py && python -m coverage report

The CI replays the same corpus in tests/test_hostile.py (test_fuzz_corpus_replays_cleanly).
"""

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import common  # noqa: E402


def main() -> None:
    from tokcodec.codec.container import Err

    work = Path(tempfile.mkdtemp())
    common.make_tiny_zoo(work)
    scratch = work / "scratch"
    scratch.mkdir()
    parsed = Counter(common.parse(p.read_bytes()) for p in sorted((common.CORPUS / "container").iterdir()))
    decoded = Counter(
        common.decode(p.read_bytes(), scratch, ("freeze", "skip", "stop")[i % 3])
        for i, p in enumerate(sorted((common.CORPUS / "decode").iterdir()))
    )
    for name, counts in (("parser", parsed), ("decode path", decoded)):
        shown = ", ".join(
            f"{'ok' if c is None else Err(c).value if c else 'other'}: {n}"
            for c, n in sorted(counts.items(), key=lambda kv: -1 if kv[0] is None else kv[0])
        )
        print(f"{name}: {sum(counts.values())} inputs; first error code -> inputs: {shown}")


if __name__ == "__main__":
    main()
