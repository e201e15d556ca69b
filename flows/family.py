"""Simulated studies over a family of true laws: training FLOPs until the forecast settles.

    from t2.flows.family import run_family, summarize
    results = run_family("examples/cluster.yaml", laws, strategies=("active", "grid"), seeds=3,
                         replicates=16)
    summary = summarize(results)  # per-law medians, grid/active ratios, worst law
    design = summarize(results, key="reliable")   # the design figure

Used by ``t2 simulate STUDY --laws M`` (design a study before spending) and
``benchmarks/active_selection.py``. Each (law, seed, strategy) is the real study loop
(``t2.flows.driver``) with training replaced by draws from the law
(``t2.flows.executors.simulated``), run in its own temporary root, ``jobs`` of them at once in
processes. A study "needs" the training FLOPs spent at the first round from which every later
forecast N* stays within ``tol`` of the truth at every target (inf if it never settles); a law's
figure is the median over seeds, and its ratio grid/active (> 1: active needs fewer FLOPs; a
tie when neither settles).

That path figure rests on the one noise draw each study saw, and where the forecast's spread is
near the tolerance the round of its last excursion is luck: on one law of the development
family (law-seed 1, law 7) the grid "settled" at its opening, where refits of the same design
on fresh noise miss by more than 10% 96% of the time. With ``replicates`` the design figure is
computed too (``reliable_settle``): the study's design at each spend of a doubling ladder is
refitted on that many fresh noise draws, and it has settled from the spend at which at least
``RELIABLE_SHARE`` of the refits are within ``tol``, at every later spend.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Overrides every simulated study of a family gets: no MLflow, spend the budget (no width stop)
# so "settles for good" is judged over the whole study; the ledger in memory (each study lives
# in a temporary root and never resumes: the same trials, no journal fsync per write).
BASE_OVERRIDES = ("select.stop_width=0", "tracking.enabled=false", "select.storage=memory")
# The grid never reads the bootstrap ensemble (its runs are fixed) and settling reads only the
# point forecast, so its studies refit 4 replicates instead of the study's: the same figure,
# faster (tests/flows/test_family.py holds them equal).
GRID_OVERRIDES = ("select.num_bootstrap=4",)
# A design has settled when at least this share of its refits on fresh noise is in tolerance.
RELIABLE_SHARE = 0.9


def flops_to_settle(rounds, tol: float, ladder: bool = False) -> float:
    """FLOPs at the first round after which |N* error| <= tol at every target, for good.

    ``ladder``: judge only the rounds of ``spend_ladder`` (spends at least doubling, as the
    grid's levels do). A strategy that forecasts after every run is looked at ~10x as often as
    the grid over the same spend, so has ~10x the chances of an excursion; on the ladder both
    are looked at equally often."""
    fitted = [r for r in rounds if r.N_error is not None]
    if ladder:
        keep = set(spend_ladder(rounds))
        fitted = [r for r in fitted if r.flops in keep]
    settled = math.inf
    for rec in reversed(fitted):
        if max(abs(e) for e in rec.N_error) > tol:
            break
        settled = rec.flops
    return settled


def spend_ladder(rounds, step: float = 2.0) -> list[float]:
    """The spends of the fitted rounds, thinned from the last down so that consecutive ones
    differ by at least ``step`` (the grid's levels double: both strategies are judged on
    equally coarse ladders)."""
    spends = sorted({r.flops for r in rounds if r.N_error is not None}, reverse=True)
    ladder: list[float] = []
    for f in spends:
        if not ladder or f * step <= ladder[-1] * (1 + 1e-9):
            ladder.append(f)
    return ladder[::-1]


def design_at(study, flops: float) -> list[tuple]:
    """(trial, trunk, N, D) of every checkpoint of the finished runs, in the order they ran,
    while their training FLOPs add up to at most ``flops`` (a round's spend)."""
    from optuna.trial import TrialState
    from t2.flows.select import trunks

    root = trunks(study)
    done = sorted((t for t in study.get_trials(deepcopy=False)
                   if t.state == TrialState.COMPLETE and "N" in t.user_attrs),
                  key=lambda t: t.number)
    out, spent = [], 0.0
    for t in done:
        spent += t.user_attrs["flops"]
        if spent > flops * (1 + 1e-9):
            break
        out += [(t.number, root.get(t.number, t.number), float(t.user_attrs["N"]), float(D))
                for D in t.user_attrs["Ds"]]
    return out


def reliable_settle(study, rounds, executor, truth, targets, *, replicates: int, tol: float,
                    seed: int = 0, share: float = RELIABLE_SHARE) -> float:
    """FLOPs from which the study's design, refitted on ``replicates`` fresh noise draws
    (``executor.redraw``), forecasts N* within ``tol`` at every target in at least ``share``
    of them, at every later spend of its ladder (``spend_ladder``); inf if not even at the end.

    The path figure (``flops_to_settle``) rests on the one noise draw the study saw: with the
    forecast's spread near the tolerance, when its last excursion happens is luck. This judges
    the design, the selector's part, by its forecast's distribution instead.
    """
    from t2.fitting.laws import law_from_dict
    from t2.flows.rounds import point_forecast

    allowed = math.floor((1.0 - share) * replicates + 1e-9)
    law_at = {r.flops: r.law for r in rounds if r.N_error is not None}
    settled = math.inf
    for j, flops in reversed(list(enumerate(spend_ladder(rounds)))):
        design, fails = design_at(study, flops), 0
        start = law_from_dict(law_at[flops])  # each refit starts where the study's round did
        for r in range(replicates):
            obs = executor.redraw(design, np.random.default_rng([seed, j, r]))
            point = point_forecast(obs, targets, start)
            err = math.inf if point is None else float(np.max(np.abs(np.expm1(
                point[:, 0] - truth[:, 0]))))
            fails += not err <= tol
            if fails > allowed:
                return settled
        settled = flops
    return settled


@dataclass(frozen=True)
class Task:
    """One simulated study of a family."""

    law_index: int
    strategy: str
    seed: int
    study: str
    noise: float
    noise_mode: str
    tol: float
    overrides: tuple[str, ...] = ()
    replay: str | None = None        # a results table: replay it instead of drawing from a law
    replay_loss: str | None = None
    fast_grid: bool = True           # GRID_OVERRIDES for grid studies
    replicates: int = 0              # > 0: also judge the design on this many noise draws


def simulate(task: Task, law, root: Path) -> dict:
    """Run one simulated study; its settle FLOPs, spend, final N* errors and wall time."""
    from t2.flows.config import load_study
    from t2.flows.driver import Driver, true_optima
    from t2.flows.executors.simulated import SimulatedExecutor

    extra = GRID_OVERRIDES if task.strategy == "grid" and task.fast_grid else ()
    cfg = load_study(task.study, [*BASE_OVERRIDES, f"select.seed={task.seed}",
                                  f"select.strategy={task.strategy}",
                                  f"select.noise_per={task.noise_mode}", *task.overrides, *extra])
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    if task.replay is not None:
        from t2.flows.executors.replay import (
            ReplayExecutor,
            load_table,
            replay_config,
            table_truth,
        )

        table = load_table(task.replay, task.replay_loss)
        cfg, ex, truth = replay_config(cfg, table), ReplayExecutor(table), table_truth(table,
                                                                                       targets)
    else:
        ex = SimulatedExecutor(law, cfg.eval.ks, noise=task.noise, seed=task.seed,
                               noise_mode=task.noise_mode)
        truth = true_optima(law, targets)
    t0 = time.perf_counter()
    driver = Driver(cfg, root, ex, strategy=task.strategy, truth=truth, log=lambda *a: None)
    result = driver.run()
    out = {"settle": flops_to_settle(result.rounds, task.tol),
           "settle_ladder": flops_to_settle(result.rounds, task.tol, ladder=True),
           "flops": result.flops,
           "reason": result.reason, "final_error": result.rounds[-1].N_error,
           # rounds whose forecast was the drift law's (the k-exponent check flagged)
           "drift_rounds": sum(1 for r in result.rounds if r.drift),
           "drift_last": bool(result.rounds[-1].drift)}
    if task.replicates and task.replay is None:
        out["reliable"] = reliable_settle(driver.study, result.rounds, ex, truth, targets,
                                          replicates=task.replicates, tol=task.tol,
                                          seed=task.seed)
    return {**out, "seconds": time.perf_counter() - t0}


def _run_task(task: Task, law) -> tuple[Task, dict]:
    with tempfile.TemporaryDirectory(prefix="t2-family-") as tmp:
        return task, simulate(task, law, Path(tmp) / "study")


def run_family(study: str | Path, laws: list, *, strategies=("active", "grid"), seeds: int = 3,
               first_seed: int = 0, noise: float = 0.01, noise_mode: str = "run",
               tol: float = 0.10, overrides: tuple[str, ...] = (), jobs: int = 1,
               replay: str | None = None, replay_loss: str | None = None,
               replicates: int = 0, law_indices=None,
               log=print) -> dict[tuple[int, str], list[dict]]:
    """{(law index, strategy): [result per seed]} for every law (or those of ``law_indices``:
    a long family run in pieces), strategy and seed (with ``replay``, ``laws`` is ``[None]``:
    the table is the one "law")."""
    indices = range(len(laws)) if law_indices is None else sorted(law_indices)
    tasks = [Task(i, s, seed, str(study), noise, noise_mode, tol, tuple(overrides), replay,
                  replay_loss, replicates=replicates)
             for i in indices for seed in range(first_seed, first_seed + seeds)
             for s in strategies]
    out: dict[tuple[int, str], list[dict]] = {(i, s): [] for i in indices for s in strategies}

    def record(task, res):
        out[(task.law_index, task.strategy)].append({"seed": task.seed, **res})
        reliable = f", reliably at {res['reliable']:.3g}" if "reliable" in res else ""
        last = ", the last" if res.get("drift_last") else ""
        log(f"law {task.law_index:>3} seed {task.seed} {task.strategy:>6}: settles at "
            f"{res['settle']:.3g}{reliable} FLOPs (spent {res['flops']:.3g}, stopped by "
            f"{res['reason']}, {res['seconds']:.0f} s; on the ladder at "
            f"{res['settle_ladder']:.3g}; last N* error {_pct(final_error(res))}; drift law "
            f"in {res.get('drift_rounds', 0)} rounds{last})")

    if jobs <= 1:
        for t in tasks:
            record(*_run_task(t, laws[t.law_index]))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_run_task, t, laws[t.law_index]) for t in tasks]
            for fut in futures:
                record(*fut.result())
    for rows in out.values():
        rows.sort(key=lambda r: r["seed"])
    return out


def ratio(grid: float, active: float) -> float:
    """grid/active FLOPs to settle; 1 when neither settles, 0 or inf when only one does."""
    if math.isinf(grid) and math.isinf(active):
        return 1.0
    if math.isinf(active):
        return 0.0
    return math.inf if math.isinf(grid) else grid / active


def summarize(results: dict, a: str = "active", b: str = "grid", key: str = "settle") -> dict:
    """Per-law medians over seeds and ratios b/a, their median, the share of laws on which
    ``a`` needs no more FLOPs than ``b``, and the worst law (smallest ratio), over the laws in
    ``results``. ``key``: ``"settle"`` (the study's own path), ``"settle_ladder"`` (that path
    judged on the doubling ladder) or ``"reliable"`` (its design over noise draws).
    ``median_ratio_low`` is the median of per-law lower bounds: a study of ``b`` that never
    settled is counted at its whole spend (``flops``), the least it would have needed."""
    rows = []
    for i in sorted({i for i, _ in results}):
        ma = float(np.median([r[key] for r in results[(i, a)]]))
        mb = float(np.median([r[key] for r in results[(i, b)]]))
        # A study of b that never settles needed more than it spent: counted at its spend, the
        # ratio is a lower bound that stays finite (a median of inf rests on where "never" falls).
        mb_low = float(np.median([r[key] if math.isfinite(r[key]) else r.get("flops", r[key])
                                  for r in results[(i, b)]]))
        rows.append({"law": i, a: ma, b: mb, "ratio": ratio(mb, ma),
                     "ratio_low": ratio(mb_low, ma) if math.isfinite(ma) else ratio(mb, ma)})
    ratios = np.array([r["ratio"] for r in rows])
    worst = min(rows, key=lambda r: r["ratio"])
    return {"rows": rows, "median_ratio": float(np.median(ratios)),
            "median_ratio_low": float(np.median([r["ratio_low"] for r in rows])),
            "share_no_worse": float(np.mean([r[a] <= r[b] for r in rows])),
            "worst": worst}


def _num(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:.3g}"


def _pct(x: float) -> str:
    return "none" if math.isinf(x) else f"{x:.1%}"


def format_replay(results: dict, strategies=("active", "grid")) -> list[str]:
    """Per strategy the median FLOPs to settle over seeds (and each seed's), for the path and,
    where the studies ran with replicates, the design; then grid/active of the last."""
    lines, med = [], {}
    rows = [r for s in strategies for r in results.get((0, s), [])]
    keys = ["settle"] + (["reliable"] if rows and all("reliable" in r for r in rows) else [])
    for key in keys:
        if len(keys) > 1:
            lines.append("path (the study's own noise draw):" if key == "settle" else
                         "design (refitted on fresh noise):")
        med = {s: float(np.median([r[key] for r in results[(0, s)]])) for s in strategies
               if (0, s) in results}
        lines += [f"  {s:>6}: median {_num(m)}  (per seed: "
                  f"{', '.join(_num(r[key]) for r in results[(0, s)])})"
                  for s, m in med.items()]
    if "grid" in med and "active" in med:  # the last figure's ratio
        lines.append(f"ratio={ratio(med['grid'], med['active']):.2f}")
    return lines


def format_family(results: dict, laws: list, targets, a: str = "active",
                  b: str = "grid") -> list[str]:
    """The per-law rows and summary lines ``t2 simulate --laws`` and the benchmark print: the
    path figure (``flops_to_settle``) and, where the studies ran with replicates, the design's
    (``reliable_settle``); each row ends with the median |N* error| of each strategy's last
    forecast."""
    from t2.flows.executors.prior import describe

    rows = [r for rs in results.values() for r in rs]
    keys = ["settle"] + [k for k in ("settle_ladder", "reliable") if all(k in r for r in rows)]
    summaries = {key: summarize(results, a, b, key) for key in keys}
    names = {"settle": "path", "settle_ladder": "ladder", "reliable": "design"}
    head = f"{'law':>4} {'form':>11} {'N*':>9} {'D*/N*':>7} {'k*':>6}"
    for key in keys:
        head += f" {names[key] + ' ' + a:>13} {b:>9} {b + '/' + a:>10}"
    head += f" {'last ' + a:>11} {b:>6}"
    lines = [head]
    for j, i in enumerate(r["law"] for r in summaries["settle"]["rows"]):
        d = describe(laws[i], targets)
        line = (f"{i:>4} {d['form']:>11} {d['N*']:>9.3g} {d['D*/N*']:>7.0f} "
                f"{d['k*']:>6.1f}")
        for key in keys:
            r = summaries[key]["rows"][j]
            line += f" {_num(r[a]):>13} {_num(r[b]):>9} {r['ratio']:>10.2f}"
        # the median |N* error| of the last forecast: where neither settles (a law the fitted
        # form cannot represent) it says which ends nearer the truth, law by law
        last = [float(np.median([final_error(x) for x in results[(i, s)]])) for s in (a, b)]
        lines.append(line + f" {_pct(last[0]):>11} {_pct(last[1]):>6}")
    for key in keys:
        sm, w = summaries[key], summaries[key]["worst"]
        what = {"settle": "path (the study's own noise draw)",
                "settle_ladder": "path judged on the doubling ladder (as often for both)",
                "reliable": f"design (refitted on fresh noise; settled: {RELIABLE_SHARE:.0%} of "
                            "refits in tolerance)"}[key]
        lines += [f"{what}:",
                  (f"  median per-law {b}/{a} FLOPs ratio: {sm['median_ratio']:.2f} "
                   f"over {len(sm['rows'])} laws"),
                  f"  laws on which {a} needs no more FLOPs than {b}: {sm['share_no_worse']:.0%}",
                  *([(f"  counting {b} that never settles at its whole spend: median ratio "
                      f">= {sm['median_ratio_low']:.2f}")]
                    if sm["median_ratio_low"] != sm["median_ratio"] else []),
                  (f"  worst law: {w['law']} ({a} {_num(w[a])}, {b} {_num(w[b])}, "
                   f"ratio {w['ratio']:.2f})")]
    return lines + [stops_line(results, (a, b))]


def final_error(res: dict) -> float:
    """The largest |N* error| over targets of a study's last forecast (inf: no forecast)."""
    errors = res.get("final_error")
    return max(abs(e) for e in errors) if errors else math.inf


def stops_line(results: dict, strategies) -> str:
    """Why each strategy's studies stopped, their median spend, and the median |N* error| of
    their last forecast: a study that stops at the round cap, well short of the budget, is
    judged "for good" over a shorter horizon; where neither settles (a law the fitted form
    cannot represent), the last error says which strategy ends nearer the truth; and in how
    many the last forecast was the drift law's (``t2.fitting.drift``: the k-exponent check
    flagged)."""
    parts = []
    for s in strategies:
        rows = [r for (_, name), rs in results.items() if name == s for r in rs]
        reasons = Counter(r["reason"] for r in rows)
        final = float(np.median([final_error(r) for r in rows]))
        drift = sum(bool(r.get("drift_last")) for r in rows)
        parts.append(f"{s} " + ", ".join(f"{n} by {why}" for why, n in reasons.most_common())
                     + f" (median spend {_num(float(np.median([r['flops'] for r in rows])))}, "
                     f"last N* error {_pct(final)}, last forecast by the drift law in {drift} "
                     f"of {len(rows)})")
    return "studies stopped: " + "; ".join(parts)
