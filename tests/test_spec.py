"""Conformance: tokcodec and the reference decoder agree on every vector of bitstream_spec (SPEC 1.2, section 11).

Agree means: the same file-level error number (SPEC 7.1), or per GOP the same
tokens or the same chunk error number; and both match the vector's .json. The
annex A vectors tie tokens to decoder input values and to decoded frames. The
entropy mode 1 vectors are decoded by tokcodec under the prior its zoo
registers as `conformance-prior`, and by the reference decoder under the
vectors' own copy of that file (the two are byte-identical).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tokcodec.codec.container import Err, ContainerReader
from tokcodec.errors import ContainerError, ModelError

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec"
VECTORS = SPEC / "vectors"
sys.path.insert(0, str(SPEC))
import reference_decoder as ref  # noqa: E402
from conftest import select_zoo  # noqa: E402

ALL = sorted(p.stem for p in VECTORS.glob("*.tkc"))
PRIOR = "conformance-prior"
PRIORS = {PRIOR: VECTORS / f"{PRIOR}.safetensors"}  # the reference decoder's "registry" (SPEC 3.3)


@pytest.fixture(autouse=True)
def shipped_zoo(monkeypatch):
    """tokcodec resolves mode 1 priors in its shipped registry (make_vectors registers the conformance prior)."""
    select_zoo(monkeypatch, None)


def tokcodec_result(data: bytes, scan: bool = True, mode1: bool = True):
    """tokcodec's verdict: a file error number, or per GOP the tokens or a chunk error number.
    `mode1=False`: as a decoder without entropy mode 1 (SPEC 6.4)."""
    try:
        with ContainerReader(data, recover=scan) as reader:
            unpack = None
            if reader.header.entropy_mode == 1 and mode1:
                from tokcodec.codec.entropy import coder_for_header

                try:
                    unpack = coder_for_header(reader.header).unpack  # SPEC 3.3: errors 30-32
                except ModelError as e:
                    return e.code
            else:
                reader.require_decodable()
            out = []
            for i in range(reader.header.num_gops):
                try:
                    out.append([reader.read_tokens(i, unpack).tolist(), list(reader.colour_offset(i))])
                except ContainerError as e:
                    out.append(e.code)
            return out
    except ContainerError as e:
        return e.code


def reference_result(data: bytes, scan: bool = True):
    try:
        _, chunks = ref.decode(data, scan_index=scan, priors=PRIORS)
    except ref.RefError as e:
        return e.code
    return [c.code if isinstance(c, ref.RefError) else [c.tokens.tolist(), list(c.colour_offset)] for c in chunks]


def expected_result(meta: dict, scan: bool = True):
    error = meta.get("error_without_scan") if not scan and "error_without_scan" in meta else meta["error"]
    if error is not None:
        return error["code"]
    return [c["error"]["code"] if "error" in c else [c["tokens"], c["colour_offset"]] for c in meta["chunks"]]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("scan", [True, False], ids=["scanning", "not-scanning"])
def test_tokcodec_and_reference_agree(name, scan):
    data = (VECTORS / f"{name}.tkc").read_bytes()
    meta = json.loads((VECTORS / f"{name}.json").read_text())
    expected = expected_result(meta, scan)
    assert reference_result(data, scan) == expected
    assert tokcodec_result(data, scan) == expected


def test_a_decoder_without_mode_1_stops_with_error_12():
    """SPEC 6.4: the mode 1 vectors, read by a decoder that does not implement mode 1."""
    for name in ALL:
        meta = json.loads((VECTORS / f"{name}.json").read_text())
        if "error_without_mode1" in meta:
            data = (VECTORS / f"{name}.tkc").read_bytes()
            assert tokcodec_result(data, mode1=False) == meta["error_without_mode1"]["code"] == 12


def test_the_conformance_prior_is_the_one_in_the_zoo():
    """The vectors' mlm_sha256 resolves to the same bytes in the reference's and in tokcodec's registry."""
    import hashlib

    from tokcodec.zoo.priors import get_prior

    entry = get_prior(PRIOR)
    assert entry.file.read_bytes() == PRIORS[PRIOR].read_bytes()
    assert entry.sha256 == hashlib.sha256(PRIORS[PRIOR].read_bytes()).hexdigest()
    assert json.loads(ref.read_safetensors(PRIORS[PRIOR].read_bytes())[0]["config"]) == entry.config.to_dict()


def test_reference_prior_tables_equal_tokcodecs():
    """Annex B: the reference decoder's integer network and tokcodec's IntegerMLM give the same frequency
    tables, bit for bit, on grids the vectors do not cover (sizes, time indices, masks)."""
    import torch

    from tokcodec.models.mlm import schedule
    from tokcodec.zoo.priors import get_prior, load_prior

    ours = load_prior(get_prior(PRIOR))
    metadata, tensors = ref.read_safetensors(PRIORS[PRIOR].read_bytes())
    theirs = ref.IntegerPrior(json.loads(metadata["config"]), tensors)
    rng = np.random.default_rng(5)
    for (h, w), t, steps in (((1, 1), 0, 1), ((9, 17), 1, 4), ((16, 8), 5, 2), ((3, 12), 3, 4)):
        frame, prev = rng.integers(0, 1 << 18, (2, h, w))
        group = schedule(h, w, steps)
        known = group < rng.integers(0, steps + 1)
        features = theirs.features(frame, known, prev if t else None, t)
        assert np.array_equal(
            features,
            ours.hidden(torch.from_numpy(frame), torch.from_numpy(known), torch.from_numpy(prev) if t else None, t)
            .long()
            .numpy(),
        )
        tables = theirs.tables(features.reshape(h * w, -1))
        expected = ours.frequencies(torch.from_numpy(features.reshape(h * w, -1)).double())
        for a, b in zip(tables, expected):
            assert np.array_equal(a, b.numpy()) and (a.sum(1) == 1 << 24).all() and a.min() >= 1


def test_every_error_of_the_table_has_a_vector():
    seen = set()
    for path in VECTORS.glob("*.json"):
        meta = json.loads(path.read_text())
        for key in ("error", "error_without_scan", "error_without_mode1", "model_error"):
            if meta.get(key):
                seen.add(meta[key]["code"])
        seen.update(c["error"]["code"] for c in meta.get("chunks", []) if "error" in c)
    assert seen == {int(e) for e in Err} == set(ref.ERRORS)
    assert {e.name.lower() for e in Err} == set(ref.ERRORS.values())  # one table, one set of names


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in ALL
        if "error" not in json.loads((VECTORS / f"{n}.json").read_text())
        or json.loads((VECTORS / f"{n}.json").read_text())["error"] is None
    ],
)
def test_header_fields_use_the_spec_names(name):
    data = (VECTORS / f"{name}.tkc").read_bytes()
    meta = json.loads((VECTORS / f"{name}.json").read_text())
    header, _ = ref.decode(data, priors=PRIORS)
    assert header == meta["header"]
    assert {"weights_sha256", "mlm_sha256"} <= set(header)


def test_token_to_latent_values():
    latents = json.loads((VECTORS / "model_latents.json").read_text())
    for quantizer, spec in (("fsq", latents["fsq"]["levels"]), ("lfq", latents["lfq"]["token_bits"])):
        for entry in latents[quantizer]["tokens"]:
            assert ref.token_values(entry["token"], quantizer, spec) == pytest.approx(entry["values"], abs=0)
    fsq_1 = latents["fsq"]["tokens"][1]  # token 1: digit 1 in channel 0 (least significant), 0 elsewhere
    assert fsq_1["values"] == [-0.75] + [-1.0] * 5  # (d - 4) / 4
    lfq_1 = latents["lfq"]["tokens"][1]  # token 1: bit 0 set, channel 0 = +1
    assert lfq_1["values"] == [1.0] + [-1.0] * 17


@pytest.mark.parametrize("name, shape", [("model_fsq_20x12", (5, 17, 30, 3)), ("model_offset_20x12", (10, 17, 30, 3))])
def test_conformance_model_frames_within_tolerance(name, shape):
    data = (VECTORS / f"{name}.tkc").read_bytes()
    meta = json.loads((VECTORS / f"{name}.json").read_text())
    model = meta["model"]
    expected = np.frombuffer((VECTORS / model["frames_file"]).read_bytes(), np.uint8).reshape(model["frames_shape"])
    header, chunks = ref.decode(data)
    assert ref.resolve_model(header)["network"] == "conformance"
    frames = np.concatenate(
        [
            ref.reconstruct(header, gop, ref.gop_frames(header, g), model["quantizer"], model["levels"])
            for g, gop in enumerate(chunks)
        ]
    )
    assert frames.shape == expected.shape == shape  # display size, every frame of every GOP
    assert np.abs(frames.astype(int) - expected).max() <= model["tolerance"]


def test_colour_offset_moves_the_mean_by_its_quarter_levels():
    """model_offset_20x12's first GOP, decoded with and without its offsets (-128, 37, 127): the
    means move by about -32, +9.25 and +31.75 levels (less where samples clip at 0 or 255)."""
    header, chunks = ref.decode((VECTORS / "model_offset_20x12.tkc").read_bytes())
    gop = chunks[0]
    with_offset = ref.reconstruct(header, gop, 5, "fsq", [8] * 6).astype(float)
    without = ref.reconstruct(header, gop._replace(colour_offset=(0, 0, 0)), 5, "fsq", [8] * 6).astype(float)
    shift = (with_offset - without).mean((0, 1, 2))
    assert gop.colour_offset == (-128, 37, 127)
    assert -32.5 < shift[0] < -20 and 8 < shift[1] < 10.5 and 20 < shift[2] < 32.5


@pytest.mark.parametrize("name", ["model_unknown", "model_hash", "model_mismatch", "model_quantizer"])
def test_model_errors(name):
    meta = json.loads((VECTORS / f"{name}.json").read_text())
    header, _ = ref.decode((VECTORS / f"{name}.tkc").read_bytes())
    with pytest.raises(ref.RefError) as e:
        ref.resolve_model(header)
    assert e.value.code == meta["model_error"]["code"]


def test_worked_example_of_section_10_matches_the_file():
    """Every byte the SPEC's section 10 lists is the byte in vectors/image_20x12.tkc."""
    data = (VECTORS / "image_20x12.tkc").read_bytes()
    text = (SPEC / "SPEC.md").read_text()
    block = text[text.index("## 10.") : text.index("## 11.")].split("```")[1]
    checked = 0
    for line in block.strip().splitlines()[1:]:
        offset, rest = line.split(None, 1)
        hex_part = rest.split("  ")  # fields are separated by two spaces, the description by more
        pos = int(offset)
        for chunk in hex_part:
            chunk = chunk.strip()
            if not chunk or "..." in chunk or not all(len(b) == 2 for b in chunk.split()):
                break
            try:
                raw = bytes.fromhex(chunk)
            except ValueError:
                break
            assert data[pos : pos + len(raw)] == raw, (offset, chunk)
            pos += len(raw)
            checked += len(raw)
    assert checked > 150


@pytest.mark.parametrize("damage", ["exp table", "shape", "config", "header size"])
def test_reference_refuses_a_weights_file_that_is_not_a_prior(tmp_path, damage):
    """SPEC 3.3 step 3, B.2 bounds (revision 1.4): after the hash, a file that is not a prior is error 30."""
    import hashlib
    import struct

    from safetensors.numpy import load, save

    data = (VECTORS / "conformance-prior.safetensors").read_bytes()
    tensors = load(data)
    config = json.loads(json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])["__metadata__"]["config"])
    if damage == "exp table":
        tensors["exp_out"] = tensors["exp_out"].copy()
        tensors["exp_out"][0] = 1 << 21
    elif damage == "shape":
        tensors["time"] = tensors["time"][:-1].copy()
    elif damage == "config":
        config["window"] = 7
    bad = save(tensors, metadata={"config": json.dumps(config)})
    if damage == "header size":
        bad = struct.pack("<Q", (1 << 20) + 1) + bad[8:]
    header = {
        "mlm_name": "bad",
        "mlm_sha256": hashlib.sha256(bad).hexdigest(),
        "weights_sha256": config["tokenizer_sha256"],
        "token_bits": 18,
    }
    (tmp_path / "bad.safetensors").write_bytes(bad)
    with pytest.raises(ref.RefError) as refused:
        ref.resolve_prior(header, {"bad": tmp_path / "bad.safetensors"})
    assert refused.value.code == 30
    good = {**header, "mlm_sha256": hashlib.sha256(data).hexdigest()}  # the untouched file resolves
    (tmp_path / "good.safetensors").write_bytes(data)
    assert ref.resolve_prior(good, {"bad": tmp_path / "good.safetensors"}) is not None


def test_a_decoder_entry_draws_its_own_frames_from_the_same_tokens():
    """SPEC A.4/A.5, revision 1.5: model_fsq_20x12.tkc with conformance-linear-alt gives model_decoder_20x12.rgb;
    without a choice, the model's own frames; an entry bound to other weights is error 31."""
    meta = json.loads((VECTORS / "model_decoder.json").read_text())
    header, chunks = ref.decode((VECTORS / meta["file"]).read_bytes())
    assert (
        ref.resolve_decoder(header, meta["decoder"])["base_sha256"] == header["weights_sha256"] == meta["base_sha256"]
    )
    expected = np.frombuffer((VECTORS / meta["frames_file"]).read_bytes(), np.uint8).reshape(meta["frames_shape"])
    frames = ref.reconstruct(header, chunks[0], 5, "fsq", [8] * 6, alt=True)
    assert np.abs(frames.astype(int) - expected).max() <= meta["tolerance"]
    own = np.frombuffer((VECTORS / "model_fsq_20x12.rgb").read_bytes(), np.uint8).reshape(expected.shape)
    assert np.abs(own.astype(int) - expected).max() > 10  # another decoder: other frames
    with pytest.raises(ref.RefError) as other:
        ref.resolve_decoder({**header, "weights_sha256": "00" * 32}, meta["decoder"])
    assert other.value.code == 31
