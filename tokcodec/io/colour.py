"""RGB <-> Y'CbCr conversion: the one place in tokcodec where it happens.

Decoders and encoders hand us planes and we do the matrix maths here (numpy,
float32, rounded to integers) instead of letting swscale pick a matrix, so that
what a file's colour tags say is what we apply.

Conventions (ITU-T H.273):
- matrix coefficients: 1 = BT.709, 5 and 6 = BT.601, 9 = BT.2020 (non-constant
  luminance), 4 = FCC, 7 = SMPTE 240M, 0 = identity (the samples are RGB),
  2 = unspecified;
- limited ("MPEG", "TV") range: Y in [16, 235], Cb/Cr in [16, 240], scaled by
  2**(bits-8) at higher bit depths; full ("JPEG", "PC") range: [0, 2**bits - 1];
- 4:2:0 chroma is sited as H.264/HEVC/MPEG-2 do by default (chroma sample
  location type 0): horizontally on the even luma columns, vertically halfway
  between two luma rows. 4:2:2 uses the same horizontal siting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BT709 = 1
UNSPECIFIED = 2
BT601 = 6

# matrix coefficient code point -> (Kr, Kb)
_KR_KB = {
    1: (0.2126, 0.0722),
    4: (0.30, 0.11),
    5: (0.299, 0.114),
    6: (0.299, 0.114),
    7: (0.212, 0.087),
    9: (0.2627, 0.0593),
}


@dataclass(frozen=True)
class ColourInfo:
    """H.273 colour description of a video: code points plus the range flag."""

    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    matrix: int = UNSPECIFIED
    full_range: bool = False

    @property
    def is_yuv(self) -> bool:
        """True when `matrix` names a Y'CbCr matrix this module implements."""
        return self.matrix in _KR_KB


# What we write when told nothing: HD video, tagged completely.
BT709_LIMITED = ColourInfo(BT709, BT709, BT709, full_range=False)


def default_matrix(height: int) -> int:
    """The matrix to assume for an untagged Y'CbCr stream (the common practice of
    players): BT.601 for standard definition (height < 720), BT.709 otherwise."""
    return BT601 if height < 720 else BT709


def tagged_colour(primaries: int, transfer: int, matrix: int, full_range: bool, height: int) -> ColourInfo:
    """The ColourInfo to decode a Y'CbCr stream with, from its tags: an
    unspecified (or unsupported) matrix becomes `default_matrix(height)`."""
    if matrix not in _KR_KB:
        matrix = default_matrix(height)
    return ColourInfo(primaries, transfer, matrix, full_range)


@lru_cache(maxsize=None)
def _affine(matrix: int, full_range: bool, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, b) with codes = M @ rgb + b for 8-bit RGB and `bits`-bit Y'CbCr codes.

    The inverse is rgb = inv(M) @ (codes - b); both fold the range scaling into
    one 3x3 matrix so a frame costs a single matmul.
    """
    if matrix not in _KR_KB:
        raise ValueError(f"unsupported matrix coefficients {matrix}")
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    # Normalised R'G'B' -> (Y', Pb, Pr), with Pb and Pr in [-0.5, 0.5].
    to_ypbpr = np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ]
    )
    m = 1 << (bits - 8)
    if full_range:
        # H.273 full range: Y = (2^n - 1) E'y, C = (2^n - 1) E'c + 2^(n-1).
        top = (1 << bits) - 1
        scale, offset = [top, top, top], [0, 128 * m, 128 * m]
    else:
        scale, offset = [219 * m, 224 * m, 224 * m], [16 * m, 128 * m, 128 * m]
    return np.diag(scale) @ to_ypbpr / 255.0, np.array(offset, float)


def rgb_to_yuv(
    frame: np.ndarray, matrix: int = BT709, full_range: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) -> 8-bit Y, Cb, Cr planes, each (H, W) (4:4:4)."""
    y, u, v = _rgb_to_yuv_float(frame, matrix, full_range)
    return _to_uint8(y), _to_uint8(u), _to_uint8(v)


def rgb_to_yuv420(
    frame: np.ndarray, matrix: int = BT709, full_range: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) -> 8-bit Y (H, W), Cb and Cr (ceil(H/2), ceil(W/2)).

    Odd sizes are allowed: the last row/column is repeated for the chroma
    average, as FFmpeg lays out odd-sized yuv420p frames.
    """
    y, u, v = _rgb_to_yuv_float(frame, matrix, full_range)
    return _to_uint8(y), _to_uint8(_subsample(u)), _to_uint8(_subsample(v))


def yuv_to_rgb(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    matrix: int = BT709,
    full_range: bool = False,
    bits: int = 8,
) -> np.ndarray:
    """Y, Cb, Cr planes -> RGB uint8 (H, W, 3).

    The chroma planes may be full size (4:4:4), half width (4:2:2) or half width
    and height (4:2:0, ceil for odd sizes); they are interpolated to the luma
    size. `bits` is the sample bit depth (8, 10, 12; uint16 planes above 8).
    """
    h, w = y.shape
    if u.shape[1] < w:
        u, v = _upsample_columns(u, w), _upsample_columns(v, w)
    if u.shape[0] < h:
        u, v = _upsample_rows(u, h), _upsample_rows(v, h)
    m, b = _affine(matrix, full_range, bits)
    inv = np.linalg.inv(m)
    rgb = np.stack([y, u, v], axis=-1).astype(np.float32) @ inv.T.astype(np.float32)
    rgb -= (inv @ b).astype(np.float32)
    return _to_uint8(rgb)


# The name in docs/architecture.md: yuv_to_rgb handles 4:2:0 and the others alike.
yuv420_to_rgb = yuv_to_rgb


def _rgb_to_yuv_float(frame, matrix, full_range):
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {frame.dtype} {frame.shape}")
    m, b = _affine(matrix, full_range, 8)
    yuv = frame.astype(np.float32) @ m.T.astype(np.float32)
    yuv += b.astype(np.float32)
    return yuv[..., 0], yuv[..., 1], yuv[..., 2]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round to nearest and saturate (in place: x is a temporary)."""
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def _subsample(c: np.ndarray) -> np.ndarray:
    """Full-size float chroma -> 4:2:0 siting (type 0), edge-replicated borders."""
    h, w = c.shape
    c = np.pad(c, ((0, h % 2), (1, 1 + w % 2)), mode="edge")
    # Columns: [1, 2, 1] / 4 centred on each even luma column.
    c = (c[:, 0:-2:2] + 2 * c[:, 1:-1:2] + c[:, 2::2]) / 4
    # Rows: the mean of each pair, the sample sits between them.
    return (c[0::2] + c[1::2]) / 2


def _upsample_columns(c: np.ndarray, width: int) -> np.ndarray:
    """Co-sited chroma columns -> every luma column (linear in between)."""
    c = c.astype(np.float32)
    nxt = np.concatenate([c[:, 1:], c[:, -1:]], axis=1)
    out = np.stack([c, (c + nxt) / 2], axis=2).reshape(c.shape[0], -1)
    return out[:, :width]


def _upsample_rows(c: np.ndarray, height: int) -> np.ndarray:
    """Chroma rows sited between two luma rows -> every luma row (3/4, 1/4)."""
    c = c.astype(np.float32)
    prev = np.concatenate([c[:1], c[:-1]], axis=0)
    nxt = np.concatenate([c[1:], c[-1:]], axis=0)
    out = np.stack([0.75 * c + 0.25 * prev, 0.75 * c + 0.25 * nxt], axis=1).reshape(-1, c.shape[1])
    return out[:height]


# ITU-T H.273 code points as ffprobe names them (what `tokcodec info` shows).
_PRIMARIES = {
    1: "bt709",
    2: "unknown",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
_TRANSFER = {
    1: "bt709",
    2: "unknown",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    11: "iec61966-2-4",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}
_MATRIX = {
    0: "gbr",
    1: "bt709",
    2: "unknown",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
}


def colour_names(primaries: int, transfer: int, matrix: int) -> tuple[str, str, str]:
    """ffprobe's names for H.273 colour code points ("reserved N" for codes without one)."""
    return tuple(
        table.get(code, f"reserved {code}")
        for table, code in ((_PRIMARIES, primaries), (_TRANSFER, transfer), (_MATRIX, matrix))
    )
