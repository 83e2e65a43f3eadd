"""Batch transcoding and token export (issue 10): resumable, parallel, never losing a source or a stream.

A module-wide archive (tiny clips, an image, a clip with sound and rotation)
is coded once serially; the other runs are compared with that byte for byte.
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from tokcodec.batch import BatchOptions, run_batch
from tokcodec.codec.container import ContainerReader
from tokcodec.codec.tokens import iter_gops, load_npz
from tokcodec_cli.main import cli

from conftest import write_clip, select_zoo

DB = ".tokcodec-batch.sqlite"
REPO = Path(__file__).resolve().parent.parent


def frames(n, h=32, w=48, seed=0):
    """Smooth moving gradients (cheap to code, every clip and frame different)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return [
        np.clip(
            np.stack(
                [40 + 150 * xx / w + 9 * t + 20 * seed, 30 + 120 * yy / h + 5 * seed, 200 - 40 * xx / w - 7 * t], -1
            ),
            0,
            255,
        ).astype(np.uint8)
        for t in range(n)
    ]


def write_talking_clip(path, clip, audio_frames=10):
    """An .mp4 with H.264 video rotated 90 degrees and an AAC track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = clip[0].shape[1], clip[0].shape[0], "yuv420p"
        video.set_display_rotation(90)
        audio = out.add_stream("aac", rate=8000)
        audio.layout = "mono"
        for i, f in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        for i in range(audio_frames):
            wave = (0.2 * np.sin(np.arange(1024) / 7 + i)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


def make_archive(root: Path, big: bool = True) -> Path:
    (root / "sub").mkdir(parents=True)
    write_clip(root / "a.mp4", frames(5, seed=1))
    write_clip(root / "a.mkv", frames(6, seed=2))  # same stem as a.mp4: outputs must not collide
    write_clip(root / "sub" / "b.y4m", frames(3, seed=3))
    write_clip(root / "sub" / "still.png", frames(1, seed=4))
    write_talking_clip(root / "sub" / "talk.mp4", frames(9, seed=5))
    (root / "notes.txt").write_text("not a video")
    (root / ".hidden.mp4").write_bytes(b"skipped")
    if big:  # last in walk order, and slow enough to be killed in the middle of
        for i in (1, 2):
            write_clip(root / "sub" / f"z{i}.mp4", frames(17, 64, 96, seed=5 + i))
    return root


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` but the batch database and lock, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".tokcodec-batch")
    }


def digests(folder: Path) -> dict[str, str]:
    return {p: hashlib.sha256(b).hexdigest() for p, b in tree(folder).items()}


def rows(dst: Path) -> list[dict]:
    db = sqlite3.connect(dst / DB)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM files ORDER BY output")]
    finally:
        db.close()


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def options(src, dst, **kw):
    return BatchOptions(sources=[str(src)], dst=str(dst), device="cpu", progress=False, **kw)


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def hidden_temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*.tokcodec-*")]


@pytest.fixture(scope="module")
def env(tiny_zoo):
    with pytest.MonkeyPatch.context() as mp:
        select_zoo(mp, str(tiny_zoo))
        mp.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def archive(env, tmp_path_factory):
    return make_archive(tmp_path_factory.mktemp("archive") / "src")


@pytest.fixture(scope="module")
def serial(archive, tmp_path_factory):
    """A clean serial run (one worker, --verify) of the archive: the reference."""
    dst = tmp_path_factory.mktemp("serial") / "out"
    before = digests(archive)
    summary = run_batch(options(archive, dst, jobs=1, verify=True))
    assert summary.failed == 0 and summary.done == 7 and summary.files == 7, summary
    assert digests(archive) == before  # sources are only read
    return dst


# -- the serial reference itself -------------------------------------------------------------------


def test_serial_run_mirrors_the_tree_and_records_every_file(serial, archive):
    out = tree(serial)
    assert {
        "a.mp4.tkc",
        "a.mkv.tkc",
        "sub/b.y4m.tkc",
        "sub/still.png.tkc",
        "sub/talk.mp4.tkc",
        "sub/talk.mp4.tkc.side.mp4",
        "sub/z1.mp4.tkc",
    } <= set(out)
    assert not any(name.startswith(("notes", ".hidden")) for name in out)
    recorded = rows(serial)
    assert [r["output"] for r in recorded] == sorted(p for p in out if p.endswith(".tkc"))
    for r in recorded:
        assert r["status"] == "done" and r["verified"] == "ok" and r["attempts"] == 1, r
        source = Path(r["source"])
        assert r["src_size"] == source.stat().st_size
        assert r["src_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert r["out_size"] == sum(len(out[p]) for p in json.loads(r["outputs"]))
    # The same bytes `tokcodec encode` writes for one file.
    code, _, err = run("encode", archive / "a.mp4", "-o", serial.parent / "single.tkc", "-q", "--device", "cpu")
    assert code == 0, err
    assert (serial.parent / "single.tkc").read_bytes() == out["a.mp4.tkc"]
    sidecar = json.loads(out["sub/talk.mp4.tkc.json"])
    assert sidecar["video"]["rotation"] == 90 and sidecar["side_file"] == "talk.mp4.tkc.side.mp4"
    assert [(s["type"], s["kept"]) for s in sidecar["streams"]] == [("audio", True)]


def test_jobs_2_writes_the_same_bytes_as_one_job(serial, archive, tmp_path):
    code, stdout, err = run(
        "transcode", archive, "-o", tmp_path / "out", "--jobs", 2, "--json", "-q", "--device", "cpu"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["done"] == 7 and summary["failed"] == 0 and summary["bytes_out"] > 0
    assert tree(tmp_path / "out") == tree(serial)


def test_rerun_skips_what_is_done_and_redoes_what_changed(serial, archive, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "out"
    shutil.copytree(archive, src)  # copy2: same mtimes, so the copy counts as the same sources
    shutil.copytree(serial, dst)
    os.utime(src / "a.mp4")  # touched, same bytes: the sha256 says it is the same
    write_clip(src / "a.mkv", frames(6, seed=9), force=True)  # really changed
    (dst / "sub" / "b.y4m.tkc").unlink()  # an output lost
    summary = run_batch(options(src, dst, jobs=1))
    assert (summary.done, summary.skipped, summary.failed) == (2, 5, 0), summary
    by_output = {r["output"]: r for r in rows(dst)}
    assert by_output["a.mkv.tkc"]["attempts"] == 2 and by_output["a.mp4.tkc"]["attempts"] == 1
    assert tree(dst)["sub/b.y4m.tkc"] == tree(serial)["sub/b.y4m.tkc"]
    assert tree(dst)["a.mkv.tkc"] != tree(serial)["a.mkv.tkc"]
    # Other options: coded again.
    summary = run_batch(options(src, dst, jobs=1, gop=5, include=("a.mp4",)))
    assert (summary.done, summary.skipped) == (1, 0), summary


# -- interruptions ---------------------------------------------------------------------------------


def test_kill_9_mid_batch_then_resume_gives_the_serial_result(serial, archive, tmp_path):
    dst = tmp_path / "out"
    before = digests(archive)
    child = subprocess.Popen(
        [sys.executable, "-m", "tokcodec", "transcode", str(archive), "-o", str(dst), "-q", "--device", "cpu"],
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    done = 0
    while done == 0 and time.time() < deadline and child.poll() is None:
        time.sleep(0.01)
        try:
            db = sqlite3.connect(f"file:{dst / DB}?mode=ro", uri=True, timeout=0.1)
            done = db.execute("SELECT count(*) FROM files WHERE status = 'done'").fetchone()[0]
            db.close()
        except sqlite3.Error:
            continue  # not created yet, or being written
    assert child.poll() is None, f"the batch ended before it could be killed: {child.stderr.read()}"
    workers = children(child.pid)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    deadline = time.time() + 30  # the workers follow their driver (and delete their temporaries)
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)
    statuses = [r["status"] for r in rows(dst)]
    assert statuses.count("done") < 7 and "running" in statuses, statuses
    # Resume with --verify: what the killed run finished is checked (once), the rest coded and checked.
    summary = run_batch(options(archive, dst, jobs=1, verify=True))
    assert summary.failed == 0 and summary.skipped >= 1 and summary.done + summary.skipped == 7, summary
    recorded = rows(dst)
    assert [(r["status"], r["verified"]) for r in recorded] == [("done", "ok")] * 7
    assert len({r["output"] for r in recorded}) == 7
    assert tree(dst) == tree(serial)
    assert hidden_temporaries(dst) == []
    assert digests(archive) == before


def test_a_second_run_on_the_same_destination_is_refused(env, archive, tmp_path):
    dst = tmp_path / "out"
    dst.mkdir()
    with open(dst / ".tokcodec-batch.lock", "w") as held:  # as a running batch holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        code, _, err = run("transcode", archive, "-o", dst, "-q")
    assert code == 1 and err.count("\n") == 1 and "another tokcodec batch is running" in err, err
    assert not (dst / DB).exists()


def test_source_inside_the_destination_is_refused_before_anything_is_created(env, archive, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(archive, src)
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for dst in (src, src.parent):  # transcode S -o S, and S inside DST
        code, _, err = run("transcode", src, "-o", dst, "-q")
        assert code == 1 and err.count("\n") == 1 and "choose a separate output folder" in err, err
        assert sorted(p.relative_to(src) for p in src.rglob("*")) == before  # no lock, no database
        assert not (dst / DB).exists() and not (dst / ".tokcodec-batch.lock").exists()


def test_a_file_name_that_is_not_utf8_is_coded_like_any_other(env, archive, tmp_path):
    """SQLite cannot store such a name as text: the database keeps it escaped (state.db_text), the
    file is coded, a rerun skips it, and `tokens DIR` (the same code) exports it too."""
    src = tmp_path / "src"
    src.mkdir()
    odd = os.fsdecode(b"odd\xff name.mp4")
    shutil.copy(archive / "a.mp4", src / odd)
    shutil.copy(archive / "a.mkv", src / "plain.mkv")
    for mode, dst, output in (("encode", tmp_path / "out", odd + ".tkc"), ("tokens", tmp_path / "tok", odd + ".npz")):
        summary = run_batch(options(src, dst, mode=mode))
        assert (summary.done, summary.failed) == (2, 0), summary
        assert (dst / output).is_file()
        again = run_batch(options(src, dst, mode=mode))
        assert (again.done, again.skipped, again.failed) == (0, 2, 0), again
    with sqlite3.connect(tmp_path / "out" / DB) as db:
        stored = sorted(r[0] for r in db.execute("SELECT output FROM files"))
    assert stored == ["odd\\xff name.mp4.tkc", "plain.mkv.tkc"]


@pytest.mark.parametrize("damage", ["corrupt page", "other schema", "not a database"])
def test_a_damaged_database_is_one_line_with_the_way_out(env, archive, serial, tmp_path, damage):
    dst = tmp_path / "out"
    shutil.copytree(serial, dst)
    db = dst / DB
    if damage == "corrupt page":
        data = bytearray(db.read_bytes())
        assert len(data) >= 3 * 4096
        data[4096:8192] = os.urandom(4096)  # the second page: the table's rows
        db.write_bytes(bytes(data))
    elif damage == "other schema":
        db.unlink()
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE files (output TEXT PRIMARY KEY, colour TEXT)")
    else:
        db.write_bytes(b"these are not the rows you are looking for" * 100)
    outputs = tree(dst)
    code, _, err = run("transcode", archive, "-o", dst, "-q")
    assert code == 1 and err.count("\n") == 1 and "cannot use this batch database" in err, err
    assert "move it aside" in err and "internal error" not in err
    assert tree(dst) == outputs  # nothing lost or changed


def test_a_finished_run_leaves_outputs_and_state_only(serial):
    assert not (serial / ".tokcodec-batch.lock").exists() and (serial / DB).exists()


def test_usage_errors_and_missing_ray(env, archive, tmp_path, monkeypatch):
    for args in (["--to", "mkv"], ["--decode", "--gop", "5"], ["--model", "tiny", "--quality", "1"]):
        code, _, err = run("transcode", archive, "-o", tmp_path / "out", *args)
        assert code == 2, (args, err)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    code, _, err = run("transcode", archive, "-o", tmp_path / "out", "--ray", "auto", "-q")
    assert code == 1 and err == "tokcodec: error: --ray needs Ray: pip install 'tokcodec[ray]'\n", err


# -- failures are recorded, listed, and do not stop the batch -------------------------------------


def test_a_corrupt_file_fails_alone_and_jobs_wait_for_memory(env, tmp_path, monkeypatch):
    from tokcodec.batch import executors

    src = tmp_path / "src"
    src.mkdir()
    write_clip(src / "good1.mp4", frames(5, seed=1))
    write_clip(src / "good2.mkv", frames(5, seed=2))
    (src / "bad.mp4").write_bytes(os.urandom(3000))
    # Memory for one small job only (2 MiB or more each): two workers, but never two jobs at once.
    calls, admits = [], executors.LocalPool.admits
    monkeypatch.setattr(
        executors.LocalPool,
        "admits",
        lambda self, need, reserved: calls.append((need, reserved, admits(self, need, reserved))) or calls[-1][2],
    )
    monkeypatch.setattr("tokcodec.codec.pipeline.free_memory", lambda device: 3 << 20)  # the job's own check
    monkeypatch.setattr("tokcodec.codec.memory.free_memory", lambda device: 3 << 20)  # the pool's admission
    code, stdout, err = run(
        "transcode", src, "-o", tmp_path / "out", "--json", "--verify", "-q", "--device", "cpu", "--jobs", 2
    )
    waited = [ok for _, reserved, ok in calls if reserved]
    assert waited and not any(waited), calls  # asked while a job ran: refused every time
    assert code == 1
    summary = json.loads(stdout)
    assert (summary["done"], summary["failed"]) == (2, 1) and summary["failures"][0]["source"].endswith("bad.mp4")
    lines = err.strip().splitlines()
    assert lines[0].startswith("tokcodec: failed: ") and "bad.mp4" in lines[0]
    assert lines[-1].startswith("tokcodec: error: 1 of 3 files failed") and "Traceback" not in err
    status = {r["output"]: (r["status"], r["verified"], r["error"]) for r in rows(tmp_path / "out")}
    assert status["good1.mp4.tkc"][:2] == status["good2.mkv.tkc"][:2] == ("done", "ok")
    assert status["bad.mp4.tkc"][0] == "failed" and status["bad.mp4.tkc"][2]
    assert sorted(tree(tmp_path / "out")) == [
        "good1.mp4.tkc",
        "good1.mp4.tkc.json",
        "good2.mkv.tkc",
        "good2.mkv.tkc.json",
    ]


def test_destination_that_cannot_be_created_is_one_line(env, archive, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run("transcode", archive, "-o", tmp_path / "file" / "out")
    assert code == 1 and err.startswith("tokcodec: error: cannot create") and err.count("\n") == 1, err


def test_read_only_destination_is_one_line(env, archive, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not make a folder read-only")
        code, _, err = run("transcode", archive, "-o", locked)
        assert code == 1 and err.startswith("tokcodec: error: cannot write") and err.count("\n") == 1, err
    finally:
        locked.chmod(0o755)


def test_disk_full_leaves_nothing_partial(serial, tmp_path):
    # Decoding to lossless FFV1: the big clips' outputs cannot fit in 100 KiB, the small ones (and the database) can.
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100 << 10, 100 << 10))

    dst = tmp_path / "out"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokcodec",
            "transcode",
            "--decode",
            "--to",
            "mkv",
            str(serial),
            "-o",
            str(dst),
            "-q",
            "--device",
            "cpu",
            "--include",
            "z*.tkc",
            "--include",
            "a.mp4.tkc",
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )
    assert child.returncode == 1, child.stderr
    assert "File too large" in child.stderr and "Traceback" not in child.stderr
    status = {r["output"]: (r["status"], r["error"]) for r in rows(dst)}
    assert status["a.mp4.mkv"][0] == "done"
    assert [status[f"sub/z{i}.mp4.mkv"][0] for i in (1, 2)] == ["failed", "failed"], status
    assert sorted(tree(dst)) == ["a.mp4.mkv"] and hidden_temporaries(dst) == []


# -- sound, rotation and the way back ---------------------------------------------------------------


def test_decode_puts_back_audio_and_rotation(serial, archive, tmp_path):
    dst = tmp_path / "dec"
    summary = run_batch(options(serial, dst, mode="decode", verify=True, include=("talk*", "still*", "a.mkv*")))
    assert summary.done == 3 and summary.failed == 0, summary
    assert sorted(tree(dst)) == ["a.mkv.mp4", "sub/still.png", "sub/talk.mp4"]

    def shown(path):
        """The size a player shows (coded size turned by the display rotation), and the audio packets."""
        with av.open(str(path)) as c:
            first = next(c.decode(video=0))
            turned = round((first.rotation or 0) / 90) % 2
            size = (first.height, first.width) if turned else (first.width, first.height)
        with av.open(str(path)) as c:
            audio = [p for p in c.demux(audio=0) if p.dts is not None]
            return size, c.streams.audio[0].codec_context.name, len(audio), sum(p.duration for p in audio)

    # Upright either way: frames coded upright (readers that turn them), or the rotation put back.
    assert shown(dst / "sub" / "talk.mp4") == shown(archive / "sub" / "talk.mp4")
    assert shown(dst / "sub" / "talk.mp4")[0] == (32, 48)


@pytest.mark.parametrize(
    "field, value, why",
    [
        (("video", "start"), "1e100000000", "video start"),  # Fraction() of it ran for hours
        (("side_file",), "../../etc/passwd", "side_file"),
        (("video", "display_matrix"), [1, 2, 3], "display_matrix"),
        (("streams",), [{"index": "x"}], "stream entry"),
        ((), [1, 2], "not a JSON object"),
    ],
)
def test_a_hostile_sidecar_fails_its_file_with_one_line(serial, tmp_path, field, value, why):
    """Sidecars are untrusted input (docs/security.md): each field is checked within bounds before use,
    so a bad one fails that file with its reason, fast, and the other files are decoded."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.mkv.tkc", "a.mkv.tkc.json", "a.mp4.tkc", "a.mp4.tkc.json"):
        shutil.copy(serial / name, src / name)
    sidecar = json.loads((src / "a.mp4.tkc.json").read_text())
    if field:
        *parents, last = field
        node = sidecar
        for key in parents:
            node = node[key]
        node[last] = value
    else:
        sidecar = value
    (src / "a.mp4.tkc.json").write_text(json.dumps(sidecar))
    started = time.monotonic()
    code, stdout, err = run("transcode", src, "-o", tmp_path / "dec", "--decode", "-q", "--device", "cpu")
    assert code == 1 and time.monotonic() - started < 60, err
    failed = [line for line in err.splitlines() if "failed:" in line and "a.mp4.tkc" in line]
    assert len(failed) == 1 and "bad sidecar" in failed[0] and why in failed[0], err
    assert "Traceback" not in err and (tmp_path / "dec" / "a.mkv.mp4").exists()
    assert not (tmp_path / "dec" / "a.mp4.mp4").exists()


# -- scale-out ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_runs_the_same_jobs(serial, archive, tmp_path):
    ray = pytest.importorskip("ray")
    import logging

    for attempt in (1, 2):  # Ray gives its raylet 30 s to start: a busy machine may need a second go
        try:
            ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
            break
        except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception for that timeout
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(e):
                raise
    try:
        summary = run_batch(options(archive, tmp_path / "out", ray="auto"))
    finally:
        ray.shutdown()
    assert summary.done == 7 and summary.failed == 0, summary
    assert tree(tmp_path / "out") == tree(serial)


# -- token datasets -------------------------------------------------------------------------------


def test_tokens_export_matches_the_container(archive, tmp_path):
    clip, tkc = archive / "sub" / "z1.mp4", tmp_path / "z1.tkc"
    code, _, err = run("encode", clip, "-o", tkc, "--gop", 5, "-q", "--device", "cpu")
    assert code == 0, err
    code, stdout, err = run("tokens", tkc, "-o", tmp_path / "z1.npz", "--json")
    assert code == 0, err
    meta, grids = load_npz(tmp_path / "z1.npz")
    assert json.loads(stdout) == meta
    with ContainerReader(tkc) as reader:
        h = reader.header
        expected = [reader.read_tokens(i) for i in range(h.num_gops)]
    gops = list(iter_gops(tkc))
    assert [g.index for g in gops] == [0, 1, 2, 3] and [g.num_frames for g in gops] == [5, 5, 5, 2]
    for g, e, grid in zip(gops, expected, grids):
        assert g.tokens.dtype == e.dtype and np.array_equal(g.tokens, e) and np.array_equal(grid, e)
    assert [tuple(g["shape"]) for g in meta["gops"]] == [e.shape for e in expected] == [(2, 8, 12)] * 4
    assert [g["frames"] for g in meta["gops"]] == [5, 5, 5, 2]
    assert (meta["model"], meta["frames"], meta["fps"], meta["width"], meta["height"]) == ("tiny", 17, "25/1", 96, 64)
    assert meta["weights_sha256"] == h.weights_hash.hex() and meta["gop_length"] == 5
    assert meta["quantizer"] == {"kind": "lfq", "levels": []}  # the QUAN record of the tiny (LFQ) model
    # A video is encoded in memory first: the same grids as its .tkc.
    code, _, err = run("tokens", clip, "-o", tmp_path / "v.npz", "--gop", 5, "-q", "--device", "cpu")
    assert code == 0, err
    assert all(np.array_equal(a, b) for a, b in zip(load_npz(tmp_path / "v.npz")[1], grids, strict=True))
    # Reading tokens needs numpy only.
    probe = (
        "import sys; from tokcodec.codec.tokens import iter_gops; "
        f"n = sum(g.tokens.size for g in iter_gops({str(tkc)!r})); "
        "print(n, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(sum(e.size for e in expected)), "False"]


def test_tokens_of_a_folder_mirror_it(serial, tmp_path):
    code, _, err = run("tokens", serial, "-o", tmp_path / "toks", "-q", "--jobs", 2)
    assert code == 0, err
    exported = sorted(tree(tmp_path / "toks"))
    assert exported == sorted(p[:-4] + ".npz" for p in tree(serial) if p.endswith(".tkc"))
    meta, grids = load_npz(tmp_path / "toks" / "sub" / "talk.mp4.npz")
    with ContainerReader(serial / "sub" / "talk.mp4.tkc") as reader:
        assert np.array_equal(grids[0], reader.read_tokens(0))
    assert meta["frames"] == 9 and meta["source"] == "talk.mp4.tkc" and grids[0].shape[0] == 3
    # examples/tokens_dataset.py trains on either form.
    spec = importlib.util.spec_from_file_location("tokens_dataset", REPO / "examples" / "tokens_dataset.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert len(list(example.token_grids(serial))) == len(list(example.token_grids(tmp_path / "toks"))) == 7
    assert all(np.isfinite(example.train(folder, steps=3)).all() for folder in (serial, tmp_path / "toks"))


def test_jobs_report_their_frames_to_the_driver(env, tmp_path, monkeypatch):
    """A pool worker's encode reports (output, frames done, total) through work.PROGRESS_SINK as its
    WorkBar moves; the driver shows the running jobs' counts beside the files done."""
    import queue

    from tokcodec.batch import driver, work
    from tokcodec.batch.work import FileTask, process_file

    write_clip(tmp_path / "c.mkv", frames(9))
    sink = queue.Queue()
    monkeypatch.setattr(work, "PROGRESS_SINK", sink)
    monkeypatch.setattr(work, "PROGRESS_EVERY_S", 0.0)
    task = FileTask(mode="encode", source=str(tmp_path / "c.mkv"), output=str(tmp_path / "c.mkv.tkc"), gop=5)
    assert process_file(task).error is None
    reports = list(sink.queue)
    total = reports[0][2]  # None: a .mkv does not announce its frame count
    assert total in (9, None) and all(r[0] == task.output and r[2] == total for r in reports)
    counts = [r[1] for r in reports]
    assert counts == sorted(counts) and counts[0] < 9 and counts[-1] == 9  # it moved, and ended exact
    latest = driver._drain(sink)
    assert latest == {task.output: (9, total)}
    line = driver._status(2, 5, 1, latest, {object(): (task, 0)})
    assert line == f"2/5 files, 1 failed; c.mkv.tkc 9/{total or '?'} frames"
