"""What a new user meets: usage errors, signals, --force, damaged files, images, info (issue 12)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from tokcodec.codec.container import ContainerReader
from tokcodec.io import read_frames
from tokcodec_cli.main import cli

from conftest import write_clip


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def tokcodec(*args, env=None, **kw):
    """The real command in a child process (signal handlers, exit codes and imports as a user gets them)."""
    return subprocess.run(
        [sys.executable, "-m", "tokcodec", *map(str, args)], capture_output=True, text=True, env=env, **kw
    )


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- usage errors: exit 2, one line, before torch loads ------------------------------------------

PROBE = (
    "import sys, atexit\n"
    "atexit.register(lambda: print('torch imported' if 'torch' in sys.modules else 'torch not imported',"
    " file=sys.stderr))\n"
    "from tokcodec_cli.main import main\n"
    "sys.argv = ['tokcodec'] + sys.argv[1:]\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["--gop", "4"],
        ["--quality", "0"],
        ["--frames", "0"],
        ["--frames", "-1"],
        ["--bpp", "0"],
        ["--bpp", "-1"],
        ["--bpp", "nan"],
        ["--quality", "2", "--bpp", "0.05"],
        ["--fps", "0"],
        ["--fps", "nan"],
    ],
)
def test_usage_errors_exit_2_on_one_line_without_torch(tmp_path, example_clip, args):
    p = subprocess.run(
        [sys.executable, "-c", PROBE, "encode", str(example_clip), "-o", str(tmp_path / "a.tkc"), *args],
        capture_output=True,
        text=True,
    )
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr
    assert len(lines) == 2 and lines[0].startswith("tokcodec: error:") and lines[1] == "torch not imported", p.stderr
    assert not (tmp_path / "a.tkc").exists()


def test_encode_output_must_be_tkc(tmp_path, example_clip):
    p = tokcodec("encode", example_clip, "-o", tmp_path / "a.mp4")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and ".tkc" in p.stderr


def test_python_dash_m_and_version():
    p = tokcodec("--version")
    assert p.returncode == 0 and "tokcodec" in p.stdout


# -- signals and stale temporaries ---------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_signal_leaves_nothing_behind(zoo, tmp_path, make_clip, sig, command):
    clip = write_clip(tmp_path / "in.mkv", make_clip(40, 240, 320))
    src = clip
    if command == "decode":
        src = tmp_path / "in.tkc"
        assert run("encode", clip, "-o", src, "--gop", 5, "-q")[0] == 0
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("a.tkc" if command == "encode" else "frames/")
    child = subprocess.Popen(
        [sys.executable, "-m", "tokcodec", command, str(src), "-o", str(out), "-q", "--device", "cpu"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TOKCODEC_ZOO": str(zoo)},
        # under nohup the child would inherit an ignored SIGHUP (and rightly keep it)
        preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not hidden(out_dir) and time.time() < deadline and child.poll() is None:
        time.sleep(0.005)
    assert child.poll() is None, f"{command} finished before the signal could be sent"
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert err.startswith("tokcodec: error: terminated") and err.count("\n") == 1, err
    assert list(out_dir.iterdir()) == []


def test_stale_temporaries_are_removed_but_live_ones_kept(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(1, 16, 16))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from tokcodec.io.atomic import _HOST

    stale = tmp_path / f".a.tkc.tokcodec-{_HOST}-{dead.stdout.strip()}-0123abcd.tmp.tkc"
    live = tmp_path / f".b.tkc.tokcodec-{_HOST}-{os.getpid()}-0123abcd.tmp.tkc"
    other_machine = tmp_path / f".c.tkc.tokcodec-elsewhere-{dead.stdout.strip()}-0123abcd.tmp.tkc"
    foreign = tmp_path / ".a.tkc.somebody-elses.tmp.tkc"
    for p in (stale, live, other_machine, foreign):
        p.write_bytes(b"partial")
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "-q")[0] == 0
    assert not stale.exists() and live.exists() and other_machine.exists() and foreign.exists()


# -- --force touches only what tokcodec writes ---------------------------------------------------


def test_force_never_deletes_foreign_files_in_a_frame_folder(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(2, 16, 16))
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "-q")[0] == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.png").write_bytes(b"my holiday")
    code, msg = run("decode", tmp_path / "a.tkc", "-o", photos, "--force", "-q")
    assert code == 1 and "holiday.png" in msg and "did not write" in msg
    assert (photos / "holiday.png").read_bytes() == b"my holiday" and len(list(photos.iterdir())) == 1
    # a folder of frames tokcodec wrote is replaced by --force
    assert run("decode", tmp_path / "a.tkc", "-o", tmp_path / "frames/", "-q")[0] == 0
    assert run("decode", tmp_path / "a.tkc", "-o", tmp_path / "frames/", "--force", "-q")[0] == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["00000.png", "00001.png"]


def test_force_never_replaces_a_pipe_or_device(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(1, 16, 16))
    fifo = tmp_path / "a.tkc"
    os.mkfifo(fifo)
    code, msg = run("encode", clip, "-o", fifo, "--force", "-q")
    assert code == 1 and "not a regular file" in msg
    assert fifo.is_fifo()


# -- damaged files give back what survives -------------------------------------------------------


@pytest.fixture
def three_gops(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(13, 16, 24))
    path = tmp_path / "good.tkc"
    assert run("encode", clip, "-o", path, "--gop", 5, "-q")[0] == 0
    assert run("decode", path, "-o", tmp_path / "good/", "-q")[0] == 0
    return path, read_frames(tmp_path / "good")[0]


def damaged_copies(path):
    data = path.read_bytes()
    chunks = ContainerReader(data).chunks
    flip = chunks[1].offset + 40
    return {
        "cut after GOP 0": data[: chunks[1].offset + 10],
        "flipped byte in GOP 1": data[:flip] + bytes([data[flip] ^ 0x40]) + data[flip + 1 :],
    }


@pytest.mark.parametrize("policy,frames", [("freeze", 13), ("skip", None), ("stop", 5)])
def test_damaged_file_decodes_what_is_intact(three_gops, tmp_path, policy, frames):
    good, reference = three_gops
    for name, data in damaged_copies(good).items():
        bad = tmp_path / "bad.tkc"
        bad.write_bytes(data)
        out = tmp_path / f"{policy}-{name}/"
        code, msg = run("decode", bad, "-o", out, "--on-damage", policy, "-q")
        assert code == 3, msg
        assert "GOP 1, frames 5-9 lost" in msg
        decoded = read_frames(out)[0]
        lost_gops = {1} if "flipped" in name else {1, 2}
        gop_frames = {0: 5, 1: 5, 2: 3}
        expect = frames if frames is not None else 13 - sum(gop_frames[g] for g in lost_gops)
        assert len(decoded) == expect, (name, policy, len(decoded))
        assert np.array_equal(np.stack(decoded[:5]), np.stack(reference[:5]))  # GOP 0 intact, bit-exact
        if policy == "freeze":
            assert all(np.array_equal(f, reference[4]) for f in decoded[5:10])  # last good frame held
        if policy == "skip" and "flipped" in name:
            assert np.array_equal(np.stack(decoded[5:]), np.stack(reference[10:]))  # GOP 2 intact after the gap


def test_info_checks_every_crc(three_gops, tmp_path):
    good, _ = three_gops
    code, out = run("info", good)
    assert code == 0 and out.count(", ok") == 3
    bad = tmp_path / "bad.tkc"
    bad.write_bytes(damaged_copies(good)["flipped byte in GOP 1"])
    code, out = run("info", bad)
    assert code == 3 and "GOP 1: frames 5-9 (5)" in out and "DAMAGED: damaged file: chunk 1 payload CRC mismatch" in out
    d = json.loads(run("info", bad, "--json")[1])
    assert [c["ok"] for c in d["chunks"]] == [True, False, True]


# -- images stay images; info reads like ffprobe ------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_one_frame_container_decodes_to_one_image(zoo, tmp_path, make_clip, suffix):
    from PIL import Image

    write_clip(tmp_path / "photo_in.png", make_clip(1, 24, 40))
    assert run("encode", tmp_path / "photo_in.png", "-o", tmp_path / "photo.tkc", "-q")[0] == 0
    code, msg = run("decode", tmp_path / "photo.tkc", "-o", tmp_path / f"photo{suffix}", "-q")
    assert code == 0, msg
    with Image.open(tmp_path / f"photo{suffix}") as im:
        assert im.size == (40, 24) and im.format == ("PNG" if suffix == ".png" else "JPEG")
    clip = write_clip(tmp_path / "in.mkv", make_clip(3, 16, 16))
    assert run("encode", clip, "-o", tmp_path / "clip.tkc", "-q")[0] == 0
    code, msg = run("decode", tmp_path / "clip.tkc", "-o", tmp_path / f"clip{suffix}", "-q")
    assert code == 1 and "holds one frame" in msg and not (tmp_path / f"clip{suffix}").exists()


def test_info_text_names_colours_and_escapes_the_model_name(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(7, 24, 32))
    assert run("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "-q")[0] == 0
    code, out = run("info", tmp_path / "a.tkc")
    assert code == 0
    assert "7 frames at 25 fps" in out and "GOP 1: frames 5-6 (2)" in out
    assert "limited range" in out or "full range" in out
    assert "unknown/unknown/unknown" in out or "bt709" in out or "gbr" in out
    from tokcodec_cli.common import safe_text

    assert safe_text("evil\x1b[2Jname") == "evil\\x1b[2Jname"


def test_encode_bpp_summary_names_the_rung(zoo, tmp_path, make_clip):
    clip = write_clip(tmp_path / "in.mkv", make_clip(5, 16, 16))
    code, out = run("encode", clip, "-o", tmp_path / "a.tkc", "--bpp", "10")
    assert code == 0 and "model tiny (--quality 1)" in out


OOM_SCRIPT = """
import resource, torch
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from tokcodec_cli.common import friendly_errors
friendly_errors(lambda: torch.empty(8 << 30, dtype=torch.uint8))()
"""


def test_torch_out_of_memory_is_one_line_not_a_bug_report():
    """Under an address-space limit torch's CPU allocator raises RuntimeError ("can't allocate
    memory"), not MemoryError: it is reported as out of memory, exit 1, no traceback."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", OOM_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr[-2000:]
    assert out.stderr.strip().splitlines() == [
        "tokcodec: error: out of memory (try a smaller --gop or a smaller input)"
    ]
    # any other RuntimeError is still a bug, reported as one
    code = (
        "from tokcodec_cli.common import friendly_errors\n"
        "def f(): raise RuntimeError('shape mismatch')\nfriendly_errors(f)()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "internal error (RuntimeError)" in out.stderr


def test_the_memory_estimate_honours_the_address_space_limit():
    import subprocess
    import sys

    code = (
        "import resource\nfrom tokcodec.codec.memory import free_memory\nfree = free_memory('cpu')\n"
        "resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))\nprint(free, free_memory('cpu'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    before, after = map(int, out.stdout.split())
    assert after < 6 << 30 and after <= before


def test_a_busy_machine_gets_a_short_openmp_spin_unless_the_user_chose():
    """The command line shortens libgomp's spin when other work is runnable as it starts (the
    measured cure for 2 threads slower than 1 on busy cores); a user's setting always wins."""
    import os
    import subprocess
    import sys

    probe = "import tokcodec_cli, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.5)
        env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        run = lambda **extra: subprocess.run(
            [sys.executable, "-c", probe], env={**env, **extra}, capture_output=True, text=True
        ).stdout.strip()
        assert run() == "10000"
        assert run(GOMP_SPINCOUNT="5") == "5"
        assert run(OMP_WAIT_POLICY="ACTIVE") == "None"
    finally:
        busy.kill()


def test_the_command_line_keeps_freed_tensor_memory_for_reuse_unless_the_user_tuned_malloc():
    """Importing the command line raises glibc's mmap and trim thresholds (tokcodec/allocator.py): the
    second round of the same large allocations, as a network's layers make them, faults in no new
    page. A user's MALLOC_* variable leaves malloc alone."""
    import os
    import subprocess
    import sys

    probe = (
        "import resource, numpy as np, tokcodec_cli\n"
        "from tokcodec import allocator\n"
        "def churn():\n"
        "    for size in (12, 15, 9, 14):\n"
        "        a = np.ones(size << 20, np.uint8); b = np.ones((size + 1) << 20, np.uint8); del a, b\n"
        "churn()\n"
        "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "churn()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0, allocator._done)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    run = lambda **extra: subprocess.run(
        [sys.executable, "-c", probe], env={**env, **extra}, capture_output=True, text=True, check=True
    ).stdout.split()
    faults, done = run()
    assert int(faults) < 16 and done == "True"
    assert run(MALLOC_ARENA_MAX="16")[1] == "False"
