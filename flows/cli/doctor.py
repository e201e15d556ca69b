"""``t2 doctor``: check what a study needs on this machine and say what to fix.

    t2 doctor [--ray-address auto] [--tracking-uri http://mlflow:5000]

Prints one line per check (``t2.flows.doctor``) and the fix when it is not ok; exit code 1
when any check fails.
"""

from __future__ import annotations

import os


def add_arguments(p) -> None:
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to check (auto, ray://host:port)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                   help="MLflow tracking URI to check (default: $MLFLOW_TRACKING_URI)")


def run(args) -> int:
    from t2.flows.doctor import run_checks

    failed = False
    for name, status, detail, fix in run_checks(args.ray_address, args.tracking_uri):
        failed |= status == "FAIL"
        print(f"{status:>4}  {name:<10} {detail}")
        if fix:
            print(f"{'':>4}  {'':<10} fix: {fix}")
    return 1 if failed else 0


COMMANDS = {"doctor": ("check torch/CUDA, DeepSpeed, Ray, MLflow and evaluation data",
                       add_arguments, run)}
