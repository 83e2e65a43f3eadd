"""Entropy mode 0: tokens bit-packed at a fixed width (bitstream_spec/SPEC.md, section 6).

Tokens are taken in raster order (t, then y, then x). Each token is written as
`bits` bits, most significant bit first, into one continuous bit stream that
fills every byte from its most significant bit (bit 7) down; the last byte is
padded with zero bits. Example, bits = 18, tokens [0x2A5C3, 0x00001]:
bits 101010010111000011 000000000000000001 0000 -> payload A9 70 C0 00 10
(two tokens = 36 bits, padded with 4 zero bits to 5 bytes).

Both directions are vectorised with numpy and work in blocks so memory stays
bounded (about 40 bytes per token of a block).
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1 << 20  # tokens per block; a multiple of 8, so every block starts on a byte


def packed_size(count: int, bits: int) -> int:
    """Number of payload bytes for `count` tokens of `bits` bits."""
    return (count * bits + 7) // 8


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= 32:
        raise ValueError(f"token bits must be in 1..32, got {bits}")


def pack_tokens(tokens: np.ndarray, bits: int) -> bytes:
    """Pack integer tokens (any shape, read in C order) at `bits` bits each, MSB first."""
    _check_bits(bits)
    flat = np.asarray(tokens).reshape(-1)
    if flat.size and not np.issubdtype(flat.dtype, np.integer):
        raise ValueError(f"tokens must be integers, got {flat.dtype}")
    if flat.size and (flat.min() < 0 or int(flat.max()) >= 1 << bits):
        raise ValueError(f"tokens must lie in [0, 2**{bits})")
    out = []
    for start in range(0, flat.size, _BLOCK):
        block = flat[start : start + _BLOCK].astype(">u4")  # big-endian: MSB byte first
        allbits = np.unpackbits(block.view(np.uint8).reshape(-1, 4), axis=1)  # (n, 32)
        out.append(np.packbits(allbits[:, 32 - bits :]).tobytes())  # zero-padded at the end
    return b"".join(out)


def unpack_tokens(payload: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of `pack_tokens`: `count` tokens as a flat int64 array.

    `payload` must hold exactly `packed_size(count, bits)` bytes; padding bits are ignored.
    """
    _check_bits(bits)
    if len(payload) != packed_size(count, bits):
        raise ValueError(
            f"payload has {len(payload)} bytes, {count} tokens of {bits} bits need {packed_size(count, bits)}"
        )
    data = np.frombuffer(payload, dtype=np.uint8)
    out = np.empty(count, dtype=np.int64)
    for start in range(0, count, _BLOCK):
        n = min(_BLOCK, count - start)
        first = start * bits // 8  # exact: start is a multiple of 8
        tokbits = np.unpackbits(data[first : first + packed_size(n, bits)], count=n * bits)
        allbits = np.zeros((n, 32), dtype=np.uint8)
        allbits[:, 32 - bits :] = tokbits.reshape(n, bits)
        out[start : start + n] = np.packbits(allbits, axis=1).view(">u4").reshape(n)
    return out
