"""Helpers of the reliability tests: damage files, run a training process that may die."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DIST_VARS = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
             "MASTER_PORT"}


def truncate(path: Path) -> None:
    """Cut a file in half (a write that never finished)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bytes(path: Path, num: int = 8) -> None:
    """Invert a few bytes in the middle, size unchanged (silent corruption)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + num, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def clean_env(**extra: str) -> dict:
    """This process's environment without the rank variables an in-process run set."""
    return {k: v for k, v in os.environ.items() if k not in DIST_VARS} | extra


def run_train_process(cfg_json: str, out: Path, cache: Path, env: dict) -> int:
    """``t2.models.train.train`` in a fresh Python process; its exit code."""
    code = ("import sys; from t2.models.config import RunConfig; "
            "from t2.models.train import train; "
            "train(RunConfig.model_validate_json(sys.argv[1]), sys.argv[2], cache_dir=sys.argv[3])")
    proc = subprocess.run([sys.executable, "-c", code, cfg_json, str(out), str(cache)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode not in (0, 17):
        pytest.fail(f"training process failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.returncode
