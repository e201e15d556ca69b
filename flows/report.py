"""The study report: forecast table (T² vs Chinchilla), extrapolation check, plots.

    python -m t2.flows.report runs/tiny          # (re)write runs/tiny/report/

Reads only the ledger (finished runs' checkpoint records) and round files; writes
``report.md``, ``report.json`` and PNG plots into ``{root}/report`` and marks it done last. The
forecast is the last round's (``t2.flows.rounds``: the same law, bootstrap and intervals the
study logged and ``t2 status`` shows); only a study without a round on all its data is fitted
again, the same way. With the post-training stage on, a section compares the forecasts of the
pretrained and post-trained checkpoints (``t2.flows.report_posttrain``). The extrapolation
check runs two protocols per task × approach
(``t2.flows.report_extrapolation``; the T² paper's own check gave 2.8% for Approach 1 and 8.4%
for Approach 2, Roberts et al. 2026, arXiv 2604.01411); the last table shows how the optimal
tokens per parameter grows with C_inf.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from t2.fitting.bootstrap import Bootstrap, bootstrap_fit
from t2.fitting.checks import FitError
from t2.fitting.fit import fit_chinchilla
from t2.fitting.forecast import Forecast, forecast
from t2.fitting.misfit import REL_MIN, T_MIN, KTrend, k_trend
from t2.fitting.optimal import optimal_allocation, optimal_pooled
from t2.flows import ledger
from t2.flows.config import StudyConfig, load_study
from t2.flows.records import RoundRecord
from t2.flows.report_extrapolation import extrapolation_rows, extrapolation_table
from t2.flows.report_plots import plot_all, plot_task
from t2.flows.report_posttrain import posttrain_lines, posttrain_section
from t2.flows.report_tasks import task_rows, task_table, validation_table
from t2.flows.rounds import (
    RoundFit,
    boot_of,
    checkpoint_of_rows,
    drift_bootstrap,
    drift_of,
    fit_arrays,
    fit_round,
    law_fits_of,
)
from t2.flows.steps import StudyPaths
from t2.flows.task_fits import POOLED, LawFit, resampling_units
from t2.flows.validation import budgets, measured
from t2.infra.storage import atomic_write, mark_done, read_json, write_json


def read_rounds(paths: StudyPaths) -> list[RoundRecord]:
    return [RoundRecord.from_dict(read_json(p)) for p in sorted(paths.rounds.glob("round-*.json"))]


def final_fit(cfg: StudyConfig, obs, rounds: list[RoundRecord]):
    """(kind, Bootstrap, per-task LawFits, drift Bootstrap or None) of the laws on all
    observations: the last round's when it saw them all with the study's Approach-2 data (it
    does once a study has run, unless ``eval.approach2`` changed since), else fitted now as a
    round would be."""
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    last = rounds[-1] if rounds else None
    prev = None
    if last is not None and last.fitted:
        if (last.num_checkpoints == len(obs)
                and (last.approach2 or "counts") == cfg.eval.approach2):
            return last.kind, boot_of(last), law_fits_of(last, targets), drift_of(last)
        # warm from the last round's laws, as the round after it would be (and cold too)
        boot = boot_of(last)
        prev = RoundFit(kind=last.kind, boot=boot, forecast=forecast(boot.law, [], targets),
                        laws=tuple(law_fits_of(last, targets)), drift=drift_of(last))
    fit = fit_round(obs, targets, num_bootstrap=cfg.select.num_bootstrap,
                    seed=cfg.select.seed + len({o.run for o in obs}), prev=prev,
                    approach2=cfg.eval.approach2)
    if fit is None:
        raise FitError(f"no law converged on {len(obs)} checkpoints of "
                       f"{len({o.N for o in obs})} sizes: too few, or too degenerate to fit")
    return fit.kind, fit.boot, list(fit.laws), fit.drift


def forecast_rows(cfg: StudyConfig, law, fc: Forecast, chin_law, q: float) -> list[dict]:
    """One row per target: the T² optimum with intervals, and the Chinchilla-sized choice."""
    rows = []
    iv = np.exp(fc.interval(q))
    tpp, tpp_iv = fc.tokens_per_param(q)
    for t, target in enumerate(cfg.budget.targets):
        N, D, k = np.exp(fc.point[t])
        row = {"c_train": target.c_train, "c_inf": target.c_inf, "N": N, "D": D, "k": k,
               "tokens_per_param": tpp[t], "pass_at_k": float(law.pass_at_k(N, D, k))}
        for j, name in enumerate(("N", "D", "k")):
            row[f"{name}_lo"], row[f"{name}_hi"] = iv[t, j]
        row["tokens_per_param_lo"], row["tokens_per_param_hi"] = tpp_iv[t]
        if chin_law.alpha <= 0 or chin_law.beta <= 0:
            rows.append({**row, **dict.fromkeys(
                ("chin_N", "chin_D", "chin_k", "chin_tokens_per_param", "chin_pass_at_k"),
                float("nan"))})
            continue
        Nc = float(min(chin_law.N_opt(target.c_train), target.c_inf / 2))
        Dc, kc = target.c_train / (6 * Nc), target.c_inf / (2 * Nc)
        row.update(chin_N=Nc, chin_D=Dc, chin_k=kc, chin_tokens_per_param=Dc / Nc,
                   chin_pass_at_k=float(law.pass_at_k(Nc, Dc, kc)))
        rows.append(row)
    return rows


def ratio_vs_inference(cfg: StudyConfig, law) -> list[dict]:
    """Optimal tokens/param as C_inf grows, at the first target's training budget."""
    c_train = cfg.budget.targets[0].c_train
    rows = []
    for c_inf in np.geomspace(1e-3, 1e3, 13) * cfg.budget.targets[0].c_inf:
        a = optimal_allocation(law, c_train, float(c_inf))
        rows.append({"c_train": c_train, "c_inf": float(c_inf), "N": a.N, "k": a.k,
                     "tokens_per_param": a.tokens_per_param})
    return rows


def per_task_rows(cfg: StudyConfig, pooled_a1: LawFit, laws, chin, q: float) -> list[list]:
    """Per target: the rows of every task × approach, then the pooled ones."""
    tasks = [f for f in laws if f.task != POOLED]
    ordered = [*tasks, pooled_a1, *(f for f in laws if f.task == POOLED)]
    return [task_rows(ordered, chin, target, t, q) for t, target in enumerate(cfg.budget.targets)]


def chinchilla_bootstrap(obs, chin, num: int, seed: int) -> Bootstrap | None:
    """The Chinchilla fit's bootstrap over the same units as the T² law's (None when it has
    no interval: too few units, or too many refits fail), for the plots' Chinchilla bands."""
    arrays, groups = fit_arrays(obs, "chinchilla")
    try:
        boot = bootstrap_fit(fit_chinchilla, arrays, groups, num_samples=num, seed=seed,
                             law=chin, strata=arrays["N"])
    except (FitError, ValueError):
        return None
    return boot if boot.laws else None


def task_plots(out: Path, cfg: StudyConfig, obs, laws, chin, q: float) -> list[Path]:
    """One figure per task (and the pooled mean): both approaches beside Chinchilla."""
    by_task: dict[str, dict] = {}
    for f in laws:
        by_task.setdefault(f.task, {})[f.approach] = f
    chin_boot = chinchilla_bootstrap(obs, chin, cfg.select.num_bootstrap, cfg.select.seed)
    return [plot_task(out, task, fits, obs, chin, cfg, q, chin_boot)
            for task, fits in by_task.items()]


def validation_rows(paths: StudyPaths, laws, q: float) -> dict | None:
    """The validation stage's runs measured against the laws, or None when it did not run."""
    if not paths.validation.exists():
        return None
    done = read_json(paths.validation)
    return {"skipped": done.get("skipped"), "flops": done.get("flops", 0.0),
            "rows": measured(done["runs"], laws, q) if done["runs"] else []}


def _repetition(state: dict) -> str:
    epochs = state.get("max_epochs")
    if epochs is None:
        return ""
    return (f" Data repetition: the most repeated source was seen {epochs:.2g} times by a run "
            "(Muennighoff et al. 2023, arXiv 2305.16264: up to ~4 epochs cost little).")


def k_trend_line(trend: KTrend | None, drifted: dict | None = None, rows=()) -> str:
    """One sentence on whether the law's one k exponent drifts with the loss, and where it
    does, the forecast of the law whose k exponent follows the loss (``drifted``: its law and
    the one-γ N*; ``rows``: the pooled forecast rows, then the drift law's)."""
    if trend is None:
        return ("k exponent check (t2.fitting.misfit): not possible here (fewer than 5 "
                "checkpoints with 3 or more k, or no k effect in the law).")
    head = (f"k exponent check (t2.fitting.misfit): each checkpoint's own γ against its loss, "
            f"t = {trend.t:+.1f}, γ changing by {trend.rel:.0%} of the law's across the data "
            f"({trend.num_checkpoints} checkpoints)")
    if not trend.flags():
        return head + f": below what it flags (|t| ≥ {T_MIN:g} and ≥ {REL_MIN:.0%})."
    return (head + ". **The k exponent drifts with the loss**: the law's one γ is that of the "
            "losses the runs reached, not of the forecast optimum's, so k* and N* can be far "
            "off (in simulation up to +330%: docs/selection.md). Runs that reach losses "
            "near the optimum's are what pins γ there." + _drift_sentence(drifted, rows))


def _drift_sentence(drifted: dict | None, rows) -> str:
    if not drifted:
        return (" No law whose k exponent follows the loss converged on these rows "
                "(t2.fitting.drift): the forecast stays the one-γ law's.")
    f, law = rows[0], drifted["law"]
    one = drifted.get("one_gamma_N")
    than = (f" (one γ, the per-task table's pooled Approach 1: {one[0]:.3g})" if one else "")
    return (f" A law whose k exponent follows the loss, γ·exp(κ·(L_ref − L)) with κ = "
            f"{law['kappa']:.2f} per nat (t2.fitting.drift), forecasts N* = {f['N']:.3g} "
            f"(interval {f['N_lo']:.3g}–{f['N_hi']:.3g}), D* = {f['D']:.3g}, k* = {f['k']:.3g} at "
            f"the first target{than}. It is the study's forecast: the pooled table above, "
            f"report.json's forecast, and every round's (t2 status, MLflow).")


def _markdown(cfg, state, rows, extra, ratios, pooled, q, per_task=(), validated=None,
              posttrained=None, trend: KTrend | None = None, drifted: dict | None = None) -> str:
    pct = f"{q:.0%}"
    lines = [f"# T² study `{cfg.name}`", "",
             (f"{state['num_runs']} runs, {state['num_checkpoints']} checkpoints, "
              f"{state['flops']:.3g} of {cfg.budget.train_flops:.3g} training FLOPs "
              f"(stopped: {state.get('reason', 'running')}). Parameters counted with "
              "embeddings; training FLOPs = 6·N·D, inference FLOPs = 2·N·k per token."
              + _repetition(state)), "",
             "## Forecast per task (T² Approach 1 and 2 vs the Chinchilla-optimal model)", "",
             ("Approach 1 fits −log pass@k = E + A/N^α + B/D^β + G/k^γ; Approach 2 a Beta law of "
              "per-problem accuracy driven by that task's loss at k = 1. The Chinchilla model "
              "is sized by the Chinchilla fit of the validation loss; its pass@k is what the "
              "same task's law predicts for it. Intervals: bootstrap over the study's "
              f"{state.get('bootstrap_unit', 'runs')} within each model size "
              f"({cfg.select.num_bootstrap} resamples)"
              + (", so a trunk's shared seed noise is not in them" if
                 state.get("bootstrap_unit") == "checkpoints" else "") + "."), ""]
    for t, target in enumerate(cfg.budget.targets):
        if t < len(per_task):
            lines += [*task_table(per_task[t], target, q), ""]
    if validated is not None:
        lines += ["## Validation: the forecast optimum trained beside the Chinchilla model", ""]
        if validated["skipped"]:
            lines += [f"Not run: {validated['skipped']}.", ""]
        else:
            lines += [f"{validated['flops']:.3g} training FLOPs (beside the study's budget).", "",
                      *validation_table(validated["rows"], budgets(cfg), q), ""]
    if posttrained is not None:
        lines += posttrain_lines(cfg, posttrained, q)
    what = ("the law whose k exponent follows the loss: see the k exponent check below"
            if drifted else "T²")
    lines += [f"## Pooled forecast ({what}, with {pct} bootstrap intervals, vs Chinchilla)", "",
             ("| C_train | C_inf | T² N* | T² D* | T² k* | T² tokens/param | T² pass@k | "
              "Chinchilla N | Chinchilla k | Chinchilla tokens/param | Chinchilla pass@k |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    flagged = False

    def iv(r, name, fmt=".3g"):
        nonlocal flagged
        lo, hi, v = r[f"{name}_lo"], r[f"{name}_hi"], r[name]
        if np.isnan(lo) or np.isnan(hi):  # the bootstrap could not refit: too few runs
            return f"{v:{fmt}} [no interval]"
        mark = "" if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9) else "†"
        flagged = flagged or bool(mark)
        return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]{mark}"

    for r in rows:
        lines.append(
            f"| {r['c_train']:.3g} | {r['c_inf']:.3g} | {iv(r, 'N')} | {iv(r, 'D')} | "
            f"{iv(r, 'k')} | {iv(r, 'tokens_per_param', '.0f')} | "
            f"{r['pass_at_k']:.3g} | {r['chin_N']:.3g} | {r['chin_k']:.3g} | "
            f"{r['chin_tokens_per_param']:.0f} | {r['chin_pass_at_k']:.3g} |")
    if flagged:
        lines += ["", ("† The bootstrap interval excludes the full-data fit: refits on resampled "
                       "runs land elsewhere, so this forecast is unstable (too few runs, or a "
                       "direction the design does not pin down). Add runs before relying on it.")]
    lines += ["", k_trend_line(trend, drifted, rows)]
    if pooled:
        lines += ["", (f"Deployment (C_total {pooled['c_total']:.3g}): N* {pooled['N']:.3g}, "
                       f"D* {pooled['D']:.3g}, k* {pooled['k']:.3g}, training share "
                       f"{pooled['train_fraction']:.1%}.")]
    lines += ["", "## Extrapolation check: two protocols, per task × approach", "",
              *extrapolation_table(extra)]
    lines += ["", f"## Optimal tokens/param as C_inf grows (C_train {ratios[0]['c_train']:.3g})",
              "", "| C_inf | N* | k* | tokens/param |", "|---|---|---|---|"]
    lines += [f"| {r['c_inf']:.3g} | {r['N']:.3g} | {r['k']:.3g} | {r['tokens_per_param']:.0f} |"
              for r in ratios]
    lines += ["", "![forecast](forecast.png) ![fit](fit.png) ![ratio](ratio_vs_cinf.png)", ""]
    return "\n".join(lines)


def write_report(cfg: StudyConfig, root: str | Path, *, quiet: bool = True,
                 true_law=None) -> Path:
    """Forecast, check and plot; returns the report directory."""
    paths = StudyPaths(root)
    out = paths.report
    study = ledger.open_ledger(cfg, paths.root)
    obs = ledger.observations(study)
    rounds = read_rounds(paths)
    q = cfg.select.interval
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    obs_arrays = fit_arrays(obs, "chinchilla")[0]
    try:
        kind, boot, laws, drift = final_fit(cfg, obs, rounds)
        if kind != "t2":
            raise ValueError("no task losses at two or more k: there is no T² law to forecast "
                             "with (eval.ks)")
        law = boot.law
        optimal_allocation(law, *targets[0])  # ValueError: no optimum (an exponent <= 0)
        fc = forecast(law, boot.laws, targets)
        chin = fit_chinchilla(obs_arrays["N"], obs_arrays["D"], obs_arrays["L"])
        rows = forecast_rows(cfg, law, fc, chin, q)
        per_task = per_task_rows(cfg, LawFit(POOLED, 1, boot, fc), laws, chin, q)
        ratios = ratio_vs_inference(cfg, law)
    except (FitError, ValueError) as err:  # too few or degenerate runs: say so, plot nothing
        return _write_unfitted(out, cfg, paths, study, obs, err, quiet)
    extra = extrapolation_rows(obs, cfg)
    t2_rows, units = fit_arrays(obs, "t2")
    trend = k_trend(law, **t2_rows, checkpoint=checkpoint_of_rows(obs))
    flagged = trend is not None and trend.flags()
    if flagged and drift is None:  # rounds recorded before the drift law existed
        drift = drift_bootstrap(t2_rows, units, law, cfg.select.num_bootstrap, cfg.select.seed,
                                None)
    drifted = None
    if flagged and drift is not None:  # the study's forecast is the drift law's, as its rounds'
        drifted = {"law": drift.law.to_dict(), "num_bootstrap": len(drift.laws),
                   "one_gamma_N": [r["N"] for r in rows]}
        rows = forecast_rows(cfg, drift.law, forecast(drift.law, drift.laws, targets), chin, q)
    dep = cfg.budget.deployment
    pooled = None
    if dep is not None:
        # the deployment answer from the law the study forecasts with (the drift law's if flagged)
        a = optimal_pooled(drift.law if drifted else law, dep.c_total, dep.tokens_per_sample,
                           dep.queries)
        pooled = {"c_total": dep.c_total, "N": a.N, "D": a.D, "k": a.k,
                  "train_fraction": a.train_fraction}
    state = {**paths.read_state(), "num_runs": len(ledger.completed(study)),
             "num_checkpoints": len(obs), "flops": ledger.flops_spent(study),
             "max_epochs": max((o.checkpoint.epochs for o in obs
                                if o.checkpoint.epochs is not None), default=None),
             "bootstrap_unit": resampling_units(obs)[1], "num_bootstrap": len(boot.laws)}
    validated = validation_rows(paths, [*laws, LawFit(POOLED, 1, boot, fc)], q)
    posttrained = posttrain_section(cfg, paths, [*laws, LawFit(POOLED, 1, boot, fc)], chin, q)
    plots = plot_all(out, obs, law, chin, ratios, rounds, cfg, true_law=true_law)
    plots += task_plots(out, cfg, obs, [*laws, LawFit(POOLED, 1, boot, fc)], chin, q)
    write_json(out / "report.json", {
        "t2_law": law.to_dict(), "chinchilla_law": chin.to_dict(),
        "t2_intervals": boot.intervals(q), "num_bootstrap": len(boot.laws), "forecast": rows,
        "per_task": per_task, "validation": validated, "posttrain": posttrained,
        "extrapolation": extra, "ratio_vs_c_inf": ratios, "deployment": pooled, "state": state,
        "k_trend": None if trend is None else trend.to_dict(), "k_drift": drifted,
        "forecast_law": "t2_kdrift" if drifted else "t2_loss",
        "true_law": true_law.to_dict() if true_law is not None else None})
    text = _markdown(cfg, state, rows, extra, ratios, pooled, q, per_task, validated,
                     posttrained, trend, drifted)
    atomic_write(out / "report.md", text)
    mark_done(out, {"num_runs": state["num_runs"]})
    _log_artifacts(cfg, paths, [out / "report.md", out / "report.json", *plots])
    if not quiet:
        print(text)
    return out


def _write_unfitted(out: Path, cfg, paths: StudyPaths, study, obs, err, quiet: bool) -> Path:
    text = (f"# T² study `{cfg.name}`\n\n{len(ledger.completed(study))} runs, {len(obs)} "
            f"checkpoints, {ledger.flops_spent(study):.3g} training FLOPs.\n\n"
            f"No forecast: the laws could not be fitted ({err}).\n")
    posttrained = posttrain_section(cfg, paths, [], None, cfg.select.interval)
    if posttrained is not None:  # what was measured still stands
        text += "\n" + "\n".join(posttrain_lines(cfg, posttrained, cfg.select.interval))
    write_json(out / "report.json", {"error": str(err), "num_checkpoints": len(obs),
                                     "posttrain": posttrained})
    atomic_write(out / "report.md", text)
    mark_done(out, {"error": str(err)})
    if not quiet:
        print(text)
    return out


def _log_artifacts(cfg: StudyConfig, paths: StudyPaths, files: list[Path]) -> None:
    state = paths.read_state()
    run_id = state.get("mlflow_run_id")
    if not cfg.tracking.enabled or run_id is None:
        return
    from t2.flows.tracking import StudyTracking

    tr = StudyTracking(cfg, paths.root, state.get("strategy", ""), run_id=run_id)
    for p in files:
        tr.log_artifact(p)
    tr.finish()


if __name__ == "__main__":
    paths = StudyPaths(sys.argv[1])
    write_report(load_study(paths.config), paths.root, quiet=False)
