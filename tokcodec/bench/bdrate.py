"""Bjontegaard delta rate (BD-rate) with PCHIP interpolation, over the overlapping quality range only.

BD-rate is the mean difference of log-rate between two rate-quality curves at
equal quality, as a percentage: -20 % means the test codec needs 20 % fewer
bits than the anchor for the same quality, on average over the quality range
both curves cover. As in the `bjontegaard` package (and the JVET tools), each
curve is log10(rate) as a function of quality, interpolated with PCHIP
(monotone piecewise cubic Hermite), and integrated over
[max(min q_anchor, min q_test), min(max q_anchor, max q_test)]. With no
overlap there is no BD-rate, and `bd_rate` says so instead of extrapolating.

Curves whose quality does not rise with rate (a point with more bits and no
better quality) are reduced to their monotone upper envelope first; the
number of points dropped is reported. Metrics where lower is better (LPIPS)
are negated. A curve of a single point gives the rate difference at that
point's quality (a degenerate BD-rate over a zero-width range), flagged as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

LOWER_IS_BETTER = {"lpips"}


@dataclass
class BDResult:
    """A BD-rate in percent (None when undefined) and how it was obtained."""

    value: float | None
    note: str = ""
    q_range: tuple[float, float] | None = None
    points_used: tuple[int, int] = (0, 0)

    def __str__(self) -> str:
        if self.value is None:
            return f"n/a ({self.note})" if self.note else "n/a"
        return f"{self.value:+.1f}%" + (f" ({self.note})" if self.note else "")


def monotone_envelope(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, keeping only those that improve quality on every cheaper point."""
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((-q, r))
    r, q = r[order], q[order]
    keep_r, keep_q = [], []
    for ri, qi in zip(r, q):
        if keep_q and qi <= keep_q[-1]:
            continue
        if keep_r and ri == keep_r[-1]:
            continue
        keep_r.append(ri)
        keep_q.append(qi)
    return np.array(keep_r), np.array(keep_q)


def _log_rate_at(r: np.ndarray, q: np.ndarray):
    """log10(rate) as a function of quality (q strictly increasing)."""
    if len(q) == 1:
        return None
    return PchipInterpolator(q, np.log10(r))


def bd_rate(rate_anchor, q_anchor, rate_test, q_test, metric: str = "psnr") -> BDResult:
    """BD-rate (%) of the test curve against the anchor curve; see the module docstring."""
    sign = -1.0 if metric.lower().replace("-", "_") in LOWER_IS_BETTER else 1.0
    ra, qa = monotone_envelope(rate_anchor, sign * np.asarray(q_anchor, float))
    rt, qt = monotone_envelope(rate_test, sign * np.asarray(q_test, float))
    dropped = (len(np.asarray(rate_anchor)) - len(ra), len(np.asarray(rate_test)) - len(rt))
    notes = []
    if any(dropped):
        notes.append(f"{dropped[0]}+{dropped[1]} non-monotone points dropped")
    if len(ra) < 2:
        return BDResult(None, "anchor has fewer than 2 usable points", None, (len(ra), len(rt)))
    if len(rt) == 0:
        return BDResult(None, "no test points", None, (len(ra), 0))
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if hi < lo or (hi == lo and len(rt) > 1):
        return BDResult(None, "no overlapping quality range", None, (len(ra), len(rt)))
    fa = _log_rate_at(ra, qa)
    if len(rt) == 1:
        delta = float(np.log10(rt[0]) - fa(qt[0]))
        notes.append("single test point: rate difference at its quality")
        return BDResult(_percent(delta), "; ".join(notes), (sign * lo, sign * hi), (len(ra), 1))
    ft = _log_rate_at(rt, qt)
    delta = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    cover = (hi - lo) / (max(qa.max(), qt.max()) - min(qa.min(), qt.min()))
    if cover < 0.5:
        notes.append(f"overlap {cover:.0%} of the quality span")
    q_range = tuple(sorted((sign * lo, sign * hi)))
    return BDResult(_percent(float(delta)), "; ".join(notes), q_range, (len(ra), len(rt)))


def _percent(log_delta: float) -> float:
    return (10.0**log_delta - 1.0) * 100.0


def interpolate_at_rate(rate, metric_values, target_rate: float, metric: str = "psnr") -> tuple[float | None, str]:
    """A metric of a curve at a given rate (PCHIP in log-rate), and "interpolated" / "nearest: <rate>".

    Outside the curve's rate range it does not extrapolate: None and a note.
    """
    r, m = np.asarray(rate, float), np.asarray(metric_values, float)
    ok = np.isfinite(r) & np.isfinite(m) & (r > 0)
    r, m = r[ok], m[ok]
    if len(r) == 0:
        return None, "no points"
    order = np.argsort(r)
    r, m = r[order], m[order]
    _, uniq = np.unique(r, return_index=True)
    r, m = r[uniq], m[uniq]
    if target_rate < r.min() or target_rate > r.max():
        return None, f"outside {r.min():.4f}-{r.max():.4f} bpp"
    if len(r) == 1:
        return float(m[0]), "at the point"
    f = PchipInterpolator(np.log10(r), m)
    return float(f(math.log10(target_rate))), "interpolated"
