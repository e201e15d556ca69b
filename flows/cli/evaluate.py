"""``t2 evaluate CHECKPOINT_DIR --tasks arithmetic,sciq --n 16``: sample, grade, print pass@k.

    t2 evaluate runs/tiny/D-1e6/hf --tasks arithmetic --n 16 --num-problems 64 --out runs/tiny/eval
    t2 evaluate CKPT --tasks arithmetic --n 64 --ray --workers 2     # a pool of Ray actors

Writes the per-problem table, the summary and the sample shards under ``--out`` (default
``CHECKPOINT_DIR/../eval-<settings hash>``) and prints the pass@k table; rerunning the same
command resumes unfinished shards or returns at once when done.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2.infra.config import ConfigError


def _tasks(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--tasks: give at least one task name")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="HF checkpoint directory")
    p.add_argument("--tasks", type=_tasks, required=True,
                   help="comma-separated task names (see t2.evaluation.tasks.TASKS) or jsonl:PATH")
    p.add_argument("--n", type=int, default=16, help="samples per problem (default 16)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1.0)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus mass (default 1.0)")
    p.add_argument("--num-problems", type=int, default=None, help="problems per task (default all)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: the task's own")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory")
    p.add_argument("--problems-per-shard", type=int, default=32)
    p.add_argument("--ray", action="store_true", help="run shards on a pool of Ray actors")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: GPUs or 2)")
    p.add_argument("--tracking-uri", default=None, help="MLflow URI (default sqlite in --out)")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")


def _check(args) -> None:
    ckpt = Path(args.checkpoint)
    if not (ckpt / "config.json").is_file():
        raise ConfigError(f"CHECKPOINT_DIR {ckpt}: no config.json (not an HF checkpoint)")
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.temperature < 0:
        raise ConfigError(f"--temperature must be >= 0, got {args.temperature}")
    if not 0 < args.top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.num_problems is not None and args.num_problems < 1:
        raise ConfigError(f"--num-problems must be >= 1, got {args.num_problems}")
    if args.problems_per_shard < 1:
        raise ConfigError(f"--problems-per-shard must be >= 1, got {args.problems_per_shard}")
    from t2.evaluation.tasks import TASKS, USER_PREFIX

    for name in args.tasks:
        if name not in TASKS and not name.startswith(USER_PREFIX):
            raise ConfigError(f"--tasks: unknown task {name!r} (known: {', '.join(TASKS)})")


def run(args) -> int:
    _check(args)
    from t2.evaluation.evaluate import evaluate_checkpoint, format_passk_table
    from t2.infra.storage import hash8

    ckpt = Path(args.checkpoint)
    out = Path(args.out) if args.out else ckpt.resolve().parent / "eval-{}".format(hash8(
        sorted(args.tasks), args.n, args.temperature, args.top_p, args.num_problems,
        args.max_new_tokens, args.seed))
    try:
        result = evaluate_checkpoint(
            ckpt, args.tasks, out, args.n, args.temperature, args.top_p, args.num_problems,
            args.seed, max_new_tokens=args.max_new_tokens,
            problems_per_shard=args.problems_per_shard, use_ray=args.ray,
            num_workers=args.workers, tracking=not args.no_tracking,
            tracking_uri=args.tracking_uri)
    except ValueError as err:  # bad task kwargs, missing problems, ...: one line, not a trace
        raise ConfigError(str(err)) from err
    print(format_passk_table(result.summary))
    print(f"per-problem table: {result.table_path}")
    return 0


COMMANDS = {
    "evaluate": ("Sample a checkpoint on tasks, grade, and print pass@k.", add_arguments, run),
}
