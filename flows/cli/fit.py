"""``t2 fit`` and ``t2 forecast``: fit a scaling law to a results table; forecast optimal (N, D, k).

    t2 fit results.csv --law chinchilla --n-col N --d-col D --loss-col L --out fit.json
    t2 fit results.parquet --law t2 --k-col k --loss-col neg_log_pass --bootstrap 200
    t2 fit results.parquet --law t2-kdrift --k-col k --loss-col neg_log_pass --bootstrap 200
    t2 fit problems.csv --law beta --samples-col n --correct-col c --bootstrap 64
    t2 fit problems.csv --law beta --p-col p --loss-law t2_fit.json --out beta.json
    t2 forecast fit.json --c-train 2.56e19 --c-inf 2e9
    t2 forecast fit.json --c-total 1e22 --tokens-per-sample 512 --queries 1e9

``--law t2`` also runs the k-trend check (``t2.fitting.misfit.k_trend``: does each checkpoint's
own k curve say the k exponent moves with the loss?) on the fitted law, prints it and keeps it in
the fit JSON (``k_trend``); where it flags, ``--law t2-kdrift`` fits the law whose k exponent
follows the loss (``t2.fitting.drift``), which is what a study forecasts with then.

``--law beta`` (T² Approach 2, Roberts et al. 2026, arXiv 2604.01411) reads a per-problem table,
one row per (checkpoint, problem): N, D, a problem id and either sampled counts (n, c:
beta-binomial) or a success probability p (Beta on p clipped to [--p-clip, 1 - --p-clip], a
clipped p censored unless ``--p-clip-mode density``);
``--likelihood auto`` picks counts when both count columns exist. Its loss surface L(N, D) is
fitted to the checkpoints' mean -log p_hat (``t2.fitting.beta.checkpoint_loss``) unless
``--loss-law`` names a fit JSON (a T² loss law is taken at k = 1). ``--bootstrap`` resamples runs
(``--group-col``, default one per checkpoint) within each model size (``--stratify size``, as a
study's rounds do; ``none``: across sizes) and refits the loss surface and theta per resample.

The fit JSON holds the law's parameters at top level (full precision), the fit diagnostics and,
with ``--bootstrap``, the resampled laws, so ``forecast`` can put intervals on N*, D*, k*.
Both print a table and write JSON atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from t2.infra.config import ConfigError
from t2.infra.storage import atomic_write

LAWS = ("chinchilla", "t2", "t2-kdrift", "beta")
K_LAWS = ("t2", "t2-kdrift")  # the laws of (N, D, k) rows
LIKELIHOODS = ("auto", "beta-binomial", "beta")


def _add_fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="CSV or parquet table of results, one row per point")
    p.add_argument("--law", choices=LAWS, default="chinchilla", help="law to fit")
    p.add_argument("--n-col", default="N", help="column with parameter counts N")
    p.add_argument("--d-col", default="D", help="column with training tokens D")
    p.add_argument("--flops-col", default=None, help="use D = FLOPs / 6N from this column instead")
    p.add_argument("--k-col", default="k",
                   help="column with samples per query k (--law t2, t2-kdrift)")
    p.add_argument("--loss-col", default="L", help="column with the loss (or -log pass@k)")
    p.add_argument("--problem-col", default="problem", help="problem id column (--law beta)")
    p.add_argument("--samples-col", default=None,
                   help="samples drawn per problem (--law beta; default n)")
    p.add_argument("--correct-col", default=None,
                   help="correct samples per problem (--law beta; default c)")
    p.add_argument("--p-col", default=None,
                   help="per-problem success probability (--law beta; default p)")
    p.add_argument("--likelihood", choices=LIKELIHOODS, default="auto",
                   help="--law beta: beta-binomial on counts or beta on p; auto: the columns "
                        "named by the flags, else n and c if present, else p")
    p.add_argument("--p-clip", type=float, default=1e-6, help="--law beta: clip p to [x, 1-x]")
    p.add_argument("--p-clip-mode", choices=("censor", "density"), default="censor",
                   help="--law beta: a clipped p counts as P(p <= x) (censor) or as the density "
                        "at x (the paper's clipped p)")
    p.add_argument("--loss-law", default=None,
                   help="--law beta: fit JSON of the loss surface (default: fitted to the table)")
    p.add_argument("--group-col", default=None,
                   help="run/checkpoint id for the bootstrap (default: one group per (N, D))")
    p.add_argument("--stratify", choices=("size", "none"), default="size",
                   help="bootstrap: resample groups within each N (every resample keeps every "
                        "size, as a study does) or across all")
    p.add_argument("--drop-highest-loss", type=int, default=0,
                   help="drop this many highest-loss rows (Epoch AI drop 5 on Chinchilla's data)")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples (0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--workers", type=int, default=None, help="bootstrap processes (default auto)")
    p.add_argument("--out", default="fit.json", help="where to write the fit JSON")


def _read(args) -> dict[str, np.ndarray]:
    from t2.fitting.table import read_results

    cols = {"N": args.n_col, "L": args.loss_col}
    cols["C" if args.flops_col else "D"] = args.flops_col or args.d_col
    if args.law in K_LAWS:
        cols["k"] = args.k_col
    if args.group_col:
        cols["group"] = args.group_col
    try:
        data = read_results(args.results, cols)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if args.flops_col:
        data["D"] = data.pop("C") / (6 * data["N"])
    if args.drop_highest_loss:
        keep = np.argsort(data["L"], kind="stable")[: len(data["L"]) - args.drop_highest_loss]
        data = {k: v[keep] for k, v in data.items()}
    return data


def _likelihood(args, have: list[str]) -> str:
    counts = args.samples_col is not None or args.correct_col is not None
    if args.likelihood != "auto":
        return args.likelihood
    if counts and args.p_col is not None:
        raise ConfigError("give count columns (--samples-col/--correct-col) or --p-col, not both "
                          "(or choose with --likelihood)")
    if counts or (args.p_col is None and {"n", "c"} <= set(have)):
        return "beta-binomial"
    if args.p_col is not None or "p" in have:
        return "beta"
    raise ValueError(f"{args.results}: no columns 'n' and 'c' (sampled counts) or 'p' "
                     f"(probability); name them with --samples-col/--correct-col or --p-col "
                     f"(have: {', '.join(have)})")


def _read_problems(args) -> tuple[dict[str, np.ndarray], str]:
    """The per-problem table of ``--law beta`` and the likelihood it is fitted with."""
    from t2.fitting.table import read_problem_rows, table_columns

    if args.drop_highest_loss:
        raise ConfigError("--drop-highest-loss applies to loss tables (--law chinchilla or t2)")
    if not 0 < args.p_clip < 0.5:
        raise ConfigError(f"--p-clip: must lie in (0, 0.5), got {args.p_clip!r}")
    cols = {"N": args.n_col, ("C" if args.flops_col else "D"): args.flops_col or args.d_col}
    text = {"problem": args.problem_col}
    if args.group_col:
        text["group"] = args.group_col
    try:
        kind = _likelihood(args, table_columns(args.results))
        cols.update({"n": args.samples_col or "n", "c": args.correct_col or "c"}
                    if kind == "beta-binomial" else {"p": args.p_col or "p"})
        data = read_problem_rows(args.results, cols, text)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if args.flops_col:
        data["D"] = data.pop("C") / (6 * data["N"])
    return data, kind


def _loss_law(args):
    from t2.fitting import ChinchillaLaw, T2LossLaw, load_law

    if args.loss_law is None:
        return None
    try:
        law = load_law(args.loss_law)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(law, (ChinchillaLaw, T2LossLaw)):
        raise ConfigError(f"{args.loss_law}: --loss-law needs a Chinchilla or T² loss law, "
                          f"not a {law.kind!r} law")
    return law


def _fit_beta(args) -> tuple[object, dict]:
    """``--law beta``: the Beta law (and its bootstrap) and the fit JSON's extra keys."""
    from t2.fitting import bootstrap_t2_beta, fit_t2_beta_rows
    from t2.fitting.beta import checkpoint_loss

    data, kind = _read_problems(args)
    loss = _loss_law(args)
    censor = args.p_clip_mode == "censor"
    arrays = {k: data[k] for k in ("N", "D", "n", "c", "p") if k in data}
    extra = {"source": str(args.results), "num_points": len(data["N"]), "likelihood": kind,
             "num_checkpoints": len(np.unique(np.column_stack([data["N"], data["D"]]), axis=0)),
             "loss_law_source": args.loss_law or "table: checkpoint mean -log p_hat"}
    if loss is None:
        extra["checkpoint_loss"] = {k: v.tolist() for k, v in
                                    checkpoint_loss(**arrays, eps=args.p_clip).items()}
    if args.bootstrap > 0:
        bs = bootstrap_t2_beta(arrays, data.get("group"), num_samples=args.bootstrap,
                               seed=args.seed, loss_law=loss, eps=args.p_clip, censor=censor,
                               strata=arrays["N"] if args.stratify == "size" else None)
        extra["bootstrap"] = {
            "num_samples": args.bootstrap, "num_failed": bs.num_failed, "seed": args.seed,
            "intervals_95": bs.intervals(0.95), "samples": [lw.to_dict() for lw in bs.laws]}
        if loss is None:  # a given loss law is held fixed: no interval
            extra["bootstrap"]["loss_law_intervals_95"] = {
                k: [float(x) for x in np.percentile([lw.loss_law.params[k] for lw in bs.laws],
                                                    [2.5, 97.5])]
                for k in bs.law.loss_law.params}
        return bs.law, extra
    return fit_t2_beta_rows(**arrays, loss_law=loss, eps=args.p_clip, censor=censor), extra


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _checkpoints(data: dict[str, np.ndarray]) -> np.ndarray:
    """One id per checkpoint: a row's (N, D), within its run where ``--group-col`` names one."""
    keys = [data["N"], data["D"]] + ([np.unique(data["group"], return_inverse=True)[1]]
                                     if "group" in data else [])
    return np.unique(np.column_stack(keys), axis=0, return_inverse=True)[1].ravel()


def _k_trend(one_gamma, data: dict[str, np.ndarray]) -> dict | None:
    """The k-trend check on the one-γ law (``t2.fitting.misfit.k_trend``), as a dict."""
    from t2.fitting.misfit import k_trend

    trend = k_trend(one_gamma, data["N"], data["D"], data["k"], data["L"], _checkpoints(data))
    return None if trend is None else trend.to_dict()


def _trend_line(trend: dict | None, law: str) -> str:
    if trend is None:
        return ("k-trend check: not enough checkpoints with three or more k (or no k effect) "
                "to tell whether the k exponent moves with the loss")
    what = (f"k-trend check: the k exponent changes by {trend['rel']:.0%} across the data "
            f"(t = {trend['t']:.1f}, {trend['num_checkpoints']} checkpoints)")
    if not trend["flags"]:
        return what + ": one γ fits the k curves"
    return what + (": one γ does not fit them; this law's k exponent follows the loss"
                   if law == "t2-kdrift" else
                   ": one γ does not fit them, and the forecast takes the wrong one; "
                   "refit with --law t2-kdrift")


def _fit_loss(args) -> tuple[object, dict]:
    """``--law chinchilla``, ``t2`` or ``t2-kdrift``: the law (and its bootstrap) and the fit
    JSON's extra keys."""
    from t2.fitting import bootstrap_fit, fit_chinchilla, fit_t2_loss
    from t2.fitting.drift import fit_drift_rows, fit_t2_drift

    data = _read(args)
    arrays = {k: data[k] for k in (("N", "D", "k", "L") if args.law in K_LAWS else ("N", "D", "L"))}
    extra: dict = {"source": str(args.results), "num_points": len(data["L"])}
    fit_fn = {"chinchilla": fit_chinchilla, "t2": fit_t2_loss,
              "t2-kdrift": fit_drift_rows}[args.law]
    law = None
    if args.law in K_LAWS:
        one_gamma = fit_t2_loss(**arrays)
        extra["k_trend"] = _k_trend(one_gamma, data)
        law = one_gamma
        if args.law == "t2-kdrift":
            law = fit_t2_drift(**arrays, init=one_gamma)
            extra["one_gamma"] = one_gamma.params
    if args.bootstrap > 0:
        groups = data["group"] if "group" in data else _checkpoints(data)
        bs = bootstrap_fit(fit_fn, arrays, groups, num_samples=args.bootstrap,
                           seed=args.seed, workers=args.workers, law=law,
                           strata=arrays["N"] if args.stratify == "size" else None)
        extra["bootstrap"] = {"num_samples": args.bootstrap, "num_failed": bs.num_failed,
                              "seed": args.seed, "intervals_95": bs.intervals(0.95),
                              "samples": [lw.params for lw in bs.laws]}
        extra["bootstrap"]["intervals_95"].pop("L_ref", None)  # fixed, not fitted
        return bs.law, extra
    return (fit_fn(**arrays) if law is None else law), extra


def _param_rows(law, boot: dict) -> list[list[str]]:
    ci, loss_ci = boot.get("intervals_95", {}), boot.get("loss_law_intervals_95", {})
    def row(name, value, iv):
        cell = "held fixed" if iv is None else f"[{iv[0]:.6g}, {iv[1]:.6g}]"
        return [name, repr(value)] + ([cell] if ci else [])

    rows = [row(k, v, ci.get(k)) for k, v in law.params.items()]
    if getattr(law, "loss_law", None) is not None:  # the Beta law's loss surface
        rows += [row(f"loss {k}", v, loss_ci.get(k)) for k, v in law.loss_law.params.items()]
    return rows


def run_fit(args) -> int:
    from t2.fitting import FitError, save_law

    try:
        law, extra = _fit_beta(args) if args.law == "beta" else _fit_loss(args)
    except ConfigError:
        raise
    except (ValueError, FitError) as err:
        raise ConfigError(f"{args.results}: {err}") from None
    extra["fit"] = law.info
    if args.law == "beta" and extra["loss_law_source"].startswith("table"):
        extra["loss_law_fit"] = law.loss_law.info
    out = save_law(law, args.out, **extra)
    boot = extra.get("bootstrap", {})
    header = ["param", "value"] + (["95% CI"] if boot else [])
    what = f"{extra['num_points']} points"
    if args.law == "beta":
        what = (f"{extra['num_points']} problem rows of {extra['num_checkpoints']} checkpoints "
                f"({extra['likelihood']})")
    _print_table(f"{args.law} law fitted to {what}", header, _param_rows(law, boot))
    if args.law in K_LAWS:
        print(_trend_line(extra["k_trend"], args.law))
    print(f"wrote {out}")
    return 0


def _add_forecast_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("fit", help="fit JSON written by `t2 fit` (or any law JSON)")
    p.add_argument("--c-train", type=float, help="training budget in FLOPs (6ND)")
    p.add_argument("--c-inf", type=float,
                   help="inference FLOPs per generated token per query (2Nk)")
    p.add_argument("--c-total", type=float, help="whole bill 6ND + 2NkTQ in FLOPs (pooled form)")
    p.add_argument("--tokens-per-sample", type=float, help="T: tokens per sample (pooled form)")
    p.add_argument("--queries", type=float, help="Q: lifetime queries (pooled form)")
    p.add_argument("--ci", type=float, default=0.95, help="bootstrap interval coverage")
    p.add_argument("--out", default=None, help="forecast JSON (default: FIT.forecast.json)")


def _forecast_fn(args):
    from t2.fitting import optimal_allocation, optimal_pooled

    separate = args.c_train is not None or args.c_inf is not None
    pooled = any(v is not None for v in (args.c_total, args.tokens_per_sample, args.queries))
    if separate == pooled:
        raise ConfigError("give either --c-train and --c-inf, or --c-total with "
                          "--tokens-per-sample and --queries")
    if separate:
        if args.c_train is None or args.c_inf is None:
            raise ConfigError("--c-train and --c-inf must be given together")
        return lambda law: optimal_allocation(law, args.c_train, args.c_inf)
    if None in (args.c_total, args.tokens_per_sample, args.queries):
        raise ConfigError("--c-total needs --tokens-per-sample and --queries")
    return lambda law: optimal_pooled(law, args.c_total, args.tokens_per_sample, args.queries)


FIELDS = ("N", "D", "k", "k_int", "tokens_per_param", "loss", "pass_at_k", "c_train", "c_inf",
          "train_fraction")


def run_forecast(args) -> int:
    from t2.fitting.forecast import allocation_intervals
    from t2.fitting.laws import law_from_dict

    fn = _forecast_fn(args)
    path = Path(args.fit)
    try:
        data = json.loads(path.read_text())
        law = law_from_dict(data)
        alloc = fn(law)
        samples = data.get("bootstrap", {}).get("samples", [])
        kind = {"law": data.get("law", law.kind)}
        allocs = [fn(law_from_dict({**s, **kind})) for s in samples]
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such fit file") from None
    except (ValueError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    intervals = allocation_intervals(allocs, FIELDS, args.ci)
    result = {"law": law.to_dict(), "t2": alloc.to_dict(),
              "intervals": {k: list(v) for k, v in intervals.items()}}
    rows = []
    for name in FIELDS:
        val = getattr(alloc, name)
        if val is None:
            continue
        chin = getattr(alloc.chinchilla, name) if alloc.chinchilla is not None else None
        lo, hi = intervals.get(name, (float("nan"), float("nan")))
        cell = [f"[{lo:.4g}, {hi:.4g}]"] if allocs else []
        rows.append([name, f"{val:.6g}", *cell] + ([] if chin is None else [f"{chin:.6g}"]))
    header = ["quantity", law.kind] + ([f"{args.ci:.0%} CI"] if allocs else [])
    if alloc.chinchilla is not None:
        result["chinchilla"] = alloc.chinchilla.to_dict()
        header.append("chinchilla sizing")
    _print_table(f"compute-optimal allocation ({path.name})", header, rows)
    out = Path(args.out) if args.out else path.with_suffix(".forecast.json")
    atomic_write(out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


FIT_HELP = ("Fit a Chinchilla or T² loss law (--law t2-kdrift: its k exponent following the "
            "loss) to a results table, or the T² Beta law (--law beta) to a per-problem table "
            "(CSV/parquet).")
COMMANDS = {
    "fit": (FIT_HELP, _add_fit_args, run_fit),
    "forecast": ("Forecast compute-optimal (N, D, k) from a saved fit.",
                 _add_forecast_args, run_forecast),
}
