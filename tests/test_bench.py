"""tokcodec.bench: metrics against independent references, BD-rate, bpp, the anchors, a tiny end-to-end run.

Everything here generates its inputs (or uses tests/data); the end-to-end run
uses x265 only (2 points) plus a trivial stand-in for tokcodec, at 64x64.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from tokcodec.bench import anchors as anc
from tokcodec.bench import runner
from tokcodec.bench.bdrate import bd_rate, interpolate_at_rate, monotone_envelope
from tokcodec.bench.datasets import (ClipSource, discover_clips, make_reference, parse_yuv_name, read_yuv420_file,
                                     resize_frames, save_reference, load_reference, yuv_planes_to_bytes)
from tokcodec.bench.evaluate import bits_per_pixel, psnr_rgb, psnr_y
from tokcodec.errors import InputError

LPIPS_DATA = Path(__file__).parent / "data" / "lpips"
needs_x265 = pytest.mark.skipif(not anc.has_encoder("libx265"), reason="ffmpeg without libx265")


def _png_folder(frames, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:03d}.png")
    return folder


# --- metrics ----------------------------------------------------------------------------------


def test_psnr_matches_scikit_image_per_frame_mean():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    dec = np.clip(ref + rng.normal(0, 6, ref.shape), 0, 255).astype(np.uint8)
    dec[2] = np.clip(dec[2].astype(int) + 25, 0, 255)  # uneven quality: pooling matters
    expected = np.mean([peak_signal_noise_ratio(r, d, data_range=255) for r, d in zip(ref, dec)])
    assert psnr_rgb(ref, dec) == pytest.approx(expected, abs=1e-9)
    ey = np.mean([peak_signal_noise_ratio(r[..., 0], d[..., 0], data_range=255) for r, d in zip(ref, dec)])
    assert psnr_y(ref[..., 0], dec[..., 0]) == pytest.approx(ey, abs=1e-9)
    # An identical frame counts as 100 dB instead of making the mean infinite.
    dec[0] = ref[0]
    assert np.isfinite(psnr_rgb(ref, dec))


def test_lpips_alex_reproduces_the_reference_pair():
    from tokcodec.metrics import lpips_video

    img = {n: np.asarray(Image.open(LPIPS_DATA / f"{n}.png").convert("RGB")) for n in ("ex_ref", "ex_p0", "ex_p1")}
    assert round(lpips_video(img["ex_ref"], img["ex_p0"], net="alex"), 3) == 0.722
    assert round(lpips_video(img["ex_ref"], img["ex_p1"], net="alex"), 3) == 0.138


def test_cached_lpips_equals_lpips_video(make_clip):
    from tokcodec.bench.datasets import Reference
    from tokcodec.bench.evaluate import lpips_against_reference
    from tokcodec.metrics import lpips_video

    clip = np.stack(make_clip(5, 64, 64))
    ref = Reference("c", 64, 64, 25.0, clip[..., 0], clip[:, ::2, ::2, 1], clip[:, ::2, ::2, 2], clip)
    rng = np.random.default_rng(2)
    for sigma in (4, 12):  # the second call reuses the cached reference features
        dec = np.clip(clip + rng.normal(0, sigma, clip.shape), 0, 255).astype(np.uint8)
        assert lpips_against_reference(ref, dec) == pytest.approx(lpips_video(clip, dec), rel=1e-5)


def test_bpp_arithmetic():
    assert bits_per_pixel(1000, 10, 64, 48) == pytest.approx(8000 / (10 * 64 * 48))
    # 640x360, 33 frames: 0.0384 bpp is 36,495 bytes.
    assert bits_per_pixel(36495, 33, 640, 360) == pytest.approx(0.0384, abs=1e-6)
    with pytest.raises(ValueError):
        bits_per_pixel(10, 0, 64, 64)


# --- BD-rate ----------------------------------------------------------------------------------


def test_bd_rate_known_cases():
    import bjontegaard

    rate = np.array([0.02, 0.04, 0.08, 0.16])
    psnr = np.array([28.0, 30.5, 33.0, 35.2])
    # Half the rate at every quality: exactly -50 %; double: +100 %.
    assert bd_rate(rate, psnr, rate / 2, psnr).value == pytest.approx(-50.0)
    assert bd_rate(rate, psnr, rate * 2, psnr).value == pytest.approx(100.0)
    # The same as the bjontegaard package's PCHIP on an ordinary case.
    r2, p2 = np.array([0.025, 0.045, 0.07, 0.13]), np.array([28.5, 31.0, 33.0, 35.5])
    ref = bjontegaard.bd_rate(rate, psnr, r2, p2, method="pchip", min_overlap=0)
    assert bd_rate(rate, psnr, r2, p2).value == pytest.approx(ref, abs=1e-9)
    # Lower-is-better metrics are handled (LPIPS), and disjoint quality ranges give no number.
    lp = np.array([0.30, 0.22, 0.15, 0.10])
    assert bd_rate(rate, lp, rate * 0.8, lp, "lpips").value == pytest.approx(-20.0)
    none = bd_rate(rate, psnr, rate, psnr + 20)
    assert none.value is None and "overlap" in none.note
    # One test point: the rate difference at its quality.
    single = bd_rate(rate, psnr, [0.02], [30.5])
    assert single.value == pytest.approx(-50.0) and "single" in single.note


def test_monotone_envelope_and_rate_interpolation():
    r, q = monotone_envelope([0.1, 0.05, 0.2, 0.15], [30, 28, 29, 31])
    assert list(r) == [0.05, 0.1, 0.15] and list(q) == [28, 30, 31]
    v, note = interpolate_at_rate([0.02, 0.04, 0.08], [28, 30, 32], 0.04)
    assert v == pytest.approx(30) and note == "interpolated"
    assert interpolate_at_rate([0.02, 0.04], [28, 30], 0.5)[0] is None


# --- datasets ---------------------------------------------------------------------------------


def test_yuv_names_and_reading(tmp_path):
    assert parse_yuv_name("videoSRC01_1920x1080_30.yuv") == ("videoSRC01", 1920, 1080, 30.0)
    assert parse_yuv_name("clip_352x288.yuv")[1:3] == (352, 288)
    with pytest.raises(InputError):
        parse_yuv_name("noname.yuv")
    w, h, n = 32, 16, 3
    y = np.full((n, h, w), 100, np.uint8)
    u = np.full((n, h // 2, w // 2), 128, np.uint8)
    path = tmp_path / "grey_32x16_25.yuv"
    path.write_bytes(yuv_planes_to_bytes(y, u, u))
    src = discover_clips([tmp_path])[0]
    assert (src.name, src.kind, src.yuv_size, src.yuv_fps) == ("grey", "yuv", (32, 16), 25.0)
    frames = read_yuv420_file(str(path), w, h, None)
    assert len(frames) == 3 and frames[0].shape == (16, 32, 3)
    # Y=100 grey in limited range is (100-16)*255/219 = 97.8 in RGB.
    assert np.all(np.abs(frames[0].astype(int) - 98) <= 1)


def test_resize_crops_to_aspect_then_downscales():
    frames = [np.zeros((60, 80, 3), np.uint8)]  # 4:3
    out, note = resize_frames(frames, (32, 18))  # 16:9
    assert out[0].shape == (18, 32, 3) and "crop" in note and "area" in note


def test_reference_is_one_yuv420_round_trip(tmp_path, make_clip):
    from tokcodec.io.colour import rgb_to_yuv420, yuv420_to_rgb

    clip = _png_folder(make_clip(5, 48, 64), tmp_path / "clip")
    ref = make_reference(ClipSource("clip", str(clip), "frames"), 5, (32, 24))
    assert ref.rgb.shape == (5, 24, 32, 3) and ref.y.shape == (5, 24, 32) and ref.u.shape == (5, 12, 16)
    y, u, v = rgb_to_yuv420(ref.rgb[0])  # the reference RGB maps back to (almost exactly) its planes
    assert np.abs(y.astype(int) - ref.y[0]).max() <= 1
    assert np.array_equal(ref.rgb[0], yuv420_to_rgb(ref.y[0], ref.u[0], ref.v[0]))
    save_reference(ref, tmp_path / "ref")
    back = load_reference(tmp_path / "ref")
    assert np.array_equal(back.rgb, ref.rgb) and back.num_frames == 5
    with pytest.raises(InputError, match="frames"):
        make_reference(ClipSource("clip", str(clip), "frames"), 9, (32, 24))


# --- anchors ----------------------------------------------------------------------------------


@needs_x265
def test_x265_lossless_round_trip_is_exact(tmp_path, make_clip):
    """No colour conversion or range change sneaks into the anchors' path."""
    clip = _png_folder(make_clip(3, 48, 64), tmp_path / "clip")
    ref = make_reference(ClipSource("clip", str(clip), "frames"), 3, None)
    save_reference(ref, tmp_path / "ref")
    spec = anc.AnchorSpec("x265-lossless", "x265", (0,), (("preset", "ultrafast"),))
    out = tmp_path / "o.hevc"
    cmd = anc.encoder_command(spec, 0, 64, 48, 25.0, 3, str(tmp_path / "ref" / "ref.yuv"), str(out),
                              exe=anc.ffmpeg_exe())
    cmd[cmd.index("-x265-params") + 1] += ":lossless=1"
    anc.run_measured(cmd)
    dec = anc.decode(spec, str(out))
    assert np.array_equal(dec.y, ref.y) and np.array_equal(dec.u, ref.u) and np.array_equal(dec.v, ref.v)


def test_low_delay_commands():
    x = anc.encoder_command(anc.AnchorSpec("x", "x265", (30,), (("preset", "medium"), ("tune", "psnr"))),
                            30, 640, 360, 30.0, 33, "in.yuv", "out.hevc")
    params = x[x.index("-x265-params") + 1]
    assert "bframes=0" in params and "keyint=-1" in params and "-tune" in x and "psnr" in x
    v = anc.encoder_command(anc.AnchorSpec("v", "vvenc", (37,), (("qpa", "0"),)), 37, 640, 360, 30.0, 33,
                            "in.yuv", "out.266")
    assert "PicReordering=0:GOPSize=8:DecodingRefreshType=none:IntraPeriod=-1" in v
    assert v[v.index("-qpa") + 1] == "0" and v[v.index("-pix_fmt") + 1] == "yuv420p10le"
    # Colour tags on the input too, so ffmpeg inserts no range conversion.
    assert x.index("-color_range") < x.index("-i")


def test_missing_encoder_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TOKCODEC_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(anc.EncoderMissingError, match="TOKCODEC_FFMPEG"):
        anc.encode(anc.AnchorSpec("x", "x265", (30,)), 30, "in.yuv", 64, 64, 25.0, 3, "out.hevc")


# --- end to end -------------------------------------------------------------------------------


class FakeTokcodec:
    """A trivial stand-in for tokcodec: 2x subsampled frames, zlib-compressed."""

    device = "cpu"

    def model(self, name):
        """Nothing to load."""

    def encode(self, frames, fps, model, mode, gop, out_path):
        import zlib

        arr = np.ascontiguousarray(frames[:, ::2, ::2])
        level = 9 if mode else 1
        Path(out_path).write_bytes(np.array(arr.shape, np.int32).tobytes() + zlib.compress(arr.tobytes(), level))
        return 0.01, 0.01, f"fake(mode={mode})"

    def decode(self, path, model):
        import zlib

        data = Path(path).read_bytes()
        shape = tuple(np.frombuffer(data[:16], np.int32))
        small = np.frombuffer(zlib.decompress(data[16:]), np.uint8).reshape(shape)
        return small.repeat(2, axis=1).repeat(2, axis=2), 0.01, 0.01


@needs_x265
def test_tiny_end_to_end_bench(tmp_path, make_clip, monkeypatch):
    from click.testing import CliRunner

    from tokcodec.bench import report
    from tokcodec_cli.bench import bench

    monkeypatch.setattr(runner, "_tokcodec_backend", lambda *a, **k: FakeTokcodec())
    monkeypatch.setattr(runner, "IMPLEMENTED_MODES", {0, 1})
    for i in range(2):
        _png_folder(make_clip(9, 64, 64)[::-1] if i else make_clip(9, 64, 64), tmp_path / "clips" / f"c{i}")
    config = {"clips": ["clips/c0", "clips/c1"], "frames": 9, "size": [64, 64], "vmaf": True,
              "anchors": [{"name": "x265-medium", "family": "x265", "points": [26, 40],
                           "options": {"preset": "medium"}}],
              "tokcodec": {"models": ["fake"], "modes": [0, 1]},
              "speed": {"clips": ["c1"], "sizes": [{"size": [32, 32], "frames": 5, "clips": ["c0"]}]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    cfg = runner.load_config(tmp_path / "config.json")
    cache, out = tmp_path / "cache", tmp_path / "out"
    summary = runner.run(cfg, cache, progress=False, log=lambda m: None)
    assert not summary.failures and summary.ran == 8 and len(summary.results) == 8
    for r in summary.results:
        stream = cache / r["stream"]
        assert r["bytes"] == stream.stat().st_size
        assert r["bpp"] == pytest.approx(8 * r["bytes"] / (9 * 64 * 64))
        assert 10 < r["psnr_rgb"] < 100 and 0 < r["ms_ssim"] <= 1 and 0 <= r["lpips"] < 1
        assert r["vmaf"] is None or 0 <= r["vmaf"] <= 100
    # Resumable: a second run finds everything in the cache.
    again = runner.run(cfg, cache, progress=False, log=lambda m: None)
    assert again.ran == 0 and again.skipped == 8
    # The report, through the command line (report only: nothing re-encoded).
    speed = runner.run_speed(cfg, cache, progress=False, log=print)
    assert all(r["encode_fps"] > 0 for r in speed)
    # Every point on c1 at 64x64; at 32x32 on c0, x265's middle point and each tokcodec mode.
    assert sorted((r["clip"], r["width"], r["codec"], r["point"]) for r in speed) == sorted(
        [("c1", 64, "x265-medium", "crf26"), ("c1", 64, "x265-medium", "crf40"), ("c0", 32, "x265-medium", "crf40"),
         *[(c, w, f"tokcodec-m{m}", "fake-gclip") for c, w in (("c1", 64), ("c0", 32)) for m in (0, 1)]])
    assert runner.collect_speed(cfg, cache) == speed
    result = CliRunner().invoke(bench, ["--config", str(tmp_path / "config.json"), "--cache", str(cache),
                                        "-o", str(out), "--report-only", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len((out / "speed.csv").read_text().splitlines()) == 1 + 7
    data = json.loads((out / "json" / "x265-medium.json").read_text())
    assert data["name"] == "x265-medium" and len(data["results"]["bpp"]) == 2
    assert set(data["results"]) >= {"bpp", "psnr-rgb", "psnr-y", "ms-ssim", "lpips", "vmaf"}
    assert "libx265" in data["description"]
    rows = (out / "points.csv").read_text().splitlines()
    assert len(rows) == 1 + 8 + 2 + 2  # header, every point, the mean points (x265 2, tokcodec 1 + 1)
    bd = json.loads((out / "bd_rate.json").read_text())["tokcodec_vs_anchors"]
    assert {(r["test"], r["anchor"]) for r in bd} == {("tokcodec-m0", "x265-medium"), ("tokcodec-m1", "x265-medium")}
    for name in ("rd_psnr_rgb.png", "rd_ms_ssim.png", "rd_lpips.png", "rd_curves.png", "side_by_side.png",
                 "summary.md", "speed.csv"):
        assert (out / name).stat().st_size > 0
    assert "BD-rate" in (out / "summary.md").read_text()
    # The fake codec's two "entropy modes" decode identically: same quality, different rate.
    agg = report.aggregate(summary.results)
    assert agg["tokcodec-m0"][0]["psnr_rgb"] == agg["tokcodec-m1"][0]["psnr_rgb"]


def test_tokcodec_through_the_library(tmp_path, make_clip, monkeypatch):
    """The real pipeline path (zoo -> encode -> .tkc -> decode) with a tiny untrained model."""
    import tokcodec.zoo as zoo
    from tokcodec.bench.tokcodec_codec import TokcodecBackend
    from tokcodec.models.tokenizer import Tokenizer, TokenizerConfig

    cfg = TokenizerConfig(channels=8, channel_mults=(1, 1, 1, 1))
    files = zoo.export_weights(Tokenizer(cfg).state_dict(), tmp_path / "zoo", "tiny")
    registry = {"default": "tiny", "models": {"tiny": {
        "config": cfg.to_dict(), "files": [str(f) for f in files], "sha256": [zoo.sha256_file(f) for f in files],
        "card": {}}}}
    monkeypatch.setattr(zoo, "read_registry", lambda path=None: registry)
    frames = np.stack(make_clip(9, 48, 64))
    backend = TokcodecBackend("cpu", 1)
    out = tmp_path / "a.tkc"
    backend.encode(frames, 25.0, "tiny", 0, 9, str(out))
    rgb, wall, _ = backend.decode(str(out), "tiny")
    assert rgb.shape == frames.shape and rgb.dtype == np.uint8 and wall > 0
    # 9 frames -> 3 x 6 x 8 tokens of 18 bits, plus the container's header, chunk header, index and footer.
    assert 3 * 6 * 8 * 18 // 8 < out.stat().st_size < 3 * 6 * 8 * 18 // 8 + 400
