"""Plots of fitted laws; each writes ``NAME.png`` and the plotted numbers as ``NAME.json``.

    plot_isoflop(law, N, D, L, "out/isoflop")                  # loss vs N per isoFLOP budget
    plot_pass_at_k(law, N, D, k, pass_k, "out/pass_at_k")      # pass@k vs k per model
    plot_optimal_vs_budget(law, c_trains, 2e9, "out/opt", bootstrap=bs)
    plot_tokens_per_param(law, 2.56e19, c_infs, "out/tpp", bootstrap=bs)

Uses matplotlib's Agg backend (no display). Only this module of ``t2.fitting`` imports matplotlib.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from t2.fitting.laws import ChinchillaLaw, T2LossLaw, atomic_write_text
from t2.fitting.optimal import optimal_allocation


def _save(fig, data: dict, path) -> Path:
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp.png"
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path.with_suffix(".png"))
    text = json.dumps(data, indent=1, default=lambda a: np.asarray(a, float).tolist())
    atomic_write_text(path.with_suffix(".json"), text)
    return path.with_suffix(".png")


def _nd_law(law):
    return law.chinchilla(1.0) if isinstance(law, T2LossLaw) else law


def plot_isoflop(law, N, D, L, path, *, num_bins: int = 12) -> Path:
    """Observed loss vs N grouped by training budget ``C = 6ND``, with the law's isoFLOP curves."""
    N, D, L = (np.asarray(a, float) for a in (N, D, L))
    C = 6 * N * D
    edges = np.geomspace(C.min(), C.max() * (1 + 1e-9), num_bins + 1)
    which = np.clip(np.searchsorted(edges, C, side="right") - 1, 0, num_bins - 1)
    nd = _nd_law(law)
    fig, ax = plt.subplots(figsize=(7, 5))
    colors = plt.cm.viridis(np.linspace(0, 1, num_bins))
    data = {"budgets": [], "points": {"N": N, "D": D, "L": L, "C": C}, "curves": []}
    for j in range(num_bins):
        sel = which == j
        if not sel.any():
            continue
        c = float(np.exp(np.log(C[sel]).mean()))
        grid = np.geomspace(N[sel].min() / 2, N[sel].max() * 2, 100)
        curve = nd.predict(grid, c / (6 * grid))
        ax.scatter(N[sel], L[sel], s=12, color=colors[j])
        ax.plot(grid, curve, color=colors[j], lw=1, label=f"{c:.1e}")
        data["budgets"].append(c)
        data["curves"].append({"C": c, "N": grid, "L": curve})
    ax.set(xscale="log", xlabel="parameters N", ylabel="loss", title="loss vs N per isoFLOP budget")
    ax.legend(fontsize=6, title="C (FLOPs)", title_fontsize=7)
    return _save(fig, data, path)


def plot_pass_at_k(law, N, D, k, pass_k, path) -> Path:
    """Observed pass@k vs k per model (N, D), with the law's curve (T² loss or Beta law)."""
    N, D, k, pass_k = (np.asarray(a, float) for a in (N, D, k, pass_k))
    models = sorted(set(zip(N.tolist(), D.tolist())))
    kk = np.geomspace(1, k.max() * 2, 100)
    fig, ax = plt.subplots(figsize=(7, 5))
    data = {"models": []}
    for i, (n, d) in enumerate(models):
        sel = (N == n) & (D == d)
        fit = law.pass_at_k(n, d, kk) if isinstance(law, T2LossLaw) else law.predict(n, d, kk)
        color = plt.cm.plasma(i / max(len(models) - 1, 1))
        ax.scatter(k[sel], pass_k[sel], s=12, color=color)
        ax.plot(kk, fit, color=color, lw=1, label=f"N={n:.2g}, D={d:.2g}")
        data["models"].append({"N": n, "D": d, "k": k[sel], "observed": pass_k[sel],
                               "k_curve": kk, "fit": fit})
    ax.set(xscale="log", xlabel="k (samples per query)", ylabel="pass@k", title="pass@k vs k")
    ax.legend(fontsize=6)
    return _save(fig, data, path)


def _band(bootstrap, fn, q):
    if bootstrap is None:
        return None
    return bootstrap.interval(fn, q)


def plot_optimal_vs_budget(law, c_train, c_inf, path, *, bootstrap=None, q: float = 0.95) -> Path:
    """N*, D*, k* vs training budget at fixed ``c_inf``: T² vs Chinchilla, CI bands if bootstrap."""
    c_train = np.asarray(c_train, float)
    alloc = optimal_allocation(law, c_train, c_inf)
    chin = alloc.chinchilla if alloc.chinchilla is not None else alloc
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    data = {"c_train": c_train, "c_inf": c_inf}
    for ax, name in zip(axes, ("N", "D", "k")):
        t2_vals, ch_vals = getattr(alloc, name), getattr(chin, name)
        ax.plot(c_train, t2_vals, label="T²" if not isinstance(law, ChinchillaLaw) else "law")
        ax.plot(c_train, ch_vals, "--", label="Chinchilla")
        band = _band(bootstrap,
                     lambda lw, n=name: getattr(optimal_allocation(lw, c_train, c_inf), n), q)
        if band is not None:
            ax.fill_between(c_train, band[0], band[1], alpha=0.25, label=f"{q:.0%} CI")
            data[f"{name}_ci"] = band
        data[f"{name}_t2"], data[f"{name}_chinchilla"] = t2_vals, ch_vals
        ax.set(xscale="log", yscale="log", xlabel="C_train (FLOPs)", ylabel=f"{name}*")
        ax.legend(fontsize=7)
    fig.suptitle(f"compute-optimal allocation at C_inf = {c_inf:.2g}")
    return _save(fig, data, path)


def plot_tokens_per_param(law, c_train, c_inf, path, *, bootstrap=None, q: float = 0.95) -> Path:
    """Optimal tokens/parameter vs inference budget at fixed ``c_train`` (T² vs Chinchilla)."""
    c_inf = np.asarray(c_inf, float)
    alloc = optimal_allocation(law, c_train, c_inf)
    chin = alloc.chinchilla if alloc.chinchilla is not None else alloc
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot(c_inf, alloc.tokens_per_param, label="T²")
    ax.plot(c_inf, np.broadcast_to(chin.tokens_per_param, c_inf.shape), "--", label="Chinchilla")
    data = {"c_train": c_train, "c_inf": c_inf, "t2": alloc.tokens_per_param,
            "chinchilla": np.broadcast_to(chin.tokens_per_param, c_inf.shape)}
    band = _band(bootstrap, lambda lw: optimal_allocation(lw, c_train, c_inf).tokens_per_param, q)
    if band is not None:
        ax.fill_between(c_inf, band[0], band[1], alpha=0.25, label=f"{q:.0%} CI")
        data["t2_ci"] = band
    ax.set(xscale="log", yscale="log", xlabel="C_inf (FLOPs per token per query)",
           ylabel="D*/N* (tokens per parameter)", title=f"C_train = {c_train:.2g}")
    ax.legend(fontsize=7)
    return _save(fig, data, path)
