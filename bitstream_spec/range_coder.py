"""Reference range coder for the entropy-coded token mode, written from the spec alone.

numpy and the standard library only (no constriction import). Bit-exact with
`constriction.stream.queue.RangeEncoder` / `RangeDecoder` (constriction 0.5.0,
the Python bindings' default coder: 32-bit words, 64-bit state, 24-bit
precision) when both are given the same integer frequency tables.

A frequency table is a 1-D integer array f[0..n-1], n >= 2, every f[i] >= 1,
sum(f) == 2**PRECISION. Symbol s occupies the sub-interval
[c[s], c[s] + f[s]) of [0, 2**PRECISION), where c[s] = f[0] + ... + f[s-1].

The compressed data is a sequence of 32-bit words; the most significant part of
the coded number comes first. In a file the words are stored little-endian
(`np.asarray(words, '<u4').tobytes()`); see words_to_bytes / bytes_to_words.

All state arithmetic is done on Python ints, masked to 64 bits where the
specified machine arithmetic wraps (numpy int64 would overflow: scale * c can
reach 2**64 - 2**40). Speed is secondary; each symbol costs one numpy cumsum
and one searchsorted.
"""

import numpy as np

WORD_BITS = 32  # size of one compressed word
STATE_BITS = 64  # size of `lower`, `range` and the decoder's `point`
PRECISION = 24  # frequencies are in units of 2**-PRECISION
TOTAL = 1 << PRECISION  # every frequency table sums to this
WORD_MASK = (1 << WORD_BITS) - 1
STATE_MASK = (1 << STATE_BITS) - 1
SHIFT = STATE_BITS - WORD_BITS  # 32: `lower >> SHIFT` is the top word of the state
RENORM = 1 << SHIFT  # invariant: range >= RENORM after every symbol
INITIAL_RANGE = STATE_MASK  # 2**64 - 1 (not 2**64, which does not fit in 64 bits)


def _cdf(freqs):
    """Validate one frequency table; return (cumulative table c[0..n] as Python ints, n).

    c[0] = 0, c[n] = TOTAL. The checks are those the spec imposes on a table;
    constriction silently renormalises bad tables, so they must be caught here.
    """
    f = np.asarray(freqs)
    if f.ndim != 1 or f.shape[0] < 2:
        raise ValueError("a frequency table must be 1-D with at least 2 entries")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"frequencies must be integers, got {f.dtype}")
    if f.min() < 1 or f.max() > TOTAL:  # the upper bound also rules out int64 wrap in cumsum
        raise ValueError(f"every frequency must be in 1..2**{PRECISION}")
    f = f.astype(np.int64)
    c = np.zeros(f.shape[0] + 1, dtype=np.int64)
    np.cumsum(f, out=c[1:])
    if int(c[-1]) != TOTAL:
        raise ValueError(f"frequencies must sum to 2**{PRECISION}, got {int(c[-1])}")
    return c, f.shape[0]


def words_to_bytes(words) -> bytes:
    """Words -> file bytes: each 32-bit word little-endian, in word order."""
    return np.asarray(words, dtype=np.uint32).astype("<u4").tobytes()


def bytes_to_words(data) -> np.ndarray:
    """File bytes -> words (inverse of words_to_bytes); the length must be a multiple of 4."""
    data = bytes(data)
    if len(data) % 4:
        raise ValueError("range-coded data must be a whole number of 32-bit words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class RangeEncoder:
    """Encoder. encode(symbol, freqs) per symbol; get_compressed() any time.

    State: `lower` and `range` (64-bit) describe the interval [lower, lower + range)
    of the 64-bit window at the current word position; the coded number is
    (words written so far, pending words, lower). Adding to `lower` can carry into
    words already produced; words that such a carry could still change are kept
    back ("pending", constriction's `EncoderSituation::Inverted`) until it is known
    whether the carry happened. Equivalent to writing them at once and adding the
    carry later with propagation (see the spec).
    """

    def __init__(self):
        self._words = []  # final words, in order
        self._lower = 0
        self._range = INITIAL_RANGE
        self._num_pending = 0  # 0: normal; k >= 1: k words held back
        self._first_pending = 0  # first held-back word; the others are all 0xFFFFFFFF

    def encode(self, symbol, freqs):
        c, n = _cdf(freqs)
        symbol = int(symbol)
        if not 0 <= symbol < n:
            raise ValueError(f"symbol {symbol} outside the table's 0..{n - 1}")
        scale = self._range >> PRECISION
        new_range = scale * (int(c[symbol + 1]) - int(c[symbol]))  # >= scale >= 2**8, never 0
        new_lower = (self._lower + scale * int(c[symbol])) & STATE_MASK  # wraps = carry

        if self._num_pending and new_lower + new_range <= STATE_MASK:
            # The interval no longer straddles a multiple of 2**64, so the pending
            # words are settled: either a carry came (lower wrapped) and they become
            # first + 1, 0, 0, ...; or it did not and they are first, FF.., FF.., ...
            carry = new_lower < self._lower
            self._words.append(self._first_pending + carry)
            self._words.extend([0 if carry else WORD_MASK] * (self._num_pending - 1))
            self._num_pending = 0

        self._lower, self._range = new_lower, new_range
        if self._range < RENORM:
            # Renormalise: move the top word of `lower` out, keep range >= 2**32.
            # One shift always suffices because new_range >= old_range >> 24.
            top = self._lower >> SHIFT
            self._lower = (self._lower << WORD_BITS) & STATE_MASK
            self._range <<= WORD_BITS
            if self._num_pending:
                # Still straddling: the word moved out is 0xFFFFFFFF, hold it back too.
                self._num_pending += 1
            elif self._lower + self._range <= STATE_MASK:
                self._words.append(top)  # no later carry can reach it: final
            else:
                # [lower, lower + range) now wraps past 2**64: a later carry could
                # still add 1 to `top`, so hold it back.
                self._num_pending, self._first_pending = 1, top

    def _seal(self):
        """The words get_compressed appends to the written ones (state unchanged)."""
        if self._range == INITIAL_RANGE:
            return []  # nothing encoded: the empty message is zero words
        # Shortest tail: the smallest multiple of 2**32 that is >= lower; it lies
        # inside [lower, lower + range) since range >= 2**32. Emit its top word.
        point = self._lower + WORD_MASK
        carry = point > STATE_MASK
        point &= STATE_MASK
        out = []
        if self._num_pending:
            out.append(self._first_pending + carry)
            out.extend([0 if carry else WORD_MASK] * (self._num_pending - 1))
        point_word = point >> SHIFT
        out.append(point_word)
        # If the upper end of the interval has the same top word, a decoder reading
        # arbitrary data after the end could leave the interval; one zero word
        # pins the next 32 bits. (Exactly constriction's rule.)
        if ((self._lower + self._range) & STATE_MASK) >> SHIFT == point_word:
            out.append(0)
        return out

    def get_compressed(self) -> np.ndarray:
        """All words so far plus the seal, as uint32. Encoding may continue afterwards."""
        return np.array(self._words + self._seal(), dtype=np.uint32)


class RangeDecoder:
    """Decoder over a sequence of 32-bit words (or little-endian bytes, see bytes_to_words).

    decode(freqs) returns the next symbol. Reading past the end of the data
    yields zero words. Data that no encoder can produce may raise ValueError
    (constriction raises AssertionError at the same symbol).
    """

    def __init__(self, compressed):
        if isinstance(compressed, (bytes, bytearray, memoryview)):
            compressed = bytes_to_words(compressed)
        words = np.asarray(compressed)
        if words.ndim != 1 or (words.size and not np.issubdtype(words.dtype, np.integer)):
            raise ValueError("compressed data must be a 1-D sequence of 32-bit words")
        if words.size and (words.min() < 0 or int(words.max()) > WORD_MASK):
            raise ValueError("compressed words must lie in 0..2**32-1")
        self._words = [int(w) for w in words]
        self._pos = 0
        self._lower = 0
        self._range = INITIAL_RANGE
        # `point` is the 64-bit window of the coded number: the first two words,
        # first word most significant; missing words count as zero.
        self._point = (self._next_word() << WORD_BITS) | self._next_word()

    def _next_word(self):
        if self._pos < len(self._words):
            self._pos += 1
            return self._words[self._pos - 1]
        return 0  # past the end

    def decode(self, freqs) -> int:
        c, n = _cdf(freqs)
        scale = self._range >> PRECISION
        quantile = ((self._point - self._lower) & STATE_MASK) // scale
        if quantile >= TOTAL:
            # Only corrupt data gets here: the encoder uses [lower, lower + scale * 2**24).
            raise ValueError("invalid range-coded data")
        symbol = int(np.searchsorted(c, quantile, side="right")) - 1  # c[s] <= quantile < c[s+1]
        # Same state update as the encoder (the decoder never needs the carry: all
        # its arithmetic on lower and point is modulo 2**64).
        self._lower = (self._lower + scale * int(c[symbol])) & STATE_MASK
        self._range = scale * (int(c[symbol + 1]) - int(c[symbol]))
        if self._range < RENORM:
            self._lower = (self._lower << WORD_BITS) & STATE_MASK
            self._range <<= WORD_BITS
            self._point = ((self._point << WORD_BITS) & STATE_MASK) | self._next_word()
        return symbol

    @property
    def words_read(self) -> int:
        """How many words of the data have been consumed (at most its length)."""
        return self._pos
