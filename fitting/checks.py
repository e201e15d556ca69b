"""Input checks shared by every fitter, and the error a failed fit raises.

    N, D, L = check_arrays(N=N, D=D, L=L, num_params=5)   # ValueError naming the field

Bad input is a ``ValueError`` whose one-line message names the offending array; an optimizer that
cannot produce a trustworthy minimum raises ``FitError`` instead of returning garbage.
"""

from __future__ import annotations

import numpy as np


class FitError(RuntimeError):
    """The optimizer failed (no finite start, no convergence, starts disagree, degenerate data)."""


def as_array(name: str, values, *, positive: bool = True) -> np.ndarray:
    """``values`` as a finite 1-D float array; ``positive`` also rejects values <= 0."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} value(s) are NaN or infinite "
                         f"(first at index {int(np.argmax(bad))})")
    if positive and (arr <= 0).any():
        idx = int(np.argmax(arr <= 0))
        raise ValueError(f"{name}: values must be > 0 (index {idx} is {arr[idx]!r})")
    return arr


def check_arrays(*, num_params: int, positive: tuple[str, ...] | None = None,
                 **arrays) -> list[np.ndarray]:
    """Validate equally long 1-D arrays with at least ``num_params`` points; return in order."""
    out = [as_array(name, v, positive=positive is None or name in positive)
           for name, v in arrays.items()]
    lengths = {name: len(a) for name, a in zip(arrays, out)}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"mismatched lengths: {desc}")
    n = len(out[0])
    if n < num_params:
        raise ValueError(f"{n} data point(s) but the law has {num_params} parameters; "
                         f"need at least {num_params}")
    return out
