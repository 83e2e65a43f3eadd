"""Range coding of token symbols with integer frequency tables, using constriction.

The bitstream is the range coder of the spec (bitstream_spec/range_coder.py is
its reference implementation): 32-bit words, 64-bit state, PRECISION = 24; one
frequency table per symbol, f[0..n-1] integers, every f[i] >= 1, summing to
2**24. This module is the fast path: constriction 0.5's default queue coder
(`constriction.stream.queue.RangeEncoder/RangeDecoder`) runs exactly that
algorithm, so only the tables need care.

How an integer table reaches constriction unchanged. A batched
`Categorical(perfect=False)` model quantises one row of float weights p[0..n-1]
as ("leaky fast" quantisation, lazy_contiguous.rs):
    scale = float(2**24 - n) / sum(p)
    c[i]  = int(float(p[0] + ... + p[i-1]) * scale) + i,   c[n] = 2**24
all in the array's float type. We pass p[i] = f[i] - 1. Every p[i], every
partial sum and the total 2**24 - n are integers <= 2**24, which float32 (and
float64) represent exactly, so every sum is exact whatever the order, scale is
exactly 1.0, and c[i] = (f[0]-1) + ... + (f[i-1]-1) + i = f[0] + ... + f[i-1]:
exactly the table's cumulative. (Passing f / 2**24 would not work: the +i
leak term would then be added on top of f.) The decoder-side search of that
model uses the same conversions, so it returns exactly the symbol s with
c[s] <= quantile < c[s+1]. tests/test_range_coding.py checks this word for
word against the reference, extreme tables included.

Tables that are not valid are rejected here (ValueError): constriction would
silently renormalise them into a different table.
"""

from __future__ import annotations

import constriction
import numpy as np

PRECISION = 24
TOTAL = 1 << PRECISION

# One model object for all calls: unparameterised, so each encode/decode call
# gives one row of weights per symbol. perfect=False makes it the lazy "fast"
# quantiser described above (perfect=True runs an optimiser that does not keep
# a given table in general).
_MODEL = constriction.stream.model.Categorical(perfect=False)


def _weights(freqs) -> np.ndarray:
    """Validate an (m, n) integer table array; return the float32 weights f - 1 (C order)."""
    f = np.asarray(freqs)
    if f.ndim != 2 or f.shape[1] < 2:
        raise ValueError(f"frequency tables must be an (m, n) array with n >= 2, got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"frequencies must be integers, got {f.dtype}")
    n = f.shape[1]
    w = f.astype(np.float32, order="C")  # constriction needs C order
    if f.shape[0]:
        # Checked on the float32 copy (about half the time of int64 passes). Rounding
        # is monotonic, so min >= 1 and max <= 2**24 - (n-1) hold for the floats iff
        # they hold for the integers; then every value was below 2**24 and converted
        # exactly, and the float64 row sums of these integers are exact.
        # (Any valid table satisfies the bound: the other n-1 entries are >= 1.)
        if w.min() < 1 or w.max() > TOTAL - (n - 1):
            raise ValueError(f"every frequency must be in 1..2**{PRECISION}-(n-1)")
        if (w.sum(axis=1, dtype=np.float64) != TOTAL).any():
            raise ValueError(f"every frequency table must sum to 2**{PRECISION}")
    w -= 1  # the weights f - 1 (see the module docstring), exact
    return w


def words_to_bytes(words) -> bytes:
    """Words -> file bytes: each 32-bit word little-endian, in word order."""
    return np.asarray(words, dtype=np.uint32).astype("<u4").tobytes()


def bytes_to_words(data) -> np.ndarray:
    """File bytes -> words (inverse of words_to_bytes); the length must be a multiple of 4."""
    data = bytes(data)
    if len(data) % 4:
        raise ValueError("range-coded data must be a whole number of 32-bit words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class Encoder:
    """Encode symbols group by group; finish() returns the words (uint32)."""

    def __init__(self):
        self._enc = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols, freqs) -> None:
        """Encode symbols[i] with table freqs[i] (shape (m,) and (m, n))."""
        weights = _weights(freqs)
        s = np.asarray(symbols)
        if s.shape != (weights.shape[0],):
            raise ValueError(f"need one symbol per table row: symbols {s.shape}, tables {weights.shape}")
        if not s.size:
            return
        if not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"symbols must be integers, got {s.dtype}")
        if s.min() < 0 or s.max() >= weights.shape[1]:
            raise ValueError(f"symbols must lie in 0..{weights.shape[1] - 1}")
        self._enc.encode(s.astype(np.int32), _MODEL, weights)

    def finish(self) -> np.ndarray:
        """The compressed words so far, sealed. Encoding may continue (then call again)."""
        return self._enc.get_compressed()


class Decoder:
    """Decode group by group: decode(freqs) returns one symbol per table row, continuing
    where the previous call stopped. Reading past the end of the data reads zeros.
    Corrupt data can raise ValueError (or give wrong symbols: there is no checksum here)."""

    def __init__(self, words):
        if isinstance(words, (bytes, bytearray, memoryview)):
            words = bytes_to_words(words)
        w = np.asarray(words)
        if w.ndim != 1 or (w.size and not np.issubdtype(w.dtype, np.integer)):
            raise ValueError("compressed data must be a 1-D sequence of 32-bit words")
        if w.size and (w.min() < 0 or int(w.max()) > 0xFFFFFFFF):
            raise ValueError("compressed words must lie in 0..2**32-1")
        self._dec = constriction.stream.queue.RangeDecoder(np.ascontiguousarray(w, dtype=np.uint32))

    def decode(self, freqs) -> np.ndarray:
        weights = _weights(freqs)
        if not weights.shape[0]:
            return np.zeros(0, dtype=np.int64)
        try:
            symbols = self._dec.decode(_MODEL, weights)
        except AssertionError as e:  # constriction's DecoderFrontendError::InvalidData
            raise ValueError(f"invalid range-coded data: {e}") from None
        return np.asarray(symbols, dtype=np.int64)


def encode_symbols(symbols, freqs) -> np.ndarray:
    """One-shot: symbols (m,) with tables (m, n) -> uint32 words."""
    enc = Encoder()
    enc.encode(symbols, freqs)
    return enc.finish()


def decode_symbols(words, freqs) -> np.ndarray:
    """One-shot: words (or little-endian bytes) and tables (m, n) -> symbols (m,)."""
    return Decoder(words).decode(freqs)
