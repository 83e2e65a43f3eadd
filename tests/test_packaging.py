"""What a new user installs: a torch range (not a pin that drags in CUDA or fights an installed torch),
a README whose first command installs the CPU build first and writes its demo outputs where git ignores them."""

import configparser
import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

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
