"""``t2 posttrain CHECKPOINT --task arithmetic --mode sft``: fine-tune one checkpoint.

    t2 posttrain runs/x/results/D-1e+06 --task arithmetic --mode sft            # 6 epochs
    t2 posttrain CKPT --task arc_easy,openbookqa --mode ft --epochs 2 --out runs/pt
    t2 posttrain CKPT --task sciq --mode sft --set allow_hub=true               # hub train split
    t2 posttrain CKPT --task arithmetic --mode ft --set dist.num_workers=2      # Ray Train
    t2 evaluate OUT/hf --tasks arithmetic --n 16                                # then evaluate it

CHECKPOINT is a ``results/D-*`` directory of ``t2 train`` (or its ``hf/``). ``--set`` takes
any field of t2.models.posttrain_config.PosttrainConfig (``lr``, ``batch_size``,
``num_train_problems``, ``dist.zero_stage``, ...). Writes ``--out`` (default
``<result dir>/posttrain-{mode}-{hash}``); rerunning the same command resumes an interrupted
run or returns at once. Bad input is one line naming the field, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from t2.infra.config import ConfigError, apply_overrides, parse_config


def _tasks(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a t2 result directory or HF dir")
    p.add_argument("--task", action="append", metavar="NAME[,NAME]",
                   help="task(s) whose train split to fine-tune on (repeatable, mixed)")
    p.add_argument("--mode", help="sft (loss on the answer only) or ft (the whole sequence)")
    p.add_argument("--epochs", type=float, default=None, help="passes over the train set "
                   "(default 6, as in the T² paper)")
    p.add_argument("--out", default=None, help="output directory")
    p.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", default=[],
                   help="override a PosttrainConfig field, e.g. --set lr=1e-4 (repeatable)")
    p.add_argument("--ray-address", help="Ray cluster address (auto, ray://host:10001)")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")


def _config(args):
    from t2.models.posttrain_config import PosttrainConfig

    data = {k: v for k, v in {"mode": args.mode, "tasks": _tasks(args.task),
                              "epochs": args.epochs}.items() if v is not None}
    if args.no_tracking:
        data["tracking"] = {"enabled": False}
    return parse_config(apply_overrides(data, args.set), PosttrainConfig, "t2 posttrain")


def _run(args) -> int:
    from t2.models.posttrain import default_out, posttrain, read_summary, resolve_source

    cfg = _config(args)
    resolve_source(args.checkpoint)  # a missing checkpoint fails before any task data loads
    out = Path(args.out) if args.out else default_out(cfg, args.checkpoint)
    from t2.evaluation.tasks import train_set

    try:
        ts = train_set(cfg.tasks, num=cfg.num_train_problems, seed=cfg.seed,
                       task_kwargs=cfg.task_kwargs, allow_hub=cfg.allow_hub,
                       eval_num=cfg.eval_num_problems, eval_seed=cfg.eval_seed)
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError(f"--task: {err}") from None
    try:
        posttrain(cfg, args.checkpoint, out, ts, ray_address=args.ray_address)
    except ValueError as err:  # e.g. lr/batch_size rules, an answer too long for max_seq_len
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(str(err).splitlines()[0]) from None
    _print_summary(read_summary(out), out)
    return 0


def _print_summary(info: dict, out: Path) -> None:
    print(f"t2 posttrain: {info['mode']} on {', '.join(info['tasks'])} done -> {out}")
    print(f"  {info['steps']} steps  {info['epochs_done']:.3g} epochs  {info['tokens']:,} "
          f"tokens ({info['answer_tokens']:,} answer)  FLOPs 6·N·tokens "
          f"{info['flops']['6N_tokens']:.3g}")
    print(f"  loss {info['first_loss']:.4f} -> {info['final_loss']:.4f}  lr "
          f"{info['hparams']['lr']:.3g}  batch {info['hparams']['batch_size']} sequences")
    for task, rec in info["splits"].items():
        print(f"  {task}: {rec['train']['num']} train / {rec['eval']['num']} eval problems, "
              f"overlap {rec['overlap']}")
    print(f"  checkpoint: {info['hf_dir']}   (t2 evaluate {info['hf_dir']} --tasks "
          f"{','.join(info['tasks'])})")


COMMANDS = {
    "posttrain": ("fine-tune a finished checkpoint (ft or sft) on task train splits",
                  add_arguments, _run),
}
