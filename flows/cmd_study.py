"""Study commands: ``t2 run | plan | simulate | status | ui``.

    t2 plan examples/tiny.yaml                     # validate; print the seed design and its FLOPs
    t2 run examples/tiny.yaml [--root DIR] [--ray-address ADDR]
    t2 simulate examples/tiny.yaml --true-law examples/true_law.json [--noise 0.01] \
        [--strategy active|grid|random]
    t2 status ROOT
    t2 ui [ROOT]

Heavy imports (torch, ray, mlflow, optuna) happen inside each ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2.flows.lock import study_lock
from t2.infra.config import ConfigError


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study YAML file")
    p.add_argument("--root", default=None, help="study directory (default: study's root, "
                   "else runs/<name>)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set select.runs_per_round=4")


def _load(args):
    from t2.flows.study import load_study

    cfg = load_study(args.study, args.set)
    root = Path(args.root or cfg.root or Path("runs") / cfg.name)
    return cfg, root


def _plan_args(p):
    _study_args(p)
    p.add_argument("--strategy", choices=["active", "grid", "random"], default=None)


def _plan_run(args) -> int:
    from t2.flows.plan import grid_schedule, plan_summary, seed_design

    cfg, root = _load(args)
    strategy = args.strategy or cfg.select.strategy
    reqs = grid_schedule(cfg) if strategy == "grid" else seed_design(cfg)
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
    if total > cfg.budget.train_flops:
        raise ConfigError(f"{args.study}: budget.train_flops: the seed design alone needs "
                          f"{total:.3g} FLOPs")
    return 0


def _simulate_args(p):
    _study_args(p)
    p.add_argument("--true-law", required=True, help="JSON with E, A, B, alpha, beta[, G, gamma]")
    p.add_argument("--noise", type=float, default=0.01, help="relative loss noise per run")
    p.add_argument("--noise-mode", choices=["checkpoint", "run"], default=None,
                   help="seed noise per training run (shared by its trunk) or per checkpoint; "
                   "default: the study's select.noise_per")
    p.add_argument("--strategy", choices=["active", "grid", "random"], default=None)
    p.add_argument("--no-report", action="store_true", help="skip the report and plots")


def _simulate_run(args) -> int:
    from t2.flows.driver import run_study, true_optima
    from t2.flows.simulate import SimulatedExecutor, load_true_law

    cfg, root = _load(args)
    if args.root is None and cfg.root is None:
        root = Path("runs") / f"{cfg.name}-sim"
    law = load_true_law(args.true_law)
    ex = SimulatedExecutor(law, cfg.eval.ks, noise=args.noise, seed=cfg.select.seed,
                           noise_mode=args.noise_mode or cfg.select.noise_per)
    truth = true_optima(law, [(t.c_train, t.c_inf) for t in cfg.budget.targets])
    with study_lock(root):
        result = run_study(cfg, root, ex, strategy=args.strategy, truth=truth)
        if not args.no_report and _report_due(result, root):
            from t2.flows.report import write_report

            write_report(cfg, root, quiet=False, true_law=law)
    return 0


def _report_due(result, root: Path) -> bool:
    """A finished study that was rerun keeps its report (the rerun is a no-op)."""
    from t2.flows.steps import report_dir
    from t2.infra.storage import is_done

    return not result.skipped or not is_done(report_dir(root))


def _run_args(p):
    _study_args(p)
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")


def _run_run(args) -> int:
    from t2.flows.driver import run_study
    from t2.flows.executors import RealExecutor
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
    from t2.flows.status import print_status

    return print_status(Path(args.root))


def _ui_args(p):
    p.add_argument("root", nargs="?", default=".", help="study directory (default: .)")
    p.add_argument("--port", type=int, default=5000)


def _ui_run(args) -> int:
    from t2.flows.status import serve_ui

    return serve_ui(Path(args.root), args.port)


COMMANDS = {
    "plan": ("Validate a study and print its seed design (a dry run)", _plan_args, _plan_run),
    "run": ("Run (or resume) a study: train, evaluate, fit, select", _run_args, _run_run),
    "simulate": ("Run a study loop with a known law instead of training",
                 _simulate_args, _simulate_run),
    "status": ("Show a study's runs, FLOPs spent and current forecast", _status_args,
               _status_run),
    "ui": ("Start the MLflow UI for a study's store on 127.0.0.1", _ui_args, _ui_run),
}
