"""Study commands: ``t2 run | plan | simulate | status | ui``.

    t2 plan examples/tiny.yaml                     # validate; print the seed design and its FLOPs
    t2 run examples/tiny.yaml [--root DIR] [--ray-address ADDR]
    t2 simulate examples/tiny.yaml --true-law examples/true_law.json [--noise 0.01] \
        [--strategy active|grid|random]
    t2 simulate examples/cluster.yaml --laws 24 [--misspecified] [--seeds 3] [--replicates 16] \
        [--jobs 2]
    t2 simulate examples/cluster.yaml --replay ../shared/data/gadre2024_c4_openlm_runs.csv
    t2 status ROOT
    t2 ui [ROOT]

Heavy imports (torch, ray, mlflow, optuna) happen inside each ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2.flows.lock import study_lock


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study YAML file")
    p.add_argument("--root", default=None, help="study directory (default: study's root, "
                   "else runs/<name>)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set select.runs_per_round=4")


def _load(args, suffix: str = ""):
    from t2.flows.config import load_study
    from t2.flows.steps import study_root

    cfg = load_study(args.study, args.set)
    return cfg, study_root(cfg, args.root, suffix)


def _plan_args(p):
    _study_args(p)
    p.add_argument("--strategy", choices=["active", "grid", "random"], default=None)


def _plan_run(args) -> int:
    from t2.flows.checks import check_study, first_runs
    from t2.flows.plan import plan_summary

    cfg, root = _load(args)
    strategy = args.strategy or cfg.select.strategy
    reqs = first_runs(cfg, strategy)
    rows = plan_summary(cfg, reqs)
    total = sum(r["flops"] for r in rows)
    print(f"study {cfg.name} ({strategy}): root {root}")
    print(f"{'N':>10} {'D values':>40} {'tokens/param':>24} {'FLOPs':>10}")
    for r in rows:
        Ds = ",".join(f"{d:.3g}" for d in r["Ds"])
        rs = ",".join(f"{x:.0f}" for x in r["tokens_per_param"])
        print(f"{r['N']:>10.3g} {Ds:>40} {rs:>24} {r['flops']:>10.3g}")
    print(f"{len(rows)} runs, {sum(len(r['Ds']) for r in rows)} checkpoints, {total:.3g} FLOPs "
          f"({total / cfg.budget.train_flops:.1%} of the study budget "
          f"{cfg.budget.train_flops:.3g})")
    check_study(cfg, strategy, source=args.study)
    from t2.flows.checks import check_study_data
    from t2.flows.steps import StudyPaths

    check_study_data(cfg, reqs, StudyPaths(root).cache, source=args.study)
    return 0


def _simulate_args(p):
    _study_args(p)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--true-law", help="JSON with E, A, B, alpha, beta[, G, gamma] (or a "
                      "misspecified form: t2.flows.executors.misspecified)")
    mode.add_argument("--laws", type=int, metavar="M", help="a family of M laws drawn from "
                      "the prior (t2.flows.executors.prior): active vs grid on each")
    mode.add_argument("--replay", metavar="TABLE", help="a results table (CSV: N, D, loss): "
                      "choose only among its runs, each observation its measured loss")
    p.add_argument("--noise", type=float, default=0.01, help="relative loss noise per run")
    p.add_argument("--noise-mode", choices=["checkpoint", "run"], default=None,
                   help="seed noise per training run (shared by its trunk) or per checkpoint; "
                   "default: the study's select.noise_per")
    p.add_argument("--strategy", choices=["active", "grid", "random"], default=None)
    p.add_argument("--no-report", action="store_true", help="skip the report and plots")
    fam = p.add_argument_group("family (--laws) and replay (--replay) modes")
    fam.add_argument("--law-seed", type=int, default=2, help="seed of the law draws (default 2,"
                     " the benchmark's held-out family)")
    fam.add_argument("--misspecified", action="store_true",
                     help="laws that are not the fitted form (bend, interaction, k drift)")
    fam.add_argument("--seeds", type=int, default=3, help="simulated studies per law (or per "
                     "strategy of a replay); a law's figure is their median, so with few seeds "
                     "one seed's luck decides it (the benchmark uses 7)")
    fam.add_argument("--jobs", type=int, default=1, help="studies run at once (processes)")
    fam.add_argument("--tol", type=float, default=0.10, help="settled: N* within this")
    fam.add_argument("--replicates", type=int, default=16, metavar="R",
                     help="family mode: also judge each study's design on R fresh noise draws "
                     "per spend (0: the study's own draw only)")
    p.add_argument("--replay-loss", default=None, metavar="COLUMN",
                   help="the table's loss column (default: loss, val_loss or *_val)")


def _simulate_run(args) -> int:
    if args.laws is not None:
        return _simulate_family(args)
    if args.replay is not None:
        return _simulate_replay(args)
    from t2.flows.driver import run_study, true_optima
    from t2.flows.executors.simulated import SimulatedExecutor
    from t2.flows.executors.task_truth import load_task_truths
    from t2.flows.executors.truth import load_true_law

    cfg, root = _load(args, "-sim")
    law = load_true_law(args.true_law)
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=args.noise, seed=cfg.select.seed,
                           noise_mode=args.noise_mode or cfg.select.noise_per,
                           tasks=load_task_truths(args.true_law),
                           num_samples=cfg.eval.num_samples)
    truth = true_optima(law, [(t.c_train, t.c_inf) for t in cfg.budget.targets])
    with study_lock(root):
        result = run_study(cfg, root, ex, strategy=args.strategy, truth=truth)
        if not args.no_report and _report_due(result, root):
            from t2.flows.report import write_report

            write_report(cfg, root, quiet=False, true_law=law)
    return 0


def _simulate_family(args) -> int:
    """Active vs grid over a family of laws from the prior (nothing is written to a root)."""
    from t2.flows.executors.prior import draw_laws
    from t2.flows.family import format_family, run_family
    from t2.infra.config import ConfigError

    cfg, _ = _load(args)
    if args.laws < 1 or args.seeds < 1 or args.jobs < 1:
        raise ConfigError("--laws, --seeds, --jobs: each must be >= 1")
    if args.replicates < 0:
        raise ConfigError("--replicates: must be >= 0")
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    laws = draw_laws(args.laws, targets, seed=args.law_seed, misspecified=args.misspecified)
    mode = args.noise_mode or cfg.select.noise_per
    results = run_family(args.study, laws, seeds=args.seeds, noise=args.noise, noise_mode=mode,
                         tol=args.tol, overrides=tuple(args.set), jobs=args.jobs,
                         replicates=args.replicates)
    print("\n".join(format_family(results, laws, targets)))
    return 0


def _simulate_replay(args) -> int:
    """The study on a real suite: FLOPs until the forecast N* settles at the table's own; with
    ``--strategy`` one study in the root (and its report), else active and grid, ``--seeds``
    studies each (the bootstrap's seed is all that differs: the table has no noise to draw)."""
    import math

    from t2.flows.driver import run_study
    from t2.flows.executors.replay import ReplayExecutor, load_table, replay_config, table_truth
    from t2.flows.family import flops_to_settle, format_replay, run_family
    from t2.infra.config import ConfigError

    cfg, root = _load(args, "-replay")
    table = load_table(args.replay, args.replay_loss)
    head = f"replay of {table.path} ({len(table.N)} runs, {table.total_flops:.3g} FLOPs)"
    if args.strategy is None:
        if args.seeds < 1 or args.jobs < 1:
            raise ConfigError("--seeds, --jobs: each must be >= 1")
        print(f"{head}: training FLOPs until forecast N* stays within {args.tol:.0%} of the "
              "table's own")
        results = run_family(args.study, [None], seeds=args.seeds, tol=args.tol,
                             overrides=tuple(args.set), jobs=args.jobs,
                             replay=args.replay, replay_loss=args.replay_loss)
        print("\n".join(format_replay(results)))
        return 0
    cfg = replay_config(cfg, table)
    truth = table_truth(table, [(t.c_train, t.c_inf) for t in cfg.budget.targets])
    with study_lock(root):
        result = run_study(cfg, root, ReplayExecutor(table), strategy=args.strategy, truth=truth)
    settle = flops_to_settle(result.rounds, args.tol)
    print(f"{head}: forecast N* within {args.tol:.0%} of the table's own for good after "
          f"{'never' if math.isinf(settle) else f'{settle:.3g}'} training FLOPs")
    return 0


def _report_due(result, root: Path) -> bool:
    """A finished study that was rerun keeps its report (the rerun is a no-op)."""
    from t2.flows.steps import StudyPaths
    from t2.infra.storage import is_done

    return not result.skipped or not is_done(StudyPaths(root).report)


def _run_args(p):
    _study_args(p)
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")


def _run_run(args) -> int:
    from t2.flows.driver import run_study
    from t2.flows.executors.real import RealExecutor
    from t2.flows.report import write_report

    cfg, root = _load(args)
    with study_lock(root):
        ex = RealExecutor(cfg, root, ray_address=args.ray_address)
        result = run_study(cfg, root, ex)
        if _report_due(result, root):
            write_report(cfg, root, quiet=False)
    return 0


def _status_args(p):
    p.add_argument("root", help="study directory")


def _status_run(args) -> int:
    from rich.console import Console
    from t2.flows.status import study_status

    st = study_status(Path(args.root))
    console = Console()
    console.print(_runs_table(st.runs))
    budget = st.cfg.budget.train_flops
    done = f"finished ({st.reason})" if st.finished else "running"
    console.print(f"study {st.cfg.name} ({st.strategy}): {done}; training FLOPs {st.flops:.3g} "
                  f"of {budget:.3g} ({st.flops / budget:.1%})")
    if st.validation_flops is not None:
        console.print(f"validation stage: {st.validation_flops:.3g} training FLOPs")
    if st.posttrain:
        parts = ", ".join(f"{m}: {n} checkpoints" for m, (n, _) in sorted(st.posttrain.items()))
        total = sum(f for _, f in st.posttrain.values())
        console.print(f"post-training stage: {total:.3g} FLOPs ({parts}), beside the budget")
    if st.forecast is None:
        console.print("no forecast yet (too few finished runs)")
    else:
        console.print(_forecast_table(st.cfg, st.forecast))
        trend = st.forecast.k_trend
        if trend and trend.get("flags"):
            drift = st.forecast.drift
            console.print(f"the k exponent drifts with the loss (t = {trend['t']:+.1f}, "
                          f"{trend['rel']:.0%} across the data): " + (
                              f"the forecast is the law whose k exponent follows the loss "
                              f"(κ = {drift['law']['kappa']:.2f} per nat; t2.fitting.drift)"
                              if drift else "the forecast's one γ may not be the optimum's "
                              "(docs/selection.md)"))
    return 0


def _runs_table(runs):
    from rich.table import Table

    table = Table(title="runs")
    for col in ("#", "state", "role", "N", "D", "tokens/param", "epochs", "progress",
                "val loss"):
        table.add_column(col, justify="right")
    for r in runs:
        loss = f"{r.val_loss:.4g}" if r.val_loss is not None else "-"
        table.add_row(str(r.number), r.state, r.role, f"{r.N:.3g}",
                      ",".join(f"{d:.3g}" for d in r.Ds), ",".join(f"{d / r.N:.0f}" for d in r.Ds),
                      "-" if r.epochs is None else f"{r.epochs:.2g}", r.progress, loss)
    return table


def _forecast_table(cfg, rec):
    import math

    from rich.table import Table

    table = Table(title=f"forecast after {rec.num_runs} runs ({rec.kind} law, "
                        f"{cfg.select.interval:.0%} intervals)")
    for col in ("C_train", "C_inf", "N*", "D*", "k*", "tokens/param"):
        table.add_column(col, justify="right")
    for t, target in enumerate(cfg.budget.targets):
        cells = []
        for j in range(3):
            v, (lo, hi) = rec.forecast[t][j], rec.interval[t][j]
            cells.append("-" if math.isnan(v) else f"{v:.3g} [{lo:.3g}, {hi:.3g}]")
        N, D = rec.forecast[t][0], rec.forecast[t][1]
        table.add_row(f"{target.c_train:.3g}", f"{target.c_inf:.3g}", *cells, f"{D / N:.0f}")
    return table


def _ui_args(p):
    p.add_argument("root", nargs="?", default=".", help="study directory (default: .)")
    p.add_argument("--port", type=int, default=5000)


def _ui_run(args) -> int:
    import subprocess

    from t2.flows.status import ui_command

    cmd, links = ui_command(Path(args.root), args.port)
    print(f"MLflow UI (store {links['store']}; Ctrl-C stops):", flush=True)
    for name in ("study", "runs", "ui"):
        if name in links:
            print(f"  {name + ':':<7}{links[name]}", flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


COMMANDS = {
    "plan": ("Validate a study and print its seed design (a dry run)", _plan_args, _plan_run),
    "run": ("Run (or resume) a study: train, evaluate, fit, select", _run_args, _run_run),
    "simulate": ("Run a study loop with a known law instead of training",
                 _simulate_args, _simulate_run),
    "status": ("Show a study's runs, FLOPs spent and current forecast", _status_args,
               _status_run),
    "ui": ("Start the MLflow UI for a study's store on 127.0.0.1", _ui_args, _ui_run),
}
