"""tokcodec.io: colour maths, frame <-> tensor, readers, writers, atomic output."""

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from tokcodec.errors import InputError, OutputError
from tokcodec.io import (
    ColourInfo,
    atomic_output,
    open_video,
    open_writer,
    read_frames,
    resize_area,
    rgb_to_yuv,
    rgb_to_yuv420,
    to_frames,
    to_tensor,
    yuv420_to_rgb,
    yuv_to_rgb,
)
from tokcodec.io.colour import tagged_colour

NTSC = Fraction(30000, 1001)


def write_video(path, frames, fps=NTSC, **kwargs):
    height, width = frames[0].shape[:2]
    with open_writer(path, width, height, fps, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)


def write_y4m(path, header, frames):
    """A hand-made y4m (header e.g. 'W16 H16 F25:1 C444'), frames = [(y, u, v)]."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 {header}\n".encode())
        for planes in frames:
            f.write(b"FRAME\n" + b"".join(p.tobytes() for p in planes))


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


# --- colour ----------------------------------------------------------------------

WHITE, BLACK, RED, GREEN, BLUE = (255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.mark.parametrize(
    "matrix, full_range, expected",
    [
        # BT.709 limited range: the values of ITU-R BT.709 / SMPTE colour bars.
        (1, False, [(235, 128, 128), (16, 128, 128), (63, 102, 240), (173, 42, 26), (32, 240, 118)]),
        (6, False, [(235, 128, 128), (16, 128, 128), (81, 90, 240), (145, 54, 34), (41, 240, 110)]),
        (1, True, [(255, 128, 128), (0, 128, 128), (54, 99, 255), (182, 30, 12), (18, 255, 116)]),
    ],
)
def test_rgb_to_yuv_known_values(matrix, full_range, expected):
    rgb = np.array([[WHITE, BLACK, RED, GREEN, BLUE]], np.uint8)
    y, u, v = rgb_to_yuv(rgb, matrix=matrix, full_range=full_range)
    assert np.stack([y, u, v], axis=-1)[0].tolist() == [list(e) for e in expected]


@pytest.mark.parametrize("matrix", [1, 5, 6, 9])
@pytest.mark.parametrize("full_range", [False, True])
def test_rgb_yuv_rgb_within_two_levels(matrix, full_range):
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    back = yuv_to_rgb(*rgb_to_yuv(rgb, matrix, full_range), matrix=matrix, full_range=full_range)
    diff = np.abs(back.astype(int) - rgb)
    assert diff.max() <= 2 and diff.mean() < 0.5


@pytest.mark.parametrize("height, width", [(48, 64), (47, 63)])
def test_yuv420_shapes_and_round_trip(make_clip, height, width):
    frame = make_clip(1, height, width)[0]
    y, u, v = rgb_to_yuv420(frame)
    assert y.shape == (height, width) and u.shape == v.shape == ((height + 1) // 2, (width + 1) // 2)
    back = yuv420_to_rgb(y, u, v)
    assert back.shape == frame.shape
    assert psnr(frame, back) > 40  # smooth content: chroma subsampling costs little


def test_flat_colour_survives_420():
    frame = np.full((6, 10, 3), (200, 30, 90), np.uint8)
    assert np.abs(yuv420_to_rgb(*rgb_to_yuv420(frame)).astype(int) - frame).max() <= 2


def test_ten_bit_planes():
    # BT.709 limited 10-bit: white is Y 940, neutral chroma 512.
    y, c = np.full((4, 4), 940, np.uint16), np.full((4, 4), 512, np.uint16)
    assert (yuv_to_rgb(y, c, c, matrix=1, bits=10) == 255).all()


def test_untagged_matrix_depends_on_height():
    assert tagged_colour(2, 2, 2, False, height=576).matrix == 6  # SD: BT.601
    assert tagged_colour(2, 2, 2, False, height=720).matrix == 1  # HD: BT.709
    assert tagged_colour(2, 2, 5, False, height=1080).matrix == 5  # a tag wins


# --- frames <-> tensors ------------------------------------------------------------


def test_to_tensor_to_frames_round_trip(make_clip):
    frames = make_clip(3, 8, 10)
    x = to_tensor(frames)
    assert x.shape == (1, 3, 3, 8, 10) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[0, :, 1, 2, 3], torch.from_numpy(frames[1][2, 3]).float() / 127.5 - 1)
    assert np.array_equal(to_frames(x), np.stack(frames))
    assert np.array_equal(to_frames(to_tensor(np.stack(frames))), np.stack(frames))


def test_to_frames_rounds_and_clamps():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.004, 1.0, 3.0]).view(1, 1, 1, 1, 6).expand(1, 3, 1, 1, 6)
    assert to_frames(x)[0, 0, :, 0].tolist() == [0, 0, 128, 128, 255, 255]


def test_resize_area_integer_factor_is_box_mean():
    frame = np.random.default_rng(1).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    small = resize_area(frame, (3, 2))
    expected = frame.reshape(2, 4, 3, 4, 3).mean(axis=(1, 3))
    assert small.shape == (2, 3, 3) and np.abs(small - expected).max() <= 0.5


# --- writers and readers -------------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.mkv", "frames/", "frames", "out/f_%03d.png"])
@pytest.mark.parametrize("height, width", [(48, 64), (47, 63)])
def test_lossless_round_trip(tmp_path, make_clip, name, height, width):
    frames = make_clip(4, height, width)
    write_video(f"{tmp_path}/{name}", frames)
    back, info = read_frames(tmp_path / name.split("/")[0])
    assert (info.width, info.height, info.num_frames) == (width, height, 4)
    assert np.array_equal(np.stack(back), np.stack(frames))
    # Frame folders have nowhere to keep the rate; the container does.
    assert info.fps == (NTSC if name.endswith(".mkv") else 25)


@pytest.mark.parametrize("name, min_psnr", [("clip.y4m", 45), ("clip.mp4", 35)])
@pytest.mark.parametrize("height, width", [(48, 64), (47, 63)])
def test_lossy_round_trip(tmp_path, make_clip, name, min_psnr, height, width):
    frames = make_clip(4, height, width)
    write_video(tmp_path / name, frames)
    back, info = read_frames(tmp_path / name)
    assert info.fps == NTSC and len(back) == 4
    if name.endswith(".mp4"):  # 4:2:0: odd sizes are padded by repeating the edge
        assert (info.width, info.height) == (width + width % 2, height + height % 2)
        back = [f[:height, :width] for f in back]
        assert info.colour == ColourInfo(1, 1, 1, full_range=False)
    else:
        assert np.abs(np.stack(back).astype(int) - np.stack(frames)).max() <= 2
    assert psnr(frames, back) > min_psnr


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(24000, 1001), Fraction(60)])
def test_fps_preserved(tmp_path, make_clip, fps):
    for name in ("a.mp4", "a.mkv", "a.y4m"):
        write_video(tmp_path / name, make_clip(2, 16, 16), fps=fps)
        with open_video(tmp_path / name) as reader:
            assert reader.info.fps == fps, name


@pytest.mark.parametrize("colour", [ColourInfo(6, 6, 6, False), ColourInfo(1, 1, 1, True), ColourInfo(matrix=5)])
def test_mp4_colour_tags_written_and_honoured(tmp_path, colour):
    # Saturated colours: decoding with the wrong matrix or range would be far off.
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[:, :8], frame[:, 8:16], frame[:, 16:24], frame[:, 24:] = RED, GREEN, BLUE, (240, 240, 20)
    write_video(tmp_path / "c.mp4", [frame], colour=colour)
    back, info = read_frames(tmp_path / "c.mp4")
    assert info.colour == colour
    assert np.abs(back[0][:, 2:6].astype(int) - frame[:, 2:6]).max() <= 6  # away from chroma edges


def test_range_tag_is_honoured(tmp_path):
    # Y = 235 is white in limited range but a light grey in full range.
    y, c = np.full((16, 16), 235, np.uint8), np.full((16, 16), 128, np.uint8)
    for tag, expected, full in [("LIMITED", 255, False), ("FULL", 235, True), (None, 255, False)]:
        header = "W16 H16 F25:1 Ip A1:1 C444" + (f" XCOLORRANGE={tag}" if tag else "")
        write_y4m(tmp_path / "r.y4m", header, [(y, c, c)])
        back, info = read_frames(tmp_path / "r.y4m")
        assert info.colour.full_range is full and info.colour.matrix == 6  # untagged SD: BT.601
        assert (back[0] == expected).all()


def test_ten_bit_y4m(tmp_path):
    y, c = np.full((8, 8), 940, "<u2"), np.full((4, 4), 512, "<u2")
    write_y4m(tmp_path / "t.y4m", "W8 H8 F25:1 Ip C420p10 XCOLORRANGE=LIMITED", [(y, c, c)])
    assert (read_frames(tmp_path / "t.y4m")[0][0] == 255).all()


def test_frame_folder_natural_order_and_fps(tmp_path):
    frames = [np.full((6, 8, 3), 20 * i, np.uint8) for i in range(11)]
    write_video(tmp_path / "seq" / "frame_%d.png", frames)  # frame_0 ... frame_10
    (tmp_path / "seq" / "notes.txt").write_text("ignored")
    back, info = read_frames(tmp_path / "seq", fps=12)
    assert [int(f[0, 0, 0]) for f in back] == [20 * i for i in range(11)]
    assert info.fps == 12 and info.num_frames == 11


def test_single_images(tmp_path, make_clip):
    frame = make_clip(1, 24, 32)[0]
    write_video(tmp_path / "png/", [frame])
    back, info = read_frames(tmp_path / "png" / "00000.png")
    assert np.array_equal(back[0], frame) and info.num_frames == 1 and info.fps == 25
    assert read_frames(tmp_path / "png" / "00000.png", fps=Fraction(10))[1].fps == 10
    # A JPEG: full-range BT.601 Y'CbCr.
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt, codec.time_base = 32, 24, "yuvj444p", Fraction(1, 25)
    flat = np.full((24, 32, 3), (200, 100, 50), np.uint8)
    packets = codec.encode(av.VideoFrame.from_ndarray(flat, "rgb24").reformat(format="yuvj444p"))
    (tmp_path / "x.jpg").write_bytes(b"".join(bytes(p) for p in packets))
    back, info = read_frames(tmp_path / "x.jpg")
    assert info.colour.full_range and np.abs(back[0].astype(int) - flat).max() <= 3


def test_example_clip(example_clip):
    with open_video(example_clip) as reader:
        assert (reader.info.width, reader.info.height, reader.info.num_frames) == (320, 180, 33)
        assert reader.info.fps == NTSC and reader.info.colour == ColourInfo(1, 1, 1, False)
        first = next(iter(reader))
        assert first.shape == (180, 320, 3) and first.dtype == np.uint8
        with pytest.raises(RuntimeError):
            iter(reader)  # one pass only
    frames, info = read_frames(example_clip, max_frames=5, size=(160, 90))
    assert len(frames) == 5 and frames[0].shape == (90, 160, 3)
    assert (info.width, info.height, info.num_frames) == (160, 90, 5)


# --- bad input -------------------------------------------------------------------------


def bad_inputs(tmp_path, example_clip):
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "truncated.mp4").write_bytes(example_clip.read_bytes()[:20000])
    (tmp_path / "noimages").mkdir()
    (tmp_path / "noimages" / "a.txt").write_text("x")
    write_y4m(tmp_path / "zero.y4m", "W16 H16 F25:1 C444", [])
    write_video(tmp_path / "sizes/", [np.zeros((4, 4, 3), np.uint8)])
    write_video(tmp_path / "other/", [np.zeros((4, 6, 3), np.uint8)])
    (tmp_path / "other" / "00000.png").rename(tmp_path / "sizes" / "00001.png")
    return ["missing.mp4", "junk.mp4", "empty.mp4", "truncated.mp4", "noimages", "zero.y4m", "sizes"]


def test_bad_inputs_raise_input_error(tmp_path, example_clip):
    for name in bad_inputs(tmp_path, example_clip):
        with pytest.raises(InputError) as raised:
            read_frames(tmp_path / name)
        message = str(raised.value)
        assert name in message and "\n" not in message and "Errno" not in message, message


# --- output safety -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["o.mp4", "o.mkv", "o.y4m", "o/"])
def test_no_overwrite_without_force(tmp_path, make_clip, name):
    path = f"{tmp_path}/{name}"
    write_video(path, make_clip(2, 16, 16))
    with pytest.raises(OutputError, match="exists"):
        write_video(path, make_clip(3, 16, 16))
    assert len(read_frames(path)[0]) == 2
    write_video(path, make_clip(3, 16, 16), force=True)
    assert len(read_frames(path)[0]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [name.rstrip("/")]  # no temporaries left


@pytest.mark.parametrize("name", ["o.mp4", "o.mkv", "o.y4m", "o/"])
def test_failure_leaves_nothing(tmp_path, make_clip, name):
    frames = make_clip(2, 16, 16)
    with pytest.raises(KeyError):
        with open_writer(f"{tmp_path}/{name}", 16, 16, 25) as writer:
            writer.write(frames[0])
            raise KeyError("boom")
    writer = open_writer(f"{tmp_path}/{name}", 16, 16, 25)
    writer.write(frames[0])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_forced_folder_replaced_only_after_success(tmp_path, make_clip):
    old, new = make_clip(2, 8, 8), make_clip(3, 8, 8)[::-1]
    write_video(tmp_path / "f/", old)
    with pytest.raises(KeyError):
        with open_writer(tmp_path / "f/", 8, 8, 25, force=True) as writer:
            writer.write(new[0])
            raise KeyError("boom")
    assert np.array_equal(np.stack(read_frames(tmp_path / "f")[0]), np.stack(old))
    write_video(tmp_path / "f/", new, force=True)
    assert np.array_equal(np.stack(read_frames(tmp_path / "f")[0]), np.stack(new))
    # force replaces a frame folder, never a folder holding anything else.
    (tmp_path / "f" / "keep.txt").write_text("precious")
    with pytest.raises(OutputError):
        write_video(tmp_path / "f/", new, force=True)


def test_unwritable_destination(tmp_path):
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "file" / "o.mp4", tmp_path / "o.avi"):
        with pytest.raises(OutputError) as raised:
            open_writer(path, 16, 16, 25)
        assert "\n" not in str(raised.value)
    # a missing folder is made, and removed again with an output that is abandoned
    writer = open_writer(tmp_path / "missing" / "o.mp4", 16, 16, 25)
    assert (tmp_path / "missing").is_dir()
    writer.abort()
    assert not (tmp_path / "missing").exists()


def test_atomic_output(tmp_path):
    target = tmp_path / "x.tkc"
    with atomic_output(target) as out:
        out.tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    with pytest.raises(OutputError):
        atomic_output(target)
    with pytest.raises(ValueError):
        with atomic_output(target, force=True) as out:
            out.tmp.write_bytes(b"half")
            raise ValueError
    assert target.read_bytes() == b"data" and sorted(tmp_path.iterdir()) == [target]


def test_atomic_output_creates_missing_folders_and_removes_them_when_discarded(tmp_path):
    """encode and decode make a missing output folder, as transcode does for DST; an output that
    fails leaves no folder it created behind (one that was there before stays)."""
    target = tmp_path / "new" / "deeper" / "x.tkc"
    with pytest.raises(ValueError):
        with atomic_output(target) as out:
            out.tmp.write_bytes(b"half")
            raise ValueError
    assert sorted(tmp_path.iterdir()) == []
    (tmp_path / "new").mkdir()
    with pytest.raises(ValueError):
        with atomic_output(target):
            raise ValueError
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["new"]
    with atomic_output(target) as out:
        out.tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="not a folder"):
        atomic_output(tmp_path / "file" / "x.tkc")
