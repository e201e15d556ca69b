"""``t2 train [RUN.yaml]`` and ``t2 validate FILE``.

    t2 train                              # the built-in tiny run (~1 min on an idle 2-core CPU)
    t2 train examples/run_tiny.yaml --out runs/tiny --set train.tokens=4e5
    t2 validate examples/run_tiny.yaml    # one line naming the field on error, exit 2

Rerunning the same command on a finished run does nothing; on an interrupted run it resumes.
Heavy imports (torch, deepspeed, ray, mlflow) happen inside ``run`` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2.infra.config import apply_overrides, load_config, parse_config

# The built-in default run: a ~0.27M-parameter model on 0.6M byte tokens, decayed at two D
# (~150 steps of 4096 tokens: about a minute on an idle 2-core CPU).
DEFAULT_RUN = {
    "name": "tiny",
    "model": {"depth": 2, "seq_len": 128},
    "data": {"tokenizer": "byte", "corpus_tokens": 1.0e6},
    "train": {"tokens": 6.0e5, "decay_at": [3.0e5], "batch_tokens": 4096, "lr": 3.0e-3,
              "checkpoint_every": 100, "log_every": 20},
}


def _load_run(path: str | None, overrides: list[str] | None):
    from t2.models.config import RunConfig

    if path is None:
        return parse_config(apply_overrides(DEFAULT_RUN, overrides), RunConfig, "built-in run")
    return load_config(path, RunConfig, overrides)


def default_out(cfg) -> Path:
    from t2.infra.storage import hash8

    return Path("runs") / "train" / f"{cfg.name}-{hash8(cfg.model_dump(mode='json'))}"


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="RunConfig YAML (default: a built-in tiny run)")
    p.add_argument("--out", help="run directory (default: runs/train/NAME-HASH)")
    p.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", default=[],
                   help="override a config field, e.g. --set train.tokens=4e5 (repeatable)")
    p.add_argument("--ray-address", help="Ray cluster address (auto, ray://host:10001)")
    p.add_argument("--cache-dir", help="corpus cache (default: $T2_CACHE or ~/.cache/t2)")


def _run_train(args) -> int:
    from t2.flows.checks import check_run

    cfg = _load_run(args.config, args.set)
    check_run(cfg, source=args.config or "built-in run")
    out = Path(args.out) if args.out else default_out(cfg)
    from t2.models.train import train

    dirs = train(cfg, out, ray_address=args.ray_address, cache_dir=args.cache_dir)
    _print_summary(cfg, out, dirs)
    return 0


def _print_summary(cfg, out: Path, dirs: list[Path]) -> None:
    from t2.infra.storage import read_json

    print(f"t2 train: run {cfg.name} done -> {out}")
    for d in dirs:
        info = read_json(d / "train.json")
        print(f"  N={info['N']['total']:,}  D={info['D']:.4g}  steps={info['steps']}  "
              f"final loss {info['final_train_loss']:.4f}  val loss {info['val_loss']:.4f}  "
              f"-> {d}")
    print(f"  metrics: {out / 'metrics.jsonl'}   mlflow: sqlite:///{(out / 'mlflow.db').resolve()}")


def _add_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a study file (has a budget section) or a run file")
    p.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", default=[])


def _validate_study(args) -> int:
    from t2.flows.checks import check_study, check_study_data, check_study_runs
    from t2.flows.config import load_study
    from t2.flows.steps import StudyPaths, study_root

    cfg = load_study(args.file, args.set)
    reqs = check_study(cfg, source=args.file)
    check_study_runs(cfg, reqs, source=args.file)
    check_study_data(cfg, reqs, StudyPaths(study_root(cfg)).cache, source=args.file)
    print(f"{args.file}: ok (study {cfg.name}: N {cfg.model.params_min:.3g}-"
          f"{cfg.model.params_max:.3g}, budget {cfg.budget.train_flops:.3g} FLOPs, "
          f"strategy {cfg.select.strategy}, {len(reqs)} first runs; `t2 plan {args.file}` "
          "shows them)")
    return 0


def _run_validate(args) -> int:
    from t2.flows.checks import check_run
    from t2.infra.config import read_yaml

    data = read_yaml(args.file)
    if isinstance(data, dict) and "budget" in data:
        return _validate_study(args)
    cfg = _load_run(args.file, args.set)
    info = check_run(cfg, source=args.file)
    print(f"{args.file}: ok (run {cfg.name}: N={info['N']:,}, batch {info['batch_tokens']} "
          f"tokens, {info['steps']} steps, D={', '.join(f'{d:.4g}' for d in info['D'])})")
    return 0


COMMANDS = {
    "train": ("train one run (in-process, or Ray Train with dist.num_workers > 1)",
              _add_train, _run_train),
    "validate": ("check a study or run file; errors name the field", _add_validate, _run_validate),
}
