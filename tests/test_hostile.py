"""Hostile and broken inputs (issue 11): clean one-line errors, bounded resources, no data loss.

Inputs are generated here (PyAV, the imageio-ffmpeg binary) and kept tiny.
The fuzzers' committed corpus (fuzz/corpus) is replayed at the end.
"""

import dataclasses
import io
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tokcodec.codec.container import ContainerReader, Err, write_container
from tokcodec.errors import ContainerError, InputError, ModelError
from tokcodec.io import ColourInfo, VideoInfo, open_video
from tokcodec_cli.main import cli

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "fuzz"))
import common as fuzz_common  # noqa: E402
from conftest import select_zoo  # noqa: E402


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def tokcodec(*args, timeout=120, **kw):
    return subprocess.run(
        [sys.executable, "-m", "tokcodec", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw
    )


def one_error_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.startswith("tokcodec: error:")]
    assert len(lines) == 1 and "Traceback" not in text and "unexpected" not in text, text
    return lines[0]


def ffmpeg(*args):
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *map(str, args)], check=True)


@pytest.fixture
def tiny_tkc(zoo, tmp_path, make_clip):
    """A 5-frame 32x24 .tkc encoded with the tiny model."""
    from tokcodec.codec.pipeline import encode_video
    from tokcodec.zoo import load_model

    frames = make_clip(5, 24, 32)
    model, entry = load_model()
    out = tmp_path / "tiny.tkc"
    encode_video(frames, VideoInfo(32, 24, Fraction(25), 5, ColourInfo()), out, model, entry, gop=5, quiet=True)
    return out


def rewrite_header(path: Path, dest: Path, **changes) -> Path:
    """A copy of the .tkc at `path` with header fields changed and tokens re-drawn to fit (CRCs all valid)."""
    with ContainerReader(path) as r:
        header = dataclasses.replace(r.header, **changes)
    rng = np.random.default_rng(0)
    tokens = [
        rng.integers(0, 1 << header.token_bits, size=header.latent_shape(header.gop_frames(i)))
        for i in range(header.num_gops)
    ]
    out = io.BytesIO()
    write_container(out, dataclasses.replace(header), tokens)
    dest.write_bytes(out.getvalue())
    return dest


def patch_header(data: bytes, fmt: str, offset: int, *values) -> bytes:
    """`data` with header bytes at `offset` replaced by `values`, the header CRC fixed."""
    d = bytearray(data)
    struct.pack_into(fmt, d, offset, *values)
    length = struct.unpack_from("<I", d, 12)[0]
    struct.pack_into("<I", d, length - 4, zlib.crc32(bytes(d[: length - 4])))
    return bytes(d)


# -- bounded resources: headers checked against limits and the model -----------------------------


def test_huge_display_size_is_refused_before_any_allocation(tiny_tkc, tmp_path):
    """The 245-byte attack: a DISP record asking for a huge frame."""
    data = (REPO / "bitstream_spec/vectors/limit_display.tkc").read_bytes()
    with pytest.raises(ContainerError, match="16384x4096 is more than 8 times the coded size 40x24") as e:
        ContainerReader(data, recover=True)
    assert e.value.code == Err.LIMIT
    small = rewrite_header(tiny_tkc, tmp_path / "up.tkc", display_width=64, display_height=24)
    disp_body = small.read_bytes().index(b"DISP") + 8
    small.write_bytes(patch_header(small.read_bytes(), "<I", disp_body, 32 * 9))  # DISP width 288
    code, out = run("decode", small, "-o", tmp_path / "out.y4m", "-q")
    assert code == 1 and "more than 8 times the coded size" in one_error_line(out)
    assert not (tmp_path / "out.y4m").exists()


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("temporal_stride", 16, "temporal stride is 16, model 'tiny' has 4"),
        ("spatial_stride", 4, "spatial stride is 4, model 'tiny' has 8"),
        ("token_bits", 32, "token bits is 32, model 'tiny' has 18"),
    ],
)
def test_header_strides_and_token_bits_must_match_the_model(tiny_tkc, tmp_path, field, value, words):
    bad = rewrite_header(tiny_tkc, tmp_path / "bad.tkc", **{field: value}, frame_count=17, gop_length=17)
    code, out = run("decode", bad, "-o", tmp_path / "out.y4m", "-q")
    assert code == 1 and words in one_error_line(out)
    assert not (tmp_path / "out.y4m").exists()
    from tokcodec.codec.pipeline import model_for

    with pytest.raises(ModelError) as e:
        model_for(ContainerReader(bad).header, None, "cpu")
    assert e.value.code == Err.MODEL_MISMATCH


def test_quantizer_record_must_match_the_model(tiny_tkc, tmp_path):
    assert ContainerReader(tiny_tkc).header.quantizer == "lfq"  # written from the model's config
    bad = rewrite_header(tiny_tkc, tmp_path / "bad.tkc", quantizer="fsq", fsq_levels=(8,) * 6)
    code, out = run("decode", bad, "-o", tmp_path / "out.y4m", "-q")
    assert code == 1 and "QUAN record says fsq" in one_error_line(out)
    assert not (tmp_path / "out.y4m").exists()


def test_decode_never_reports_success_with_fewer_frames(tiny_tkc, tmp_path, monkeypatch):
    from tokcodec.codec import pipeline

    real = pipeline.decode_gop
    monkeypatch.setattr(pipeline, "decode_gop", lambda *a, **k: list(real(*a, **k))[:-1])  # drops a frame
    with pytest.raises(ContainerError, match="decoded .* frames, the header announces"):
        pipeline.decode_container(tiny_tkc, tmp_path / "out.y4m", quiet=True)
    assert not (tmp_path / "out.y4m").exists()


def test_a_model_that_decodes_too_few_frames_is_an_error(tiny_tkc, tmp_path, monkeypatch):
    from tokcodec.codec import pipeline
    from tokcodec.models.tokenizer import Tokenizer

    real = Tokenizer.decode_stream
    monkeypatch.setattr(
        Tokenizer,
        "decode_stream",
        lambda self, tokens, sampled=False: (x[:, :, :-1] for x in real(self, tokens, sampled)),
    )
    with pytest.raises(ModelError, match="decoded fewer frames"):
        pipeline.decode_container(tiny_tkc, tmp_path / "out.y4m", quiet=True)
    assert not (tmp_path / "out.y4m").exists()


def test_absurd_frame_rates_in_a_file(tiny_tkc, tmp_path):
    data = tiny_tkc.read_bytes()
    for num, den in [(1 << 31, 1), (2**32 - 1, 1), (1, 2**32 - 1), (1001, 1)]:
        bad = tmp_path / "fps.tkc"
        bad.write_bytes(patch_header(data, "<II", 28, num, den))
        code, out = run("decode", bad, "-o", tmp_path / "out.mp4", "-q")
        assert code == 1 and "frame rate" in one_error_line(out), out
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fps.tkc", "tiny.tkc"]  # no temporary left


def test_mode_1_without_its_prior_is_a_clean_error(zoo, tmp_path):
    """A mode 1 file (SPEC 6.2) whose token prior this zoo lacks: error 30, one line (SPEC 3.3)."""
    src = tmp_path / "m1.tkc"
    shutil.copy(REPO / "bitstream_spec/vectors/mode_unsupported.tkc", src)
    code, out = run("decode", src, "-o", tmp_path / "out.y4m", "-q")
    assert code == 1 and "unknown token prior 'conformance-prior'" in one_error_line(out)
    code, out = run("info", src)
    assert code == 0 and "entropy mode 1 (MLM range coded" in out  # header and index still readable


def test_model_name_from_a_file_is_escaped(tiny_tkc, tmp_path):
    evil = rewrite_header(tiny_tkc, tmp_path / "evil.tkc", model_name="\x1b]0;pwned\x07\x1b[2Jx")
    code, out = run("decode", evil, "-o", tmp_path / "out.y4m")
    assert code == 1 and "\x1b" not in out and "\x07" not in out and "\\x1b" in one_error_line(out)
    code, out = run("info", evil)
    assert "\x1b" not in out and "\\x1b]0;pwned" in out


def test_pipes_are_refused_not_waited_on(zoo, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for args in (
        ["encode", fifo, "-o", tmp_path / "a.tkc"],
        ["decode", fifo, "-o", tmp_path / "a.y4m"],
        ["info", fifo],
    ):
        p = tokcodec(*args, timeout=60, env={**os.environ, "TOKCODEC_ZOO": str(zoo)})
        assert p.returncode == 1 and "not a regular file" in one_error_line(p.stderr), p.stderr


def test_force_never_replaces_devices_or_pipes(tiny_tkc, tmp_path):
    fifo = tmp_path / "out.y4m"
    os.mkfifo(fifo)
    code, out = run("decode", tiny_tkc, "-o", fifo, "--force", "-q")
    assert code == 1 and "not a regular file" in one_error_line(out) and fifo.is_fifo()
    code, out = run("decode", tiny_tkc, "-o", "/dev/null", "--force", "-q")
    assert code == 1 and "not a regular file" in one_error_line(out)


@pytest.mark.parametrize("pattern", ["%c.png", "%s.png", "%d%d.png", "%x.png", "a%%d.png"])
def test_bad_frame_patterns(tiny_tkc, tmp_path, pattern):
    code, out = run("decode", tiny_tkc, "-o", tmp_path / "frames" / pattern, "-q")
    assert code == 1 and "bad frame name pattern" in one_error_line(out)


# -- broken videos in ------------------------------------------------------------------------------


def encode_cli(src, tmp_path, *extra):
    out = tmp_path / "out.tkc"
    code, text = run("encode", src, "-o", out, "--gop", "5", "--force", *extra)
    return code, text, out


@pytest.fixture
def clip_33(tmp_path):
    """33 frames 64x48, moov at the front (faststart), so that a cut file is still readable."""
    path = tmp_path / "fs.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=30",
        "-frames:v",
        "33",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "8",
        "-movflags",
        "+faststart",
        path,
    )
    return path


def test_cut_mp4_says_how_many_frames_were_read(zoo, tmp_path, clip_33):
    data = clip_33.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    code, text, out = encode_cli(cut, tmp_path)
    assert code == 3, text
    warning = [line for line in text.splitlines() if line.startswith("tokcodec: warning:")]
    assert len(warning) == 1 and "of the 33 frames it announces" in warning[0]
    read = int(warning[0].split("ended after ")[1].split()[0])
    assert 0 < read < 33 and ContainerReader(out).header.frame_count == read


def test_cut_mp4_without_its_index_is_refused(zoo, tmp_path, example_clip):
    data = example_clip.read_bytes()  # moov at the end: half a file has no index at all
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    code, text, out = encode_cli(cut, tmp_path)
    assert code == 1 and "not a readable video" in one_error_line(text) and not out.exists()


def test_empty_zero_frame_and_audio_only_inputs(zoo, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    no_frames = tmp_path / "none.y4m"
    no_frames.write_bytes(b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n")
    audio = tmp_path / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", audio)
    for src, words in [(empty, "empty file"), (no_frames, "no video frames"), (audio, "has no video stream")]:
        code, text, out = encode_cli(src, tmp_path)
        assert code == 1 and words in one_error_line(text), text
        assert not out.exists()


def test_variable_frame_rate_keeps_the_duration(zoo, tmp_path):
    src = tmp_path / "vfr.mkv"  # 10 frames at 10 fps, then 10 at 30 fps: 1.333 s
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=32x16:rate=30",
        "-frames:v",
        "20",
        "-vf",
        "setpts='if(lt(N,10),N/10,1+(N-10)/30)/TB'",
        "-fps_mode",
        "vfr",
        "-pix_fmt",
        "yuv420p",
        src,
    )
    with open_video(src) as reader:
        assert reader.info.variable_rate and float(reader.info.fps) == pytest.approx(15, rel=1e-3)
    code, text, out = encode_cli(src, tmp_path)
    assert code == 0 and "variable frame rate" in text
    h = ContainerReader(out).header
    assert float(h.frame_count / h.fps) == pytest.approx(4 / 3, abs=2e-3)  # duration kept (ms time base)


@pytest.mark.parametrize("rotation,turns", [(90, 1), (-90, 3), (180, 2)])
def test_rotated_phone_video_is_coded_upright(zoo, tmp_path, rotation, turns):
    base, rotated = tmp_path / "base.mp4", tmp_path / "rot.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x16:rate=10", "-frames:v", "3", "-pix_fmt", "yuv444p", base)
    ffmpeg("-display_rotation", rotation, "-i", base, "-c", "copy", rotated)
    upright = tmp_path / "upright.y4m"  # ffmpeg's own autorotation, the reference
    ffmpeg("-i", rotated, "-pix_fmt", "yuv444p", upright)
    with open_video(rotated) as reader, open_video(upright) as ref:
        assert reader.info.rotation == 90 * turns
        assert (reader.info.width, reader.info.height) == (ref.info.width, ref.info.height)
        a, b = next(iter(reader)), next(iter(ref))
        assert np.abs(a.astype(int) - b).mean() < 3
    code, text, out = encode_cli(rotated, tmp_path)
    assert code == 0 and "rotated" in text
    assert (ContainerReader(out).header.width, ContainerReader(out).header.height) == (b.shape[1], b.shape[0])


@pytest.mark.parametrize(
    "make,note",
    [
        (["-f", "lavfi", "-i", "testsrc=size=16x16", "-frames:v", "2", "-pix_fmt", "gray"], None),
        (["-f", "lavfi", "-i", "testsrc=size=16x16", "-frames:v", "2", "-pix_fmt", "yuv444p"], None),
        (["-f", "lavfi", "-i", "testsrc=size=16x16", "-frames:v", "2", "-pix_fmt", "yuv420p10le"], "10-bit"),
        (
            ["-f", "lavfi", "-i", "testsrc=size=16x16", "-frames:v", "2", "-pix_fmt", "yuva420p", "-c:v", "ffv1"],
            "alpha",
        ),
        (["-f", "lavfi", "-i", "color=c=red:size=1x1", "-frames:v", "2", "-pix_fmt", "rgb24", "-c:v", "ffv1"], None),
        (["-f", "lavfi", "-i", "testsrc=size=7x5", "-frames:v", "2", "-pix_fmt", "yuv444p", "-c:v", "ffv1"], None),
    ],
)
def test_odd_pixel_formats_and_sizes(zoo, tmp_path, make, note):
    src = tmp_path / "in.mkv"
    ffmpeg(*make, src)
    code, text, out = encode_cli(src, tmp_path)
    assert code == 0, text
    assert (note in text) if note else "warning" not in text
    with open_video(src) as reader:
        w, h = reader.info.width, reader.info.height
    code, text = run("decode", out, "-o", tmp_path / "back.mkv", "-q")
    assert code == 0, text
    with open_video(tmp_path / "back.mkv") as back:
        assert (back.info.width, back.info.height) == (w, h) and len(list(back)) == 2


def test_8k_is_bounded_by_a_memory_check_and_larger_frames_by_the_limits(zoo, monkeypatch):
    from tokcodec.codec import pipeline
    from tokcodec.zoo import load_model

    model, entry = load_model()
    info = VideoInfo(7680, 4320, Fraction(30), 17, ColourInfo())
    assert pipeline.make_header(info, entry, 17).limit_problem() is None  # 8K is a valid size...
    monkeypatch.setattr(pipeline, "free_memory", lambda device: 1 << 30)
    with pytest.raises(InputError, match="needs about .* GiB on cpu, 1.0 GiB are free"):
        pipeline.encode_video(iter(()), info, io.BytesIO(), model, entry, gop=17, quiet=True)  # ...refused up front
    with pytest.raises(InputError, match="exceeds the limit"):
        pipeline.make_header(dataclasses.replace(info, width=20000, height=100), entry, 17)


def test_frame_rate_option_limits():
    for fps in ("0", "nan", "inf", "-1", "2147483648", "1/0"):
        code, out = run("encode", "x.mp4", "-o", "x.tkc", "--fps", fps)
        assert code == 2 and "Invalid value for '--fps'" in out, (fps, out)


# -- entropy mode 1: decode work bounded by the file's bytes (SPEC 3.5, revision 1.4) ------------

sys.path.insert(0, str(REPO / "tools"))
from mode1_work import worst_file  # noqa: E402  (mode 1 files naming the shipped tc-2.1 and its prior)


@pytest.fixture
def shipped_zoo(monkeypatch):
    """The shipped zoo (tc-2.1 and mlm-tc-2.1), for these tests and the commands they run."""
    select_zoo(monkeypatch, None)


@pytest.mark.parametrize("case", ["1016x1016x1024", "8x8x1024"])
def test_mode1_file_announcing_more_prior_work_than_its_bytes_is_refused_at_once(shipped_zoo, tmp_path, case):
    """The bomb class: a valid mode 1 file of ~1 KB whose one GOP would keep the prior busy for
    minutes (large frames) or for a thousand passes (tiny ones). Every reader refuses it from the
    header, before the prior is loaded: error 11, one line naming the limit."""
    width, height, frames = map(int, case.split("x"))
    bomb = tmp_path / "bomb.tkc"
    worst_file(bomb, width, height, frames, pad=False)
    assert bomb.stat().st_size < 1200
    for args in (["tokens", bomb, "-o", tmp_path / "t.npz"], ["decode", bomb, "-o", tmp_path / "v.y4m"]):
        p = tokcodec(*args)
        assert p.returncode == 1 and "prior positions per byte" in one_error_line(p.stderr), p.stderr
    assert sorted(os.listdir(tmp_path)) == ["bomb.tkc"]
    with pytest.raises(ContainerError) as refused:
        ContainerReader(bomb)
    assert refused.value.code == Err.SHORT_FOR_GOPS


def test_mode1_file_padded_to_the_limit_decodes(shipped_zoo, tmp_path):
    """The same tiny-frame GOP with the writer's zero words is legal and decodes (a steps byte and
    zero words decode to tokens 0, the tokens the file's CRC was computed on)."""
    legal = tmp_path / "legal.tkc"
    header = worst_file(legal, 8, 8, 1024)
    assert header.prior_work() <= legal.stat().st_size * 64 < header.prior_work() + 64 * 64  # + index, footer
    p = tokcodec("tokens", legal, "-o", tmp_path / "t.npz")
    assert p.returncode == 0, p.stderr
    assert not np.load(tmp_path / "t.npz")["gop_00000"].any()


@pytest.mark.parametrize("damage", ["header size", "tensor shape", "config", "exp table"])
def test_a_zoo_prior_file_that_is_not_a_prior_is_error_30(prior_zoo_path, tmp_path, make_clip, damage):
    """Zoo folders are untrusted: a prior file that matches its registry hash but breaks SPEC B.2
    or B.8 is refused before anything is built from it (error 30), in one line."""
    import hashlib
    import json

    from safetensors.torch import load_file, save_file

    zoo = tmp_path / "zoo"
    shutil.copytree(prior_zoo_path.parent, zoo)
    env = {**os.environ, "TOKCODEC_ZOO": str(zoo / "registry.json"), "OMP_NUM_THREADS": "1"}
    clip = tmp_path / "in.y4m"
    from tokcodec.io import open_writer

    with open_writer(clip, 32, 24, 25) as w:
        for frame in make_clip(5, 24, 32):
            w.write(frame)
    assert tokcodec("encode", clip, "-o", tmp_path / "a.tkc", "--gop", 5, "-q", env=env).returncode == 0
    registry = json.loads((zoo / "registry.json").read_text())
    entry = registry["priors"]["tiny-prior"]
    file = zoo / entry["file"]
    tensors = load_file(str(file))
    config = dict(entry["config"])
    if damage == "header size":
        file.write_bytes((1 << 40).to_bytes(8, "little") + file.read_bytes()[8:])
    else:
        if damage == "tensor shape":
            tensors["blocks.0.fc1.weight"] = tensors["blocks.0.fc1.weight"][:-1].contiguous()
        elif damage == "config":
            config["window"] = 7
        else:  # B.2 fixes the exponential tables' first entries (E_out[0] = 2^20)
            tensors["exp_out"][0] = 1 << 21
        save_file(tensors, str(file), metadata={"config": json.dumps(config)})
        entry["config"] = config
    entry["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (zoo / "registry.json").write_text(json.dumps(registry))
    # the file names the damaged prior's hash (mlm_sha256, header offset 84), as its writer would have
    tkc = tmp_path / "a.tkc"
    tkc.write_bytes(patch_header(tkc.read_bytes(), "32s", 84, bytes.fromhex(entry["sha256"])))
    p = tokcodec("tokens", tkc, "-o", tmp_path / "t.npz", env=env)
    assert p.returncode == 1 and "is not a valid prior" in one_error_line(p.stderr), p.stderr
    assert not (tmp_path / "t.npz").exists()


def _address_space(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_mode1_grid_the_prior_cannot_hold_is_out_of_memory_before_allocating(shipped_zoo, tmp_path):
    """A legal file (padded to the work limit) of one 8192x8192 frame: a 1024x1024 token grid, about
    32 GiB of prior activations. Under a 4 GiB address space: one out-of-memory line, nothing written."""
    big = tmp_path / "big.tkc"
    worst_file(big, 8192, 8192, 1)
    p = subprocess.run(
        [sys.executable, "-m", "tokcodec", "tokens", str(big), "-o", str(tmp_path / "t.npz")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_address_space(4 << 30),
    )
    assert p.returncode == 1 and "out of memory: the token prior needs" in one_error_line(p.stderr), p.stderr
    assert sorted(os.listdir(tmp_path)) == ["big.tkc"]


# -- no data loss: a full disk or a kill keeps the previous output --------------------------------


def _limited(limit: int, die: bool):
    def setup():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        if not die:  # SIGXFSZ ignored: writes fail with EFBIG, like a full disk
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return setup


@pytest.mark.parametrize("die", [False, True], ids=["disk-full", "killed"])
def test_full_disk_or_kill_keeps_the_previous_output(zoo, tmp_path, make_clip, die):
    from tokcodec.io import open_writer

    env = {**os.environ, "TOKCODEC_ZOO": str(zoo), "OMP_NUM_THREADS": "1", "TOKCODEC_DEBUG": "1"}
    example_clip = tmp_path / "in.y4m"
    with open_writer(example_clip, 64, 48, 25) as writer:
        for frame in make_clip(9, 48, 64):
            writer.write(frame)
    tkc, video = tmp_path / "out.tkc", tmp_path / "out.y4m"
    assert tokcodec("encode", example_clip, "-o", tkc, "--gop", "5", "-q", env=env).returncode == 0
    tkc_before = tkc.read_bytes()
    p = tokcodec("decode", tkc, "-o", video, "-q", env=env)
    assert p.returncode == 0, p.stderr
    video_before = video.read_bytes()
    tokens = tmp_path / "out.npz"
    assert tokcodec("tokens", example_clip, "-o", tokens, "--gop", "5", env=env).returncode == 0
    tokens_before = tokens.read_bytes()
    for args, out, before, limit in (
        (["encode", example_clip, "-o", tkc, "--gop", "9", "--force", "-q"], tkc, tkc_before, len(tkc_before) // 2),
        (["decode", tkc, "-o", video, "--force", "-q"], video, video_before, len(video_before) // 3),
        (["tokens", tkc, "-o", tokens, "--force"], tokens, tokens_before, len(tokens_before) // 3),
    ):
        p = subprocess.run(
            [sys.executable, "-m", "tokcodec", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_limited(limit, die),
            timeout=300,
        )
        assert p.returncode != 0
        if not die:
            assert p.returncode == 1 and "too large" in one_error_line(p.stderr), p.stderr
        assert out.read_bytes() == before  # the previous output, intact
        leftovers = [n for n in os.listdir(tmp_path) if ".tokcodec-" in n]
        assert not leftovers if not die else all(n.startswith(f".{out.name}.") for n in leftovers)


# -- model files: no pickle, hashes checked before use -------------------------------------------


def test_zoo_weights_are_hash_checked(zoo, tmp_path, monkeypatch):
    from tokcodec.zoo import get_entry, load_model

    copy = tmp_path / "zoo"
    shutil.copytree(Path(zoo).parent, copy)
    select_zoo(monkeypatch, str(copy / "registry.json"))
    weights = get_entry().files[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match their sha256"):
        load_model()


def test_lpips_weights_are_hash_checked(tmp_path):
    from tokcodec.metrics.lpips import WEIGHTS_DIR, load_verified_weights

    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, copy)
    data = bytearray((copy / "lpips_alex.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "lpips_alex.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_verified_weights("alex", copy)
    (copy / "SHA256SUMS").write_text("")
    with pytest.raises(ModelError, match="no lpips_alex files listed"):
        load_verified_weights("alex", copy)


def test_no_pickle_loading_anywhere():
    """Model weights load through safetensors only: no torch.load / pickle where models are loaded.

    (tokcodec/train reads its own training checkpoints with torch.load: not model files from the zoo.)"""
    for path in [
        *(REPO / "tokcodec/zoo").rglob("*.py"),
        *(REPO / "tokcodec/metrics").rglob("*.py"),
        *(REPO / "tokcodec/codec").rglob("*.py"),
        *(REPO / "tokcodec/models").rglob("*.py"),
    ]:
        text = path.read_text()
        assert "torch.load(" not in text and "import pickle" not in text, path


# -- the fuzzers' corpus ---------------------------------------------------------------------------


def test_fuzz_corpus_replays_cleanly(zoo, tmp_path):
    """Every committed fuzz input ends in success or a clean TokcodecError, leaving no stray file."""
    container = sorted((fuzz_common.CORPUS / "container").iterdir())
    decode = sorted((fuzz_common.CORPUS / "decode").iterdir())
    assert 10 < len(container) <= 400 and 4 <= len(decode) <= 400
    codes = {fuzz_common.parse(p.read_bytes()) for p in container}
    assert {Err.HEADER_CRC, Err.INVALID_HEADER, Err.PAYLOAD_CRC, None} <= codes
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcomes = [
        fuzz_common.decode(p.read_bytes(), scratch, ("freeze", "skip", "stop")[i % 3]) for i, p in enumerate(decode)
    ]
    assert None in outcomes  # the seeds decode: the tiny model of the fuzzer is the tests' one


def test_sidecar_fuzz_corpus_replays_cleanly():
    """The sidecar fuzzer's corpus (fuzz/fuzz_sidecar.py): each input parses into usable fields or ends in
    one clean 'bad sidecar' / 'unreadable sidecar' error, and what the decode side reads never raises."""
    inputs = sorted((fuzz_common.CORPUS / "sidecar").iterdir())
    assert 3 <= len(inputs) <= 400
    outcomes = [fuzz_common.sidecar(p.read_bytes()) for p in inputs]
    assert None in outcomes and any(o and "bad sidecar" in o for o in outcomes)
    assert all(o is None or "sidecar" in o for o in outcomes)


def test_state_fuzz_corpus_replays_cleanly(tmp_path):
    """The batch-database fuzzer's corpus (fuzz/fuzz_state.py): every file is a usable database or ends in
    one clean 'cannot use this batch database' error, among them the file whose quick_check report was
    not UTF-8 (the sqlite3 module raised UnicodeDecodeError, reported as a bug before)."""
    inputs = sorted((fuzz_common.CORPUS / "state").iterdir())
    assert 2 <= len(inputs) <= 400
    outcomes = {p.name: fuzz_common.state(p.read_bytes(), tmp_path) for p in inputs}
    assert outcomes["seed_one_done.sqlite"] is None
    assert "cannot use this batch database" in outcomes["finding_invalid_utf8_in_quick_check.sqlite"]
    assert all(o is None or "cannot use this batch database" in o or "disk is full" in o for o in outcomes.values())


def test_mode1_fuzz_corpus_replays_cleanly(shipped_zoo, tmp_path):
    """The mode 1 fuzzer's corpus (fuzz/fuzz_mode1.py): .tkc files whose tokens are read through the shipped
    prior end in success or a clean error; its seeds (mode 1 files of the default model) read completely,
    and a file announcing more prior work than its bytes pay for (the 1,024-frame 8x8 vector) is refused
    by the work bound, error 11, before the prior runs."""
    inputs = sorted((fuzz_common.CORPUS / "mode1").iterdir())
    assert 4 <= len(inputs) <= 400
    outcomes = {p.name: fuzz_common.mode1_tokens(p.read_bytes(), tmp_path) for p in inputs}
    assert all(outcomes[name] is None for name in outcomes if name.startswith("seed_")), outcomes
    assert all(o is None or isinstance(o, int) for o in outcomes.values())
    bomb = (REPO / "bitstream_spec" / "vectors" / "mode1_work.tkc").read_bytes()
    assert fuzz_common.mode1_tokens(bomb, tmp_path) == 11


def test_a_full_disk_under_the_batch_database_is_one_line(tmp_path):
    """SQLite's 'database or disk is full' (here: the file may not grow, RLIMIT_FSIZE with SIGXFSZ ignored,
    as on a full disk) ends in the one line that says so and how to go on, not a traceback."""
    from tokcodec.batch.state import DB_NAME, BatchState

    BatchState(tmp_path).close()  # an empty database, as a first run leaves it
    size = (tmp_path / DB_NAME).stat().st_size
    script = (
        "import sys\nfrom pathlib import Path\nfrom tokcodec.batch.state import BatchState\n"
        "from tokcodec.errors import TokcodecError\n"
        f"st = BatchState(Path({str(tmp_path)!r}))\n"
        "try:\n    st.plan([(f'out{i:05d}.tkc' + 'x' * 200, f'/nowhere/{i}.mp4') for i in range(5000)])\n"
        "except TokcodecError as e:\n    print(e)\n    sys.exit(1)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=_limited(size, die=False),
        timeout=120,
    )
    assert p.returncode == 1 and "the disk is full" in p.stdout and "free some space" in p.stdout, (p.stdout, p.stderr)
    assert p.stdout.count("\n") == 1 and not p.stderr
