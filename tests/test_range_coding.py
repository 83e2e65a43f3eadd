"""Range coding: tokcodec.codec.range_coding (constriction) against bitstream_spec/range_coder.py.

The product encoder must produce the reference encoder's words exactly, and both
decoders must recover the symbols from them, for random and extreme integer
frequency tables, for group-by-group decoding, for the empty message, and for
the rare coder situations (pending words, carries into them, carries at the
seal, the trailing zero word), which a steered message generator forces.
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tokcodec.codec import range_coding as rcod

SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec"
sys.path.insert(0, str(SPEC))
import range_coder as ref  # noqa: E402

P = ref.PRECISION
T = 1 << P
N = 512
MASK = ref.STATE_MASK


def random_table(rng, n=N):
    """One valid table of one of several shapes, extreme ones included."""
    kind = rng.integers(6)
    if kind == 0:  # one symbol holds 2**24 - (n-1), the rest 1
        f = np.ones(n, np.int64)
        f[rng.integers(n)] = T - (n - 1)
        return f
    if kind == 1:  # all ones except two
        f = np.ones(n, np.int64)
        a, b = rng.choice(n, 2, replace=False)
        f[a] = rng.integers(1, T - n + 1)
        f[b] += T - f.sum()
        return f
    if kind == 2:  # as uniform as possible
        f = np.full(n, T // n, np.int64)
        f[: T - f.sum()] += 1
        return f
    p = rng.dirichlet(np.full(n, [0.02, 0.3, 3.0][kind - 3]))  # peaked to flat
    f = np.floor(p * (T - n)).astype(np.int64) + 1
    f[rng.integers(n)] += T - f.sum()
    return f


def random_message(rng, m, n=N):
    tables = np.stack([random_table(rng, n) for _ in range(m)]) if m else np.zeros((0, n), np.int64)
    # mostly likely symbols, some improbable ones (frequency 1)
    symbols = np.array(
        [rng.choice(n, p=f / T) if rng.random() < 0.7 else rng.integers(n) for f in tables], dtype=np.int64
    )
    return symbols, tables


def ref_encode(symbols, tables):
    enc = ref.RangeEncoder()
    for s, f in zip(symbols, tables):
        enc.encode(s, f)
    return enc.get_compressed()


def ref_decode(data, tables):
    dec = ref.RangeDecoder(data)
    return np.array([dec.decode(f) for f in tables], dtype=np.int64)


def check_message(symbols, tables, rng):
    words = ref_encode(symbols, tables)
    assert words.dtype == np.uint32
    product = rcod.encode_symbols(symbols, tables)
    assert product.dtype == np.uint32
    np.testing.assert_array_equal(product, words)
    data = rcod.words_to_bytes(words)
    assert data == np.asarray(words, "<u4").tobytes()
    np.testing.assert_array_equal(ref_decode(data, tables), symbols)
    np.testing.assert_array_equal(rcod.decode_symbols(data, tables), symbols)
    # words after the end of the coded data (all ones, or random) change nothing
    tail = np.array([0xFFFFFFFF, 0xFFFFFFFF, rng.integers(1 << 32)], np.uint32)
    np.testing.assert_array_equal(ref_decode(np.concatenate([words, tail]), tables), symbols)
    np.testing.assert_array_equal(rcod.decode_symbols(np.concatenate([words, tail[::-1]]), tables), symbols)
    # group by group, group sizes random (including empty groups)
    dec = rcod.Decoder(words)
    cuts = np.sort(rng.integers(0, len(symbols) + 1, size=4))
    out = [dec.decode(tables[a:b]) for a, b in zip([0, *cuts], [*cuts, len(symbols)])]
    np.testing.assert_array_equal(np.concatenate(out), symbols)
    return words


def test_random_tables_match_reference():
    rng = np.random.default_rng(20240601)
    for m in [1, 2, 3, 17, 100, 400]:
        symbols, tables = random_message(rng, m)
        words = check_message(symbols, tables, rng)
    # tables in Fortran order, or a strided view, and int32: the same words
    big = np.zeros((len(tables), 2 * N), np.int32)
    big[:, ::2] = tables
    np.testing.assert_array_equal(rcod.encode_symbols(symbols, np.asfortranarray(tables)), words)
    np.testing.assert_array_equal(rcod.encode_symbols(symbols.astype(np.int32), big[:, ::2]), words)
    np.testing.assert_array_equal(rcod.decode_symbols(words, big[:, ::2]), symbols)
    # a small alphabet too (n = 2, the smallest allowed)
    symbols, tables = random_message(rng, 200, n=2)
    check_message(symbols, tables, rng)


def test_incremental_encoder_and_finish_midway():
    rng = np.random.default_rng(7)
    symbols, tables = random_message(rng, 120)
    enc, r = rcod.Encoder(), ref.RangeEncoder()
    for a, b in [(0, 0), (0, 5), (5, 50), (50, 51), (51, 120)]:
        enc.encode(symbols[a:b], tables[a:b])
        for s, f in zip(symbols[a:b], tables[a:b]):
            r.encode(s, f)
        # sealing midway must not disturb later encoding, in either coder
        midway = enc.finish()
        np.testing.assert_array_equal(midway, r.get_compressed())
        np.testing.assert_array_equal(rcod.decode_symbols(midway, tables[:b]), symbols[:b])
    np.testing.assert_array_equal(enc.finish(), ref_encode(symbols, tables))


def test_empty_message():
    empty = np.zeros((0, N), np.int64)
    assert rcod.encode_symbols(np.zeros(0, np.int64), empty).size == 0
    assert ref.RangeEncoder().get_compressed().size == 0
    assert rcod.Encoder().finish().size == 0
    assert rcod.decode_symbols(b"", empty).size == 0
    assert rcod.Decoder(np.zeros(0, np.uint32)).decode(empty).size == 0
    # decoding past the end reads zeros, identically in both decoders
    rng = np.random.default_rng(3)
    _, tables = random_message(rng, 30)
    np.testing.assert_array_equal(rcod.decode_symbols(b"", tables), ref_decode(b"", tables))


def table_for(k, f, n=N):
    """A table and symbol whose interval is [k, k + f) (units of 2**-24), or None."""
    if k == 0:
        rest = T - f - (n - 2)
        table, s = [f] + [1] * (n - 2) + [rest], 0
    else:
        rest = T - k - f - (n - 3)
        table, s = [k, f] + [1] * (n - 3) + [rest], 1
    if k < 0 or f < 1 or rest < 1:
        return None
    return s, np.array(table, np.int64)


def steered_message(rng, m):
    """A message steered (with the reference encoder's state) into the rare situations.

    Returns symbols, tables and, per symbol, the set of situations the encoder met
    encoding it or would meet sealing right after it.
    """
    enc = ref.RangeEncoder()
    symbols, tables, events = [], [], []
    for _ in range(m):
        lower, rng_, pend = enc._lower, enc._range, enc._num_pending
        scale = rng_ >> P
        cands = []
        if pend:
            k = ((1 << 64) - lower) // scale  # whole units below the 2**64 boundary
            # [k, k+1) straddles it: one more pending word (listed 4 times: runs of them)
            cands = [table_for(k, 1)] * 4 + [
                table_for(k + 1, int(rng.integers(1, 1000))),
                table_for(max(k - 3, 0), min(3, k) or 1),
            ]
            # lower ends in [2**64 - 2**32 + 1, 2**64), interval still straddling: seal carry
            k2 = -(-((1 << 64) - (1 << 32) + 1 - lower) // scale)
            cands += [table_for(k2, k - k2 + j) for j in (1, 2, 1000) if k - k2 + j >= 1]
        else:
            first, last = (lower >> 32) + 1, (lower + rng_ - 1) >> 32
            if first <= last:
                b = int(rng.integers(first, last + 1)) << 32
                cands = [table_for((b - lower) // scale, 1)]
            # ranges just above 2**32 make the trailing zero word possible
            f0 = -(-(1 << 32) // scale)
            cands += [table_for(int(rng.integers(0, T // 2)), f0 + j) for j in range(3)]
        cands = [c for c in cands if c is not None]
        if cands and rng.random() < 0.8:
            s, f = cands[rng.integers(len(cands))]
        else:
            f = random_table(rng)
            s = int(rng.choice(N, p=f / T))
        before = len(enc._words), enc._first_pending
        enc.encode(s, f)
        symbols.append(s)
        tables.append(f)
        # record what happened
        ev = {f"pending>={min(enc._num_pending, 3)}"}
        if pend and len(enc._words) > before[0]:  # pending words settled
            ev.add("carry" if enc._words[before[0]] == before[1] + 1 else "no_carry")
        if enc._num_pending:  # sealing now would settle them, with or without carry
            ev.add("seal_carry" if enc._lower + ref.WORD_MASK > MASK else "seal_pending")
        point_word = ((enc._lower + ref.WORD_MASK) & MASK) >> 32
        if (((enc._lower + enc._range) & MASK) >> 32) == point_word:
            ev.add("trailing_zero")  # sealing now would add an extra zero word
        events.append(ev)
    return np.array(symbols, np.int64), np.stack(tables), events


def test_carries_pending_words_and_seal_cases():
    rng = np.random.default_rng(11)
    seen, seen_at_end = Counter(), Counter()
    seal_events = ["seal_carry", "seal_pending", "trailing_zero"]
    for trial in range(40):
        symbols, tables, events = steered_message(rng, int(rng.integers(1, 40)))
        for ev in events:
            seen.update(ev)
        check_message(symbols, tables, rng)
        seen_at_end.update(events[-1])
        # end the message too right after a symbol that leaves a rare seal situation
        want = seal_events[trial % 3]
        ends = [i for i, ev in enumerate(events) if want in ev] or [len(symbols) - 1]
        cut = ends[int(rng.integers(len(ends)))] + 1
        check_message(symbols[:cut], tables[:cut], rng)
        seen_at_end.update(events[cut - 1])
    for event in ["carry", "no_carry", "pending>=3"]:
        assert seen[event] > 0, (event, seen)
    for event in seal_events:
        assert seen_at_end[event] > 0, (event, seen_at_end)


def test_corrupt_data_same_verdict():
    """Arbitrary words: both decoders give the same symbols, or both raise at the same symbol."""
    rng = np.random.default_rng(5)
    raised = 0
    for trial in range(150):
        words = rng.integers(0, 1 << 32, size=int(rng.integers(0, 6)), dtype=np.uint64).astype(np.uint32)
        if trial % 3 == 0 and words.size:
            words[: min(2, words.size)] = 0xFFFFFFFF  # initial point near 2**64: out of range
        _, tables = random_message(rng, 30)
        a, b = rcod.Decoder(words), ref.RangeDecoder(words)
        for f in tables:
            try:
                x = int(a.decode(f[None])[0])
            except ValueError:
                x = "error"
            try:
                y = b.decode(f)
            except ValueError:
                y = "error"
            assert x == y
            if x == "error":
                raised += 1
                break
    assert raised > 0


@pytest.mark.parametrize(
    "bad",
    [
        lambda f: f.astype(np.float64),  # not integers
        lambda f: np.concatenate([f[:-1], [0]]),  # a zero frequency (sum off too)
        lambda f: f + 1,  # sum != 2**24
        lambda f: f + np.r_[2**32, -(2**32), np.zeros(N - 2, np.int64)],  # sum right, entries out of range
        lambda f: f[None],  # wrong rank for the reference
    ],
)
def test_invalid_tables_rejected(bad):
    f = np.full(N, T // N, np.int64)
    g = bad(f)
    with pytest.raises(ValueError):
        ref.RangeEncoder().encode(0, g)
    if g.ndim == 1:
        with pytest.raises(ValueError):
            rcod.encode_symbols(np.zeros(1, np.int64), g[None])


def test_invalid_symbols_and_data_rejected():
    f = np.full((1, N), T // N, np.int64)
    for s in (-1, N):
        with pytest.raises(ValueError):
            rcod.encode_symbols(np.array([s]), f)
        with pytest.raises(ValueError):
            ref.RangeEncoder().encode(s, f[0])
    with pytest.raises(ValueError):
        rcod.Decoder(b"\x00\x01\x02")  # not a whole number of words
    with pytest.raises(ValueError):
        ref.RangeDecoder(b"\x00\x01\x02")
