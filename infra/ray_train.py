"""Launch a per-rank training function as a Ray Train ``TorchTrainer`` job.

    from t2.infra.ray_train import launch
    launch(train_worker, {"out_dir": ...}, num_workers=2, run_name="tiny-1a2b3c4d",
           storage_path="runs/tiny/ray")

Every worker calls ``fn(config)`` with the same dict (Ray Train already created the torch
process group; DeepSpeed wraps it). The run name is the step hash, so a rerun of the same run
reuses the same Ray run directory; the training function finds its own checkpoints in the run
directory (passed in ``config``), which is why ``resume_from_checkpoint=`` (deprecated in Ray
Train V2) is not used. ``FailureConfig(max_failures)`` restarts the worker group after a crash;
the restarted workers resume from the newest complete checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# Quiet, local-first defaults; a user's own settings win.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
WORKER_ENV_KEYS = ("DS_ACCELERATOR", "T2_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                   "MLFLOW_ENABLE_ASYNC_LOGGING", "TOKENIZERS_PARALLELISM", "T2_EXIT_AFTER_PROGRESS")


def _ensure_ray(ray_address: str | None, num_cpus: int):
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in WORKER_ENV_KEYS if k in os.environ}
    kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": True}
    # a driver submitted as a Ray job (``ray job submit``) finds its cluster in RAY_ADDRESS
    ray_address = ray_address or os.environ.get("RAY_ADDRESS")
    if ray_address:
        ray.init(address=ray_address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
    return True


def launch(fn: Callable[[dict], None], config: dict, *, num_workers: int, run_name: str,
           storage_path: str | Path, use_gpu: bool | None = None, ray_address: str | None = None,
           cpus_per_worker: int = 1, backend: str = "auto", max_failures: int = 0):
    """Run ``fn(config)`` on ``num_workers`` ranks; raise if the job failed."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import torch
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    gpu = torch.cuda.is_available() if use_gpu is None else use_gpu
    if backend == "auto":
        backend = "nccl" if gpu else "gloo"
    cores = os.cpu_count() or 1
    started = _ensure_ray(ray_address, max(cores, num_workers * cpus_per_worker))
    try:
        trainer = TorchTrainer(
            fn, train_loop_config=config,
            scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=gpu,
                                         resources_per_worker={"CPU": cpus_per_worker}),
            torch_config=TorchConfig(backend=backend),
            run_config=RunConfig(name=run_name, storage_path=str(Path(storage_path).resolve()),
                                 failure_config=FailureConfig(max_failures=max_failures)),
        )
        result = trainer.fit()
        if result.error is not None:
            raise RuntimeError(f"Ray Train job {run_name} failed: {result.error}")
        return result
    finally:
        if started:
            import ray

            ray.shutdown()
