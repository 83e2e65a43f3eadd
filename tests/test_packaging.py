"""What a new user installs: a torch range (not a pin that drags in CUDA or fights an installed torch),
a README whose first command installs the CPU build first and writes its demo outputs where git ignores them."""

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from conftest import select_zoo

REPO = Path(__file__).resolve().parent.parent


def install_requires() -> dict[str, Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    return {Requirement(line).name: Requirement(line) for line in lines}


def test_torch_is_a_range_that_the_tested_version_satisfies():
    torch = install_requires()["torch"]
    assert not any(spec.operator == "==" for spec in torch.specifier), torch
    for version in ("2.13.0", "2.13.0+cpu", "2.6.0"):
        assert torch.specifier.contains(version, prereleases=False), (torch, version)


def test_readme_first_command_installs_cpu_torch_and_writes_into_an_ignored_folder():
    readme = (REPO / "README.md").read_text()
    commands = re.search(r"```\n(.*?)\n```", readme, re.S).group(1).splitlines()
    assert len(commands) == 2 and commands[1] == "pip install -e '.[test]' && python -m pytest -q"
    first = commands[0]
    assert first.index("torch==2.13.0+cpu") < first.index("pip install -e .")
    assert "whl/cpu" in first
    outputs = re.findall(r"-o (\S+)", first)
    assert outputs and all(o.startswith("demo/") for o in outputs)
    ignored = subprocess.run(["git", "check-ignore", "-q", "demo/dog.tkc"], cwd=REPO)
    assert ignored.returncode == 0, "demo/ outputs must be ignored by git"
    assert (REPO / ".ci" / "run").read_text().strip().endswith(commands[1])


def test_ray_is_in_its_own_extra_only():
    """The test install stays small (Ray is about 240 MB); Ray's own tests skip without it."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    extras = {
        name: [Requirement(line.strip()).name for line in value.splitlines() if line.strip()]
        for name, value in cfg["options.extras_require"].items()
    }
    assert "ray" not in extras["test"] and "ray" not in install_requires()
    assert extras["ray"] == ["ray"]


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path):
    """The README's Python section, run as a user would: from the repository root, the shipped model."""
    import re
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## From Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = {k: v for k, v in __import__("os").environ.items() if k != "TOKCODEC_ZOO"}  # the shipped zoo
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"33 frames, \d+ bytes, 0\.\d+ bpp, model tc-2\.1", lines[0]), lines
    assert lines[1] == "320 180 33 frames in 2 GOPs" and lines[2].startswith("GOP 0 tokens (5, 23, 40)")
    assert lines[3] == "first frame (180, 320, 3)" and lines[4].startswith("decoded 33 frames")


def test_the_readme_status_is_what_the_committed_results_say():
    """The status paragraph is written by tools/readme_status.py from the registry and benchmarks/results: a
    new default model or benchmark run that did not rerun it fails here (and the text names no entropy mode)."""
    check = subprocess.run(
        [sys.executable, "tools/readme_status.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    status = (REPO / "README.md").read_text().split("<!-- status: end -->")[0].split("do not edit by hand -->")[1]
    assert "bits per pixel" in status and "x265" in status and "mode 0" not in status and "BD-rate" not in status


def test_models_lists_the_default_ladder_with_mode_1_rates_and_hides_retired_models():
    """`tokcodec models` on the shipped zoo: the ladder first, each rung's default-mode (1) rate as mean and
    range beside mode 0's, the prior's bits; retired models only under --all."""
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "TOKCODEC_ZOO"}
    out = subprocess.run(
        [sys.executable, "-m", "tokcodec", "models"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "bpp, mode 1 (default)" in text and "bpp, mode 0" in text and "tc-2.1-x0.375" in text
    assert "4 (default) tc-2.1" in text and "Token prior mlm-tc-2.1" in text and "bits per token" in text
    assert "tc-2-lfq" not in text and "tokcodec models --all" in text
    full = subprocess.run(
        [sys.executable, "-m", "tokcodec", "models", "--all"], capture_output=True, text=True, env=env, timeout=120
    ).stdout
    assert "Retired and experimental" in full and "tc-2-lfq" in full


def test_a_file_of_a_retired_model_names_the_companion_package_when_it_is_missing(tmp_path, monkeypatch):
    """Retired models live in tokcodec-extra (companion/); without it, one line says what to install."""
    from click.testing import CliRunner

    import tokcodec.companion
    from tokcodec_cli.main import cli

    select_zoo(monkeypatch, None)
    old = REPO / "tests" / "data" / "dog_tc-small-1_5frames.tkc"
    monkeypatch.setattr(tokcodec.companion, "companion_dir", lambda: None)
    result = CliRunner().invoke(cli, ["decode", str(old), "-o", str(tmp_path / "a.y4m"), "-q"])
    assert result.exit_code == 1, result.output
    assert "model 'tc-small-1' is retired" in result.stderr and "pip install tokcodec-extra" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "a.y4m").exists()
    monkeypatch.undo()
    select_zoo(monkeypatch, None)
    result = CliRunner().invoke(cli, ["decode", str(old), "-o", str(tmp_path / "a.y4m"), "-q"])
    assert result.exit_code == 0, result.stderr  # the checkout's companion/ has it


@pytest.mark.slow
def test_the_wheels_stay_under_pypis_file_limit_and_hold_what_the_cards_link(tmp_path):
    """`pip wheel --no-deps .` under 100 MB with the default model, its prior, LPIPS-AlexNet and every file
    the installed cards link; the retired models and LPIPS-VGG in the companion wheel, also under 100 MB."""
    import re
    import subprocess
    import sys
    import zipfile

    for folder in (REPO, REPO / "companion"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                str(folder),
                "-w",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-2000:]
    main, extra = (next(tmp_path.glob(f"{stem}-*.whl")) for stem in ("tokcodec", "tokcodec_extra"))
    assert main.stat().st_size < 100e6 and extra.stat().st_size < 100e6
    names = set(zipfile.ZipFile(main).namelist())
    assert {"tokcodec/zoo/weights/mlm-tc-2.1.safetensors", "tokcodec/metrics/weights/lpips_alex.safetensors"} <= names
    assert not any("lpips_vgg" in n or "tc-small-1-0" in n or "tc-2-lfq-0" in n for n in names)
    for card in (n for n in names if n.startswith("tokcodec/zoo/cards/") and n.endswith(".md")):
        text = zipfile.ZipFile(main).read(card).decode()
        for link in re.findall(r"\]\(([^)#:]+)\)", text):
            target = str(Path(card).parent / link).replace("\\", "/")
            assert target in names, (card, link)
    extra_names = zipfile.ZipFile(extra).namelist()
    assert any("lpips_vgg" in n for n in extra_names) and "tokcodec_extra/registry.json" in extra_names
