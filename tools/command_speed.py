"""The command line's speed as a user meets it: `tokcodec encode` and `decode --json`, settings side by side.

Cuts SOURCE to a 640x360 (or --size) clip of --frames frames (an .y4m, so reading it costs next to
nothing), then, round after round (interleaved, so a drift in the machine hits every setting alike),
encodes it under each setting and decodes the result, each in a fresh process, and reports the fps
that `--json` prints (the command's own clock: coding, reading and writing frames; not the start-up).

    python tools/command_speed.py SOURCE [--rounds 3] [--setting NAME=ARGS ...] [-o result.json]

A setting is NAME=WORDS: environment variables (VAR=value) for both commands, then encode's options, e.g.
`--setting "bf16=TOKCODEC_PRECISION=bf16"` or `--setting "small=--prior mlm-tc-2.1-small"`; words after `::`
are decode's: `--setting "sharp=:: --decoder tc-2.1-sharp-2"`. Default settings:
`default` (no options: mode 1 under the default prior), `raw` (--entropy raw).
A word @DIR runs that setting's commands from another checkout (`git worktree add DIR REV`), to measure
an older revision beside this one in the same rounds: `--setting "start=@/tmp/wt-start"`.
Nothing else should be running (pause a training run: kill -STOP, then kill -CONT).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_SETTINGS = ("default=", "raw=--entropy raw")


def tokcodec_json(args: list[str], env: dict, folder: Path) -> dict:
    """`python -m tokcodec ARGS --json` run in `folder` (`-m` would import a checkout in the current
    directory ahead of PYTHONPATH's)."""
    done = subprocess.run(
        [sys.executable, "-m", "tokcodec", *args, "--json", "--force"],
        capture_output=True,
        text=True,
        env=os.environ | env,
        cwd=folder,
    )
    if done.returncode:
        raise SystemExit(f"tokcodec {args[0]} failed ({env or 'no environment'}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def checkout_path(checkout: str, folder: Path) -> str:
    """PYTHONPATH that imports tokcodec and its command line (the package `tokcodec_cli`, the folder
    cli/) from another checkout rather than the installed one."""
    root = Path(checkout).resolve()
    if not (root / "cli").is_dir() or not (root / "tokcodec").is_dir():
        raise SystemExit(f"@{checkout}: not a tokcodec checkout (no cli/ and tokcodec/ there)")
    shim = folder / f"shim-{root.name}"
    shim.mkdir(exist_ok=True)
    (shim / "tokcodec_cli").symlink_to(root / "cli")
    return f"{root}{os.pathsep}{shim}"


def environment(options: str, folder: Path) -> tuple[dict, list[str], list[str]]:
    """A setting's VAR=value words and @DIR (the environment of both commands), encode's options, and
    decode's (the words after `::`)."""
    words = shlex.split(options)
    cut = words.index("::") if "::" in words else len(words)
    words, decode_options = words[:cut], words[cut + 1 :]
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith(("-", "@")))
    for checkout in [w[1:] for w in words if w.startswith("@")][-1:]:  # the last @DIR, if any
        env["PYTHONPATH"] = checkout_path(checkout, folder)
    return env, [w for w in words if w.startswith("-") or not ("=" in w or w.startswith("@"))], decode_options


def cut_clip(source: str, size: str, frames: int, folder: Path) -> Path:
    """The first `frames` frames of `source` scaled to `size`, as a 4:2:0 .y4m (ffmpeg's bicubic scaler)."""
    import imageio_ffmpeg

    clip = folder / "clip.y4m"
    width, height = size.split("x")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", source, "-frames:v", str(frames)]
    command += ["-vf", f"scale={width}:{height}", "-pix_fmt", "yuv420p", str(clip)]
    subprocess.run(command, check=True)
    return clip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="a video (cut to --frames at --size)")
    p.add_argument("--size", default="640x360")
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--gop", type=int, default=17)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--setting",
        action="append",
        help="NAME=ENCODE OPTIONS [:: DECODE OPTIONS] (repeatable; default: "
        + ", ".join(repr(s) for s in DEFAULT_SETTINGS)
        + ")",
    )
    p.add_argument("-o", "--output", help="write the result as JSON here")
    args = p.parse_args()
    settings = dict(s.split("=", 1) for s in (args.setting or DEFAULT_SETTINGS))
    folder = Path(tempfile.mkdtemp(prefix="command_speed-"))
    clip = cut_clip(args.source, args.size, args.frames, folder)
    parsed = {name: environment(options, folder) for name, options in settings.items()}
    runs: dict[str, list[dict]] = {name: [] for name in settings}
    for round_ in range(args.rounds):
        for name, (env, options, decode_options) in parsed.items():
            tkc = folder / f"{name}.tkc"
            enc = tokcodec_json(["encode", str(clip), "-o", str(tkc), "--gop", str(args.gop), *options], env, folder)
            dec = tokcodec_json(["decode", str(tkc), "-o", str(folder / f"{name}.y4m"), *decode_options], env, folder)
            run = {"encode_fps": enc["encode_fps"], "decode_fps": dec["decode_fps"], "bytes": enc["bytes"]}
            runs[name].append(run)
            print(f"round {round_ + 1} {name}: {run}", flush=True)
    result = {
        "source": args.source,
        "size": args.size,
        "frames": args.frames,
        "gop": args.gop,
        "settings": settings,
        "runs": runs,
        "median": {
            name: {k: statistics.median(r[k] for r in rs) for k in ("encode_fps", "decode_fps", "bytes")}
            for name, rs in runs.items()
        },
    }
    print(json.dumps(result["median"], indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
