"""The code's shape, checked: layers and cycles (import-linter, .importlinter), lint and format (ruff)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # the [test] extra installs both; a bare checkout may not have them
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


def test_import_contracts_hold():
    """The CLI sits on the library; models import neither codec nor io; the normative code (container,
    range coder, integer prior) imports no training or float-model code; library layers; no cycles."""
    out = subprocess.run(
        [tool("lint-imports"), "--config", str(REPO / ".importlinter")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(args):
    out = subprocess.run([tool("ruff"), *args, "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_every_public_name_is_a_callable_or_constant_of_the_api():
    """tokcodec.X for each name the package exports, and tokcodec.api.X for each the API exports: never a
    module (tokcodec.models and tokcodec.evaluate are subpackages: the API keeps those two names)."""
    import types

    import tokcodec
    import tokcodec.api as api
    import tokcodec.evaluate  # noqa: F401 - the modules whose names would shadow a package-level function
    import tokcodec.models  # noqa: F401

    for name in tokcodec.__all__:
        assert not isinstance(getattr(tokcodec, name), types.ModuleType), name
        assert getattr(tokcodec, name) is getattr(api, name)
    for name in api.__all__:
        assert not isinstance(getattr(api, name), types.ModuleType), name
