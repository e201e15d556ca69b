"""``t2 fit`` and ``t2 forecast``: fit a scaling law to a results table; forecast optimal (N, D, k).

    t2 fit results.csv --law chinchilla --n-col N --d-col D --loss-col L --out fit.json
    t2 fit results.parquet --law t2 --k-col k --loss-col neg_log_pass --bootstrap 200
    t2 forecast fit.json --c-train 2.56e19 --c-inf 2e9
    t2 forecast fit.json --c-total 1e22 --tokens-per-sample 512 --queries 1e9

The fit JSON holds the law's parameters at top level (full precision), the fit diagnostics and,
with ``--bootstrap``, the resampled parameters, so ``forecast`` can put intervals on N*, D*, k*.
Both print a table and write JSON atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from t2.infra.config import ConfigError
from t2.infra.storage import atomic_write

LAWS = ("chinchilla", "t2")


def _add_fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="CSV or parquet table of results, one row per point")
    p.add_argument("--law", choices=LAWS, default="chinchilla", help="law to fit")
    p.add_argument("--n-col", default="N", help="column with parameter counts N")
    p.add_argument("--d-col", default="D", help="column with training tokens D")
    p.add_argument("--flops-col", default=None, help="use D = FLOPs / 6N from this column instead")
    p.add_argument("--k-col", default="k", help="column with samples per query k (--law t2)")
    p.add_argument("--loss-col", default="L", help="column with the loss (or -log pass@k)")
    p.add_argument("--group-col", default=None,
                   help="run/checkpoint id for the bootstrap (default: one group per (N, D))")
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
    if args.law == "t2":
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


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def run_fit(args) -> int:
    from t2.fitting import FitError, bootstrap_fit, fit_chinchilla, fit_t2_loss, save_law

    data = _read(args)
    fit_fn = fit_t2_loss if args.law == "t2" else fit_chinchilla
    arrays = {k: data[k] for k in (("N", "D", "k", "L") if args.law == "t2" else ("N", "D", "L"))}
    extra = {"source": str(args.results), "num_points": len(data["L"])}
    try:
        if args.bootstrap > 0:
            groups = data.get("group")
            if groups is None:
                groups = np.unique(np.column_stack([data["N"], data["D"]]), axis=0,
                                   return_inverse=True)[1].ravel()
            bs = bootstrap_fit(fit_fn, arrays, groups, num_samples=args.bootstrap,
                               seed=args.seed, workers=args.workers)
            law = bs.law
            extra["bootstrap"] = {"num_samples": args.bootstrap, "num_failed": bs.num_failed,
                                  "seed": args.seed, "intervals_95": bs.intervals(0.95),
                                  "samples": [lw.params for lw in bs.laws]}
        else:
            law = fit_fn(**arrays)
    except (ValueError, FitError) as err:
        raise ConfigError(f"{args.results}: {err}") from None
    extra["fit"] = law.info
    out = save_law(law, args.out, **extra)
    ci = extra.get("bootstrap", {}).get("intervals_95", {})
    rows = [[k, repr(v)] + ([f"[{ci[k][0]:.6g}, {ci[k][1]:.6g}]"] if ci else [])
            for k, v in law.params.items()]
    header = ["param", "value"] + (["95% CI"] if ci else [])
    _print_table(f"{args.law} law fitted to {extra['num_points']} points", header, rows)
    print(f"wrote {out}")
    return 0


def _add_forecast_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("fit", help="fit JSON written by `t2 fit` (or any law JSON)")
    p.add_argument("--c-train", type=float, help="training budget in FLOPs (6ND)")
    p.add_argument("--c-inf", type=float, help="inference FLOPs per generated token per query (2Nk)")
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


COMMANDS = {
    "fit": ("Fit a Chinchilla or T² scaling law to a results table (CSV/parquet).",
            _add_fit_args, run_fit),
    "forecast": ("Forecast compute-optimal (N, D, k) from a saved fit.",
                 _add_forecast_args, run_forecast),
}
