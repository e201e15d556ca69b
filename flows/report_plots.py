"""The report's plots: the fitting module's law plots plus the study's forecast history.

    paths = plot_all(out_dir, observations, t2_law, chinchilla_law, ratio_rows, rounds, cfg)

``forecast.png`` shows each target's forecast N* (with the round's interval) against the
training FLOPs spent so far: how the study converged. The others come from ``t2.fitting.plots``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from t2.fitting import plots
from t2.infra.storage import atomic_write


def plot_history(out: Path, rounds: list[dict], cfg, true_law=None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fitted = [r for r in rounds if r.fitted]
    for t, target in enumerate(cfg.budget.targets):
        x = np.array([r.flops for r in fitted])
        y = np.array([r.forecast[t][0] for r in fitted])
        lo = np.array([r.interval[t][0][0] for r in fitted])
        hi = np.array([r.interval[t][0][1] for r in fitted])
        label = f"C_train={target.c_train:.2g}, C_inf={target.c_inf:.2g}"
        line, = ax.plot(x, y, "o-", ms=3, label=label)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
        if true_law is not None and fitted and fitted[-1].N_error is not None:
            true_N = y[-1] / (1 + fitted[-1].N_error[t])
            ax.axhline(true_N, color=line.get_color(), ls=":", lw=1)
    if not fitted:  # no round had enough checkpoints for a fit: no data, no log axis
        ax.set(xlabel="training FLOPs spent", ylabel="forecast N*",
               title=f"study {cfg.name}: no round could be fitted yet")
    else:
        spent = [r.flops for r in fitted if r.flops > 0]
        narrow = bool(spent) and max(spent) < 3 * min(spent)  # later rounds only topped up the seed
        ax.set(xscale="linear" if narrow else "log", yscale="log", xlabel="training FLOPs spent",
               ylabel="forecast N*", title=f"study {cfg.name}: forecast per round")
        if narrow:
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}".replace("e+", "e")))
        else:  # label 1-2-5 ticks compactly, never the minor ones
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=15))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}".replace("e+", "e")))
            ax.xaxis.set_minor_formatter(NullFormatter())
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        ax.legend(fontsize=7)
    path = out / "forecast.png"
    tmp = out / ".forecast.tmp.png"
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_all(out: Path, obs, law, chin, ratios, rounds, cfg, true_law=None):
    out.mkdir(parents=True, exist_ok=True)
    N = np.array([o.N for o in obs])
    D = np.array([o.D for o in obs])
    V = np.array([o.val_loss for o in obs])
    paths = [plot_history(out, rounds, cfg, true_law)]
    pk = [(o.N, o.D, int(k), float(np.exp(-L))) for o in obs for k, L in o.loss_k.items()]
    if pk:
        a = np.array(pk)
        paths.append(plots.plot_pass_at_k(law, a[:, 0], a[:, 1], a[:, 2], a[:, 3],
                                          out / "pass_at_k"))
    paths.append(plots.plot_isoflop(chin, N, D, V, out / "fit", num_bins=6))
    t0 = cfg.budget.targets[0]
    paths.append(plots.plot_tokens_per_param(law, t0.c_train, [r["c_inf"] for r in ratios],
                                             out / "ratio_vs_cinf"))
    c_trains = np.geomspace(min(cfg.budget.compute), max(t.c_train for t in cfg.budget.targets),
                            20)
    paths.append(plots.plot_optimal_vs_budget(law, c_trains, t0.c_inf, out / "optimal"))
    atomic_write(out / "plots.txt", "\n".join(p.name for p in paths) + "\n")
    return paths


def plot_task(out: Path, task: str, fits: dict, obs, chin_law, cfg, q: float,
              chin_boot=None) -> Path:
    """One task: pass@k vs k with both approaches' fits, and N*, D*/N*, k* vs C_inf (at the
    first target's C_train) with interval bands for both approaches and, from ``chin_boot``
    (the Chinchilla fit's bootstrap), for the Chinchilla model."""
    from t2.fitting.forecast import forecast
    from t2.flows.report_tasks import chinchilla_model, pass_at_k
    from t2.flows.task_fits import FAR_BELOW

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    have = [o for o in obs if task in o.evaluation.tasks] if task != "pooled" else \
        [o for o in obs if o.loss_k]
    picks = sorted(have, key=lambda o: (o.N, o.D))[:: max(1, len(have) // 5)][:6]
    kk = np.geomspace(1, 4 * max(cfg.eval.ks), 60)
    for i, o in enumerate(picks):
        color = plt.cm.viridis(i / max(len(picks) - 1, 1))
        losses = o.evaluation.tasks[task] if task != "pooled" else o.loss_k
        ks = sorted(losses)
        axes[0].scatter(ks, [np.exp(-losses[k]) for k in ks], s=10, color=color,
                        label=f"N={o.N:.2g} D={o.D:.2g}")
        for approach, style in ((1, "-"), (2, "--")):
            f = fits.get(approach)
            if f is not None and f.boot is not None:
                axes[0].plot(kk, pass_at_k(f.boot.law, o.N, o.D, kk), style, color=color, lw=1)
    axes[0].set(xscale="log", xlabel="k", ylabel="pass@k",
                title=f"{task}: observed; Approach 1 (—), 2 (--)")
    axes[0].legend(fontsize=6)
    t0 = cfg.budget.targets[0]
    c_infs = np.geomspace(1e-2, 1e2, 9) * t0.c_inf
    smallest = min(o.N for o in obs)
    grid = [(t0.c_train, float(c)) for c in c_infs]
    for approach, color in ((1, "C0"), (2, "C1")):
        f = fits.get(approach)
        if f is None or f.boot is None or f.forecast is None:
            continue
        fc = forecast(f.boot.law, f.boot.laws, grid)
        iv = np.exp(fc.interval(q))
        tpp, tpp_iv = fc.tokens_per_param(q)
        # the report's rule (task_fits.FAR_BELOW): an optimum far below every trained size is
        # an extrapolation, not a forecast; such C_inf are left blank, not drawn at N* = 1
        shown = np.exp(fc.point[:, 0]) >= smallest / FAR_BELOW
        for ax, y, band in ((axes[1], np.exp(fc.point[:, 0]), iv[:, 0]), (axes[2], tpp, tpp_iv),
                            (axes[3], np.exp(fc.point[:, 2]), iv[:, 2])):
            y, band = np.where(shown, y, np.nan), np.where(shown[:, None], band, np.nan)
            ax.plot(c_infs, y, color=color, label=f"T² Approach {approach}")
            ax.fill_between(c_infs, band[:, 0], band[:, 1], color=color, alpha=0.2)

    def chin_of(law):  # (C_inf, 3): N, D/N, k of the Chinchilla-optimal model
        m = np.array([chinchilla_model(law, ct, ci) for ct, ci in grid])
        return np.stack([m[:, 0], m[:, 1] / m[:, 0], m[:, 2]], axis=1)

    chin = chin_of(chin_law)
    band = chin_boot.interval(chin_of, q) if chin_boot is not None else None
    for i, (ax, name) in enumerate(zip(axes[1:], ("N*", "D*/N*", "k*"))):
        ax.plot(c_infs, chin[:, i], "k:", label="Chinchilla")
        if band is not None:
            ax.fill_between(c_infs, band[0][:, i], band[1][:, i], color="0.5", alpha=0.2)
        ax.set(xscale="log", yscale="log", xlabel="C_inf (FLOPs per token per query)",
               ylabel=name, title=f"C_train {t0.c_train:.2g}")
        ax.legend(fontsize=6)
    path = out / f"task_{task.replace('/', '_').replace(':', '_')}.png"
    tmp = out / f".{path.name}.tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path
