"""pass@k: the unbiased estimator from (n, c) counts, pass@k from likelihoods, bootstrap CIs.

    from t2.evaluation.passk import pass_at_k, pass_at_k_curve, pass_at_k_from_p
    pass_at_k(10, 3, 5)                       # one problem
    pass_at_k_curve(n, c, [1, 2, 4, 8])       # [problems, ks]

Unbiased estimator (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``, evaluated as the product
``1 - prod_{j=n-c+1..n} (1 - k/j)``, which never forms huge binomials; it is 1 when n - c < k.
From a single-sample success probability p (e.g. ``exp(-NLL)``): ``1 - (1-p)^k`` computed as
``-expm1(k*log1p(-p))`` and its negative log as ``-log(-expm1(k*log1p(-p)))`` with the usual
two-branch trick so neither tiny nor near-one p loses precision.
"""

from __future__ import annotations

import numpy as np

_LN2 = float(np.log(2.0))
MAX_CHUNK_ELEMENTS = 1 << 22


def _as_int_array(name: str, x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integers, got {x!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got {x!r}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return arr.astype(np.int64)


def _check(n, c, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, c, k = (_as_int_array(a, v) for a, v in (("n", n), ("c", c), ("k", k)))
    n, c, k = np.broadcast_arrays(n, c, k)
    if np.any(k < 1):
        raise ValueError(f"k must be >= 1, got min k = {int(k.min())}")
    if np.any(c > n):
        raise ValueError("c (correct samples) must be <= n (samples) for every problem")
    if np.any(k > n):
        raise ValueError(
            f"k = {int(k.max())} exceeds n = {int(n[k > n].min())} samples: "
            "pass@k needs k <= n (draw more samples)"
        )
    return n, c, k


def _product_form(n: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    """1 - prod_{j=n-c+1..n}(1 - k/j) on equal-shape int arrays, masked to each row's c terms."""
    n, c, k = n.ravel(), c.ravel(), k.ravel()
    out = np.ones(n.shape, dtype=np.float64)
    live = np.flatnonzero((n - c) >= k)
    if live.size == 0:
        return out
    width = max(int(c[live].max()), 1)
    rows_per_chunk = max(1, MAX_CHUNK_ELEMENTS // width)  # bounds memory at ~MAX_CHUNK_ELEMENTS
    terms_index = np.arange(width)[None, :]
    for start in range(0, live.size, rows_per_chunk):
        rows = live[start:start + rows_per_chunk]
        nn, cc, kk = n[rows, None], c[rows, None], k[rows, None]
        j = nn - cc + 1 + terms_index
        terms = np.where(terms_index < cc, 1.0 - kk / np.maximum(j, 1), 1.0)
        out[rows] = 1.0 - np.prod(terms, axis=1)
    return out


def pass_at_k(n, c, k):
    """Unbiased pass@k for each (n, c, k), broadcast; a float for scalar inputs.

    Raises ValueError for negatives, c > n, k < 1 or k > n.
    """
    scalar = all(np.ndim(x) == 0 for x in (n, c, k))
    n, c, k = _check(n, c, k)
    out = _product_form(n, c, k).reshape(n.shape)
    return float(out) if scalar else out


def pass_at_k_curve(n, c, ks) -> np.ndarray:
    """pass@k for every problem (rows) and every k in ``ks`` (columns): shape [problems, ks]."""
    n = np.atleast_1d(np.asarray(n))[:, None]
    c = np.atleast_1d(np.asarray(c))[:, None]
    ks = np.atleast_1d(np.asarray(ks))[None, :]
    return np.asarray(pass_at_k(n, c, ks), dtype=np.float64)


def _log1m_exp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate on both ends (Maechler 2012)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(x > -_LN2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _check_p(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p must lie in [0, 1]")
    return p


def _check_k_real(k) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    if np.any(~np.isfinite(k)) or np.any(k <= 0):
        raise ValueError("k must be > 0")
    return k


def _log_fail(p: np.ndarray, k: np.ndarray) -> np.ndarray:
    """k * log(1 - p): the log-probability that k independent samples all fail."""
    with np.errstate(divide="ignore"):
        return k * np.log1p(-p)


def pass_at_k_from_p(p, k):
    """1 - (1 - p)^k, broadcast over p and k (k may be real, e.g. a fitted law)."""
    scalar = np.ndim(p) == 0 and np.ndim(k) == 0
    out = -np.expm1(_log_fail(_check_p(p), _check_k_real(k)))
    return float(out) if scalar else out


def neg_log_pass_at_k_from_p(p, k):
    """-log(1 - (1 - p)^k): the per-problem task loss of T² Approach 1
    (Roberts et al. 2026, arXiv 2604.01411); +inf where p = 0."""
    scalar = np.ndim(p) == 0 and np.ndim(k) == 0
    out = -_log1m_exp(_log_fail(_check_p(p), _check_k_real(k)))
    return float(out) if scalar else out


def neg_log_pass_at_k_from_nll(nll, k):
    """Same as ``neg_log_pass_at_k_from_p(exp(-nll), k)`` without rounding p near 0 or 1."""
    scalar = np.ndim(nll) == 0 and np.ndim(k) == 0
    nll = np.asarray(nll, dtype=np.float64)
    if np.any(np.isnan(nll)) or np.any(nll < 0):
        raise ValueError("nll must be >= 0")
    out = -_log1m_exp(_check_k_real(k) * _log1m_exp(-nll))
    return float(out) if scalar else out


def bootstrap_ci(per_problem_values, num: int = 1000, seed: int = 0,
                 q: tuple[float, ...] = (0.025, 0.975)) -> np.ndarray:
    """Quantiles of the mean over problems under resampling problems with replacement.

    ``per_problem_values`` is [problems] or [problems, ...] (e.g. a pass_at_k_curve); the result
    has shape [len(q), ...].
    """
    values = np.asarray(per_problem_values, dtype=np.float64)
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError("bootstrap_ci needs at least one problem")
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    rng = np.random.default_rng(seed)
    num_problems = values.shape[0]
    means = np.empty((num,) + values.shape[1:])
    for start in range(0, num, 256):  # chunks bound memory at 256 x problems x ...
        stop = min(num, start + 256)
        idx = rng.integers(0, num_problems, size=(stop - start, num_problems))
        means[start:stop] = values[idx].mean(axis=1)
    return np.quantile(means, q, axis=0)
