"""Where the companion package lives: retired models and training-only weights, kept out of the wheel.

`tokcodec-extra` (built from `companion/` in this repository: `pip install ./companion`) holds the
retired tokenizers (tc-2, tc-2-lfq, tc-small-1 and their rungs), their prior mlm-tc-2 and the LPIPS-VGG
weights that training and DISTS use. It is found installed (`import tokcodec_extra`) or, in a source
checkout, beside the package (`companion/tokcodec_extra`), so a clone has everything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "tokcodec-extra"
INSTALL_HINT = f"pip install {PACKAGE} (from a source checkout: pip install ./companion)"


def companion_dir() -> Path | None:
    """The companion's folder (holding registry.json and weights/), or None when it is not there."""
    spec = importlib.util.find_spec("tokcodec_extra")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    checkout = Path(__file__).resolve().parents[1] / "companion" / "tokcodec_extra"
    return checkout if (checkout / "registry.json").is_file() else None
