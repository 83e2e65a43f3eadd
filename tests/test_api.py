"""docs/api.md's example runs as written (shipped model, bundled clip), and the command line takes argv."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_api_doc_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), re.S)
    assert blocks, "docs/api.md has no python example"
    env = {k: v for k, v in __import__("os").environ.items() if k != "TOKCODEC_ZOO"}  # the shipped zoo
    for code in blocks:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert "9 frames" in out.stdout and "entropy mode 1" in out.stdout


def test_main_takes_argv(capsys, tmp_path):
    from tokcodec_cli.main import main

    main(["models", "--json"])  # success: returns
    assert '"default"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # a failure: one line, exit code 1
        main(["info", str(tmp_path / "missing.tkc")])
    assert e.value.code == 1 and capsys.readouterr().err.startswith("tokcodec: error: ")
