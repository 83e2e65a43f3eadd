"""tokcodec.bench: metrics against independent references, BD-rate, bpp, the anchors, a tiny end-to-end run.

Everything here generates its inputs (or uses tests/data); the end-to-end run
uses x265 only (2 points) plus a trivial stand-in for tokcodec, at 64x64.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from tokcodec.bench import anchors as anc
from tokcodec.bench import codecs, runner
from tokcodec.bench.bdrate import bd_rate, interpolate_at_rate, monotone_envelope
from tokcodec.bench.datasets import (
    ClipSource,
    discover_clips,
    make_reference,
    parse_yuv_name,
    read_yuv420_file,
    resize_frames,
    save_reference,
    load_reference,
    yuv_planes_to_bytes,
)
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
    cmd = anc.encoder_command(
        spec, 0, 64, 48, 25.0, 3, str(tmp_path / "ref" / "ref.yuv"), str(out), exe=anc.ffmpeg_exe()
    )
    cmd[cmd.index("-x265-params") + 1] += ":lossless=1"
    anc.run_measured(cmd)
    dec = anc.decode(spec, str(out))
    assert np.array_equal(dec.y, ref.y) and np.array_equal(dec.u, ref.u) and np.array_equal(dec.v, ref.v)


def test_low_delay_commands():
    x = anc.encoder_command(
        anc.AnchorSpec("x", "x265", (30,), (("preset", "medium"), ("tune", "psnr"))),
        30,
        640,
        360,
        30.0,
        33,
        "in.yuv",
        "out.hevc",
    )
    params = x[x.index("-x265-params") + 1]
    assert "bframes=0" in params and "keyint=-1" in params and "-tune" in x and "psnr" in x
    v = anc.encoder_command(
        anc.AnchorSpec("v", "vvenc", (37,), (("qpa", "0"),)), 37, 640, 360, 30.0, 33, "in.yuv", "out.266"
    )
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

    def setup(self, model, mode):
        """Nothing to load (the real backend's signature: runner calls it before timing)."""

    def encode(self, frames, fps, model, mode, gop, out_path):
        import zlib

        arr = np.ascontiguousarray(frames[:, ::2, ::2])
        level = 9 if mode else 1
        Path(out_path).write_bytes(np.array(arr.shape, np.int32).tobytes() + zlib.compress(arr.tobytes(), level))
        return 0.01, 0.01, f"fake(mode={mode})"

    def decode(self, path, model, decoder=None):
        """The frames upsampled again; the decoder "bright" draws the same file 8 levels brighter."""
        import zlib

        data = Path(path).read_bytes()
        shape = tuple(np.frombuffer(data[:16], np.int32))
        small = np.frombuffer(zlib.decompress(data[16:]), np.uint8).reshape(shape)
        if decoder == "bright":
            small = np.minimum(small.astype(np.int32) + 8, 255).astype(np.uint8)
        return small.repeat(2, axis=1).repeat(2, axis=2), 0.01, 0.01


def test_the_fake_tokcodec_backend_has_the_real_ones_methods():
    """The bench tests run FakeTokcodec in place of TokcodecBackend: the same methods and parameters, so a
    renamed method cannot pass here and fail in a real run (the speed pass once called one that was gone)."""
    import inspect

    from tokcodec.bench.tokcodec_codec import TokcodecBackend

    for name in ("setup", "encode", "decode"):
        fake, real = inspect.signature(getattr(FakeTokcodec, name)), inspect.signature(getattr(TokcodecBackend, name))
        assert list(fake.parameters) == list(real.parameters), name


def test_a_decoder_entry_is_a_curve_of_its_own_on_the_same_bytes(tmp_path, make_clip, monkeypatch):
    """ "decoders" in the configuration's tokcodec section: per mode, a second curve decoding the same files
    with that decoder entry (issue 19: both decoders measured side by side, DISTS too where the config asks)."""
    monkeypatch.setattr(codecs.TokcodecCodec, "backend", property(lambda self: FakeTokcodec()))
    _png_folder(make_clip(9, 64, 64), tmp_path / "clips" / "c0")
    config = {"clips": ["clips/c0"], "frames": 9, "size": [64, 64], "vmaf": False, "dists": True, "anchors": []}
    config["tokcodec"] = {"models": ["fake"], "modes": [0], "decoders": ["bright"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    cfg = runner.load_config(tmp_path / "config.json")
    specs = cfg.tokcodec_specs()
    assert [(s.name, s.decoder) for s in specs] == [("tokcodec-m0", None), ("tokcodec-m0-bright", "bright")]
    summary = runner.run(cfg, tmp_path / "cache", progress=False, log=lambda m: None)
    assert not summary.failures
    by_codec = {r["codec"]: r for r in summary.results}
    assert by_codec["tokcodec-m0"]["bytes"] == by_codec["tokcodec-m0-bright"]["bytes"]  # the same tokens
    assert by_codec["tokcodec-m0"]["psnr_rgb"] != by_codec["tokcodec-m0-bright"]["psnr_rgb"]  # other frames
    assert by_codec["tokcodec-m0"]["flicker"] >= 0 and by_codec["tokcodec-m0-bright"]["flicker"] >= 0
    from tokcodec.bench import report

    section = report.decoders_section(report.aggregate(summary.results))
    assert section[1].startswith("### tokcodec-m0-bright: the tokens of tokcodec-m0 drawn by decoder bright")
    row = section[-1].split(" | ")
    assert row[0] == "| fake-gclip" and row[2] != row[3] and row[4] == "n/a"  # no anchor in this run
    own, bright = by_codec["tokcodec-m0"]["dists"], by_codec["tokcodec-m0-bright"]["dists"]
    assert 0 < own != bright and row[-2:] == [f"{own:.4f}", f"{bright:.4f} |"]
    # a run without DISTS has no DISTS columns (rather than two columns of n/a)
    for r in summary.results:
        r["dists"] = None
    plain_section = report.decoders_section(report.aggregate(summary.results))
    assert "DISTS" not in plain_section[-3] and len(plain_section[-1].split(" | ")) == len(row) - 2
    # turning DISTS on re-measures every point: each job gets another signature
    sources = discover_clips(cfg.clips)
    plain = dataclasses.replace(cfg, dists=False)
    assert not {j.signature for j in runner.build_jobs(plain, sources)} & {
        j.signature for j in runner.build_jobs(cfg, sources)
    }


@needs_x265
def test_tiny_end_to_end_bench(tmp_path, make_clip, monkeypatch):
    from click.testing import CliRunner

    from tokcodec.bench import report
    from tokcodec_cli.bench import bench

    monkeypatch.setattr(codecs.TokcodecCodec, "backend", property(lambda self: FakeTokcodec()))
    monkeypatch.setattr(runner, "IMPLEMENTED_MODES", {0, 1})
    for i in range(2):
        _png_folder(make_clip(9, 64, 64)[::-1] if i else make_clip(9, 64, 64), tmp_path / "clips" / f"c{i}")
    config = {
        "clips": ["clips/c0", "clips/c1"],
        "frames": 9,
        "size": [64, 64],
        "vmaf": True,
        "anchors": [{"name": "x265-medium", "family": "x265", "points": [26, 40], "options": {"preset": "medium"}}],
        "tokcodec": {"models": ["fake"], "modes": [0, 1]},
        "speed": {"clips": ["c1"], "sizes": [{"size": [32, 32], "frames": 5, "clips": ["c0"]}]},
    }
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
        [
            ("c1", 64, "x265-medium", "crf26"),
            ("c1", 64, "x265-medium", "crf40"),
            ("c0", 32, "x265-medium", "crf40"),
            *[(c, w, f"tokcodec-m{m}", "fake-gclip") for c, w in (("c1", 64), ("c0", 32)) for m in (0, 1)],
        ]
    )
    assert runner.collect_speed(cfg, cache) == speed
    result = CliRunner().invoke(
        bench,
        ["--config", str(tmp_path / "config.json"), "--cache", str(cache), "-o", str(out), "--report-only", "--quiet"],
    )
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
    for name in (
        "rd_psnr_rgb.png",
        "rd_ms_ssim.png",
        "rd_lpips.png",
        "rd_curves.png",
        "side_by_side.png",
        "summary.md",
        "speed.csv",
    ):
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
    registry = {
        "default": "tiny",
        "models": {
            "tiny": {
                "config": cfg.to_dict(),
                "files": [str(f) for f in files],
                "sha256": [zoo.sha256_file(f) for f in files],
                "card": {},
            }
        },
    }
    monkeypatch.setattr(zoo, "read_registry", lambda path=None: registry)
    frames = np.stack(make_clip(9, 48, 64))
    backend = TokcodecBackend("cpu", 1)
    out = tmp_path / "a.tkc"
    backend.encode(frames, 25.0, "tiny", 0, 9, str(out))
    rgb, wall, _ = backend.decode(str(out), "tiny")
    assert rgb.shape == frames.shape and rgb.dtype == np.uint8 and wall > 0
    # 9 frames -> 3 x 6 x 8 tokens of 18 bits, plus the container's header, chunk header, index and footer.
    assert 3 * 6 * 8 * 18 // 8 < out.stat().st_size < 3 * 6 * 8 * 18 // 8 + 400


# --- seeding the cache from a committed report (tokcodec bench --seed-from) ------------------------


def _seed_config(**over) -> runner.BenchConfig:
    d = {
        "clips": [],
        "frames": 9,
        "size": [64, 64],
        "vmaf": True,
        "anchors": [{"name": "x265-medium", "family": "x265", "points": [26, 40], "options": {"preset": "medium"}}],
        "tokcodec": {"models": ["fake"], "modes": [0]},
        "speed": {"clips": ["c1"]},
    }
    d.update(over)
    return runner.BenchConfig.from_dict(d)


def _committed_report(cfg: runner.BenchConfig, sources, out: Path) -> list[dict]:
    """A report as `tokcodec bench` writes it, from synthetic full-precision results."""
    from tokcodec.bench import report

    rng = np.random.default_rng(3)
    results, speed = [], []
    for job in runner.build_jobs(cfg, sources):
        nbytes = int(rng.integers(2000, 9000))
        r = {
            "codec": job.codec,
            "family": job.family,
            "point": job.point,
            "value": job.value,
            "clip": job.clip,
            "clip_key": job.clip_key,
            "frames": 9,
            "width": 64,
            "height": 64,
            "bytes": nbytes,
            "bpp": bits_per_pixel(nbytes, 9, 64, 64),
            "psnr_rgb": 30 + rng.random() * 10,
            "psnr_y": 31 + rng.random() * 10,
            "ms_ssim": 0.9 + rng.random() / 20,
            "lpips": rng.random() / 5,
            "vmaf": 50 + rng.random() * 40,
            "encode_s": rng.random(),
            "encode_cpu_s": rng.random(),
            "decode_s": rng.random() / 50,
            "decode_cpu_s": rng.random() / 50,
            "encode_fps": 10 + rng.random(),
            "decode_fps": 500 + rng.random(),
            "threads": 1,
            "device": "cpu",
            "loadavg_1min": 1.5,
            "time": "2026-01-02T03:04:05",
        }
        results.append(r)
        if job.clip == "c1":
            speed.append({k: r[k] for k in report.SPEED_FIELDS if k in r})
    env = {
        "date": "2026-01-02 03:04:05 UTC",
        "machine": "the committed machine",
        "workers": 1,
        "colour": "",
        "psnr_pooling": "",
        "vmaf": "v",
        "notes": [],
        "config": cfg.to_dict(),
        "anchors": {a.name: anc.describe(a, cfg.threads, cfg.intra_period) for a in cfg.anchors},
        "tokcodec": {},
        "clips": [{"name": s.name, "path": s.path, "kind": s.kind} for s in sources],
    }
    report.write_report(results, env, out, figures=False, log=lambda m: None, speed=speed)
    return results


def test_seed_from_a_committed_report(tmp_path):
    from tokcodec.bench import report
    from tokcodec.bench.seed import SeedError, seed_cache

    sources = [ClipSource(f"c{i}", str(tmp_path / "clips" / f"c{i}"), "frames") for i in range(2)]
    cfg = _seed_config()
    committed = tmp_path / "committed"
    original = _committed_report(cfg, sources, committed)
    assert (committed / "json" / "tokcodec-m0.json").exists()  # tokcodec is in the report, never seeded
    cache = tmp_path / "cache"
    seed = lambda c, cache=cache, speed="always", **kw: seed_cache(
        c, cache, committed, sources, speed=speed, figure_reference=False, log=lambda m: None, **kw
    )

    # Timings of another machine are not seeded unless asked for ("always").
    auto = seed(cfg, cache=tmp_path / "auto", speed="auto")
    assert auto.seeded == 4 and auto.seeded_speed == 0 and "the committed machine" in auto.speed_note
    summary = seed(cfg)
    assert (summary.seeded, summary.seeded_speed, summary.missing) == (4, 2, [])
    by_key = {(r["codec"], r["point"], r["clip"]): r for r in original}
    jobs = runner.build_jobs(cfg, sources)
    assert {j.family for j in jobs} == {"x265", "tokcodec"}
    for job in jobs:
        r = runner.load_result(cache, job)
        if job.family == "tokcodec":
            assert r is None and not runner.result_path(cache, job).exists()
            continue
        assert r is not None and r["signature"] == job.signature
        assert r["seeded_from"].endswith("points.csv") and r["measured"] == "2026-01-02T03:04:05"
        assert r["measured_on"] == "the committed machine"
        want = by_key[(job.codec, job.point, job.clip)]
        for k in ("bytes", "bpp", "psnr_rgb", "ms_ssim", "lpips", "vmaf"):  # full precision, not the csv's
            assert r[k] == want[k], k
    speed = runner.collect_speed(cfg, cache, sources=sources)
    assert sorted((r["codec"], r["point"], r["clip"]) for r in speed) == [
        ("x265-medium", "crf26", "c1"),
        ("x265-medium", "crf40", "c1"),
    ]
    assert all(r["seeded_from"].endswith("speed.csv") for r in speed)
    # A second seeding finds everything in the cache; tokcodec alone seeds nothing.
    again = seed(cfg)
    assert (again.seeded, again.seeded_speed, again.cached) == (0, 0, 4)
    assert seed(cfg, cache=tmp_path / "c2", codecs=["tokcodec"]).seeded == 0

    # The report of the seeded cache: the committed anchor numbers, and a note that they were carried over.
    results = runner.collect_results(cfg, cache, sources=sources)
    env = json.loads((committed / "environment.json").read_text())
    out = report.write_report(
        results,
        {**env, "notes": [], "seeded": None},
        tmp_path / "again",
        figures=False,
        log=lambda m: None,
        speed=speed,
    )
    before = json.loads((committed / "bd_rate.json").read_text())["at_rate"]
    assert [r for r in out["at_rate"]] == [r for r in before if r["codec"] == "x265-medium"]
    md = (tmp_path / "again" / "summary.md").read_text()
    assert "carried over from" in md and "2026-01-02T03:04:05" in md
    assert "seeded_from" in (tmp_path / "again" / "points.csv").read_text().splitlines()[0]

    # Other settings than the committed ones are refused, naming the difference, and nothing is written.
    fresh = tmp_path / "fresh"
    other = _seed_config(
        anchors=[{"name": "x265-medium", "family": "x265", "points": [26, 40], "options": {"preset": "slow"}}]
    )
    with pytest.raises(SeedError, match="options.*preset.*slow"):
        seed(other, cache=fresh)
    with pytest.raises(SeedError, match="committed at 9 frames per clip, this run at 17"):
        seed(_seed_config(frames=17), cache=fresh)
    with pytest.raises(SeedError, match="command differs: committed has .*pools=1.*; now .*pools=2"):
        seed(_seed_config(threads=2), cache=fresh)
    assert not fresh.exists()
    (committed / "json" / "x265-medium.json").unlink()
    with pytest.raises(SeedError, match="x265-medium.json is missing"):
        seed(cfg, cache=fresh)


@needs_x265
def test_seeded_report_reproduces_the_committed_one(tmp_path, make_clip):
    """A real run, its report, then a fresh cache seeded from that report: the same anchor numbers, and the
    side-by-side figure encodes its anchor point again (the same bytes) since no stream was carried over."""
    from click.testing import CliRunner

    from tokcodec_cli.bench import bench

    for i in range(2):
        _png_folder(make_clip(9, 64, 64)[::-1] if i else make_clip(9, 64, 64), tmp_path / "clips" / f"c{i}")
    config = {
        "clips": ["clips/c0", "clips/c1"],
        "frames": 9,
        "size": [64, 64],
        "vmaf": False,
        "anchors": [{"name": "x265-medium", "family": "x265", "points": [26, 40], "options": {"preset": "medium"}}],
        "side_by_side": {"clip": "c1", "frame": 4},
        "speed": {"clips": ["c1"]},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = ["--config", str(tmp_path / "config.json"), "--quiet"]
    first = CliRunner().invoke(bench, args + ["--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(
        bench,
        args
        + [
            "--cache",
            str(tmp_path / "cache2"),
            "-o",
            str(tmp_path / "b"),
            "--seed-from",
            str(tmp_path / "a"),
            "--report-only",
        ],
    )
    assert second.exit_code == 0, second.output
    a, b = (json.loads((tmp_path / d / "bd_rate.json").read_text()) for d in "ab")
    assert a["at_rate"] == b["at_rate"]
    ja, jb = (json.loads((tmp_path / d / "json" / "x265-medium.json").read_text()) for d in "ab")
    assert ja["results"] == jb["results"] and ja["per_clip"] == jb["per_clip"]
    assert len((tmp_path / "b" / "speed.csv").read_text().splitlines()) == 1 + 2
    assert "carried over from" in (tmp_path / "b" / "summary.md").read_text()
    assert (tmp_path / "b" / "side_by_side.png").stat().st_size > 0
    redone = list((tmp_path / "cache2" / "streams").rglob("*.hevc"))
    assert len(redone) == 1 and "c1" in str(redone[0])
    row = next(
        r
        for r in runner.collect_results(runner.load_config(tmp_path / "config.json"), tmp_path / "cache2")
        if Path(r["stream"]).name == redone[0].name and r["clip"] == "c1"
    )
    assert redone[0].stat().st_size == row["bytes"]
