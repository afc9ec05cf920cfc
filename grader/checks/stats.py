"""The numbers the checks compare: tolerances, error measures, and how to print them."""

from __future__ import annotations

import numpy as np

SIGMAS = 8


def kept_tolerance(p: float, n: int) -> float:
    """SIGMAS standard deviations of the kept fraction of n units kept with probability p."""
    return SIGMAS * float(np.sqrt(p * (1 - p) / n))


def mean_ratio_tolerance(x: np.ndarray, p: float) -> float:
    """SIGMAS standard deviations of mean(out) / mean(x) when out = x * mask / p; the mask is
    the only randomness: Var(mean(out)) = sum(x**2) * (1 - p) / p / n**2."""
    sd = np.sqrt(np.sum(x.astype(np.float64) ** 2) * (1 - p) / p) / x.size
    return SIGMAS * float(sd / abs(np.mean(x)))


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """The notebook's relative error: max(|x - y| / max(1e-8, |x| + |y|))."""
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to rounding (rtol 1e-9), NaNs never equal."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=0.0))


def differ(a: np.ndarray, b: np.ndarray) -> str:
    """'N of M values differ', for feedback."""
    if a.shape != b.shape:
        return f"shape {a.shape} instead of {b.shape}"
    same = a == b
    if np.issubdtype(a.dtype, np.inexact) and np.issubdtype(b.dtype, np.inexact):
        same |= np.isnan(a) & np.isnan(b)
    n = int(np.count_nonzero(~same))
    return f"{n:,} of {a.size:,} values differ"


def scaling(out: np.ndarray, x: np.ndarray, p: float) -> str | None:
    """'p', '1/p', '(1 - p)' or '1/(1 - p)' when OUT is X scaled by it (either reading of p);
    None otherwise."""
    factors = {"p": p, "1/p": 1 / p, "(1 - p)": 1 - p, "1/(1 - p)": 1 / (1 - p)}
    return next((name for name, f in factors.items() if f != 1 and close(out, x * f)), None)
