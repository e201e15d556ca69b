"""The report's per-task answer: T² optima per task × approach beside the Chinchilla-optimal model.

    rows = task_rows(fits, chin_law, target, q)        # one row per task × approach
    lines = task_table(rows, target, q)                # the markdown table the report opens with

As in the T² paper (Roberts et al. 2026, arXiv 2604.01411): per task and by both approaches,
the forecast optimum (N*, D*/N*, k* and its predicted pass@k, with bootstrap intervals) and the
Chinchilla-optimal model at the same budgets — N from the study's Chinchilla fit of the
validation loss, D = C_train/6N, k = C_inf/2N — with the pass@k that task's law predicts for it.
A law that is not identifiable is said to be so, with the reason, instead of given a number.
"""

from __future__ import annotations

import math

import numpy as np
from t2.fitting.forecast import central_interval
from t2.fitting.laws import T2BetaLaw

APPROACH = {1: "1: −log pass@k", 2: "2: Beta"}


def pass_at_k(law, N, D, k):
    """Predicted pass@k of a loss law (exp(−L)) or of a Beta law (accuracy). A bootstrap law of
    a task that is not identifiable can overflow far from the data: its nan is skipped by
    ``central_interval``, not printed as a RuntimeWarning."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (law.predict(N, D, k) if isinstance(law, T2BetaLaw)
                else np.exp(-law.predict(N, D, k)))


def chinchilla_model(chin_law, c_train: float, c_inf: float) -> tuple[float, float, float]:
    """(N, D, k) of the Chinchilla-optimal model at these budgets, k = C_inf/2N (≥ 1)."""
    N = float(min(chin_law.N_opt(c_train), c_inf / 2.0))
    return N, c_train / (6.0 * N), c_inf / (2.0 * N)


def _samples_pass(fit, t: int) -> np.ndarray:
    """pass@k of each bootstrap law at its own optimum for target t."""
    logs = fit.forecast.samples[:, t, :]
    return np.array([pass_at_k(law, *np.exp(row)) if np.all(np.isfinite(row)) else np.nan
                     for law, row in zip(fit.boot.laws, logs)], float)


def task_row(fit, chin, t: int, target, q: float) -> dict:
    """One task × approach at target t (``fit``: a ``t2.flows.task_fits.LawFit``)."""
    row = {"task": fit.task, "approach": fit.approach, "reason": fit.reason}
    if fit.forecast is None:
        return row
    fc, law = fit.forecast, fit.boot.law
    N, D, k = np.exp(fc.point[t])
    iv = np.exp(fc.interval(q)[t])
    tpp, tpp_iv = fc.tokens_per_param(q)
    pk = float(pass_at_k(law, N, D, k))
    pk_iv = central_interval(_samples_pass(fit, t), q) if fit.boot.laws else (math.nan,) * 2
    Nc, Dc, kc = chin
    cpk = float(pass_at_k(law, Nc, Dc, kc))
    cpk_s = [float(pass_at_k(lw, Nc, Dc, kc)) for lw in fit.boot.laws]
    cpk_iv = central_interval(cpk_s, q) if cpk_s else (math.nan,) * 2
    ratio_s = [a / b for a, b in zip(_samples_pass(fit, t), cpk_s) if b > 0]
    row.update(N=N, N_iv=iv[0].tolist(), tokens_per_param=float(tpp[t]),
               tokens_per_param_iv=tpp_iv[t].tolist(), k=k, k_iv=iv[2].tolist(),
               pass_at_k=pk, pass_at_k_iv=[float(x) for x in pk_iv], chin_N=Nc, chin_k=kc,
               chin_tokens_per_param=Dc / Nc, chin_pass_at_k=cpk,
               chin_pass_at_k_iv=[float(x) for x in cpk_iv],
               ratio=pk / cpk if cpk > 0 else math.inf,
               ratio_iv=[float(x) for x in central_interval(ratio_s, q)] if ratio_s
               else [math.nan, math.nan])
    return row


def task_rows(fits, chin_law, target, t: int, q: float) -> list[dict]:
    chin = chinchilla_model(chin_law, target.c_train, target.c_inf)
    return [task_row(f, chin, t, target, q) for f in fits]


def with_interval(v: float, iv, fmt: str = ".3g") -> str:
    """``v [lo, hi]``; † when the interval excludes ``v``; "[no interval]" without one."""
    lo, hi = iv
    if math.isnan(lo) or math.isnan(hi):
        return f"{v:{fmt}} [no interval]"
    mark = "" if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9) else "†"
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]{mark}"


def task_table(rows: list[dict], target, q: float) -> list[str]:
    """Markdown lines: the per-task table at one target."""
    lines = [f"### C_train {target.c_train:.3g}, C_inf {target.c_inf:.3g} ({q:.0%} intervals)",
             "", ("| task | approach | T² N* | T² D*/N* | T² k* | T² pass@k | Chinchilla N | "
                  "Chinchilla D/N | Chinchilla k | Chinchilla pass@k | T²/Chinchilla |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['task']} | {APPROACH[r['approach']]} |"
        if "N" not in r:
            lines.append(f"{head} not identifiable: {r['reason']} |||||||||")
            continue
        tpp = with_interval(r["tokens_per_param"], r["tokens_per_param_iv"], ".0f")
        N, k = with_interval(r["N"], r["N_iv"]), with_interval(r["k"], r["k_iv"])
        lines.append(
            f"{head} {N} | {tpp} | {k} | {with_interval(r['pass_at_k'], r['pass_at_k_iv'])} | "
            f"{r['chin_N']:.3g} | {r['chin_tokens_per_param']:.0f} | {r['chin_k']:.3g} | "
            f"{with_interval(r['chin_pass_at_k'], r['chin_pass_at_k_iv'])} | "
            f"{with_interval(r['ratio'], r['ratio_iv'], '.2f')} |")
    return lines


def _cell(row: dict, key: str, fmt: str = ".3g") -> str:
    if key not in row:
        return "–"
    lo, hi = row.get(f"{key}_iv", (math.nan, math.nan))
    return with_interval(row[key], (lo, hi), fmt)


def validation_table(rows: list[dict], budgets, q: float) -> list[str]:
    """Markdown lines: measured vs forecast pass@k of the trained T² and Chinchilla models."""
    lines = [("Each model trained at D = C_train/6N and sampled at its own k = C_inf/2N; "
              f"measured pass@k with {q:.0%} bootstrap intervals over problems (sampled: "
              "unbiased from n ≥ k samples; likelihood: 1 − (1 − p_i)^k of the gold answer). "
              "T²/Chinchilla compares the two models on the same problems."), "",
             ("| C_train | C_inf | model | task | N | D/N | k | pass@k sampled | "
              "pass@k likelihood | forecast (A1) | forecast (A2) | T²/Chinchilla sampled | "
              "T²/Chinchilla likelihood |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    same = {r["budget"] for r in rows if r["model"] == "t2"
            and any(o["model"] == "chinchilla" and o["budget"] == r["budget"] and o["N"] == r["N"]
                    for o in rows)}
    for b in sorted(same):
        lines.insert(1, f"At C_train {budgets[b][0]:.3g} both rules size the same model: one run, "
                        "and nothing to compare. ")
    for r in rows:
        ct, ci = budgets[r["budget"]]
        fa = [f"{r[k]:.3g}" if k in r else "–" for k in ("forecast_a1", "forecast_a2")]
        lines.append(
            f"| {ct:.3g} | {ci:.3g} | {r['model']} | {r['task']} | {r['N']:.3g} | "
            f"{r['D'] / r['N']:.0f} | {r['k']} | {_cell(r, 'sampled')} | "
            f"{_cell(r, 'likelihood')} | {fa[0]} | {fa[1]} | "
            f"{_cell(r, 'ratio_sampled', '.2f')} | {_cell(r, 'ratio_likelihood', '.2f')} |")
    return lines
