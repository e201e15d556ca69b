"""Launch a per-rank training function as a Ray Train ``TorchTrainer`` job.

    from t2.infra.ray_train import launch
    launch(train_worker, {"out_dir": ...}, num_workers=2, run_name="tiny-1a2b3c4d",
           storage_path="runs/tiny/ray")

Every worker calls ``fn(config)`` with the same dict (Ray Train already created the torch
process group; DeepSpeed wraps it). The run name is the step hash, so a rerun of the same run
reuses the same Ray run directory; the training function finds its own checkpoints in the run
directory (passed in ``config``), which is why ``resume_from_checkpoint=`` (deprecated in Ray
Train V2) is not used. ``FailureConfig(max_failures)`` restarts the worker group after a crash;
the restarted workers resume from the newest complete checkpoint. Ray itself is started or
joined by ``t2.infra.ray_cluster.start_or_join_ray`` (token auth kept, a local Ray on loopback).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# Kept importable for older callers: Ray is started or joined by t2.infra.ray_cluster now, which
# never turns token auth off and keeps a local Ray on 127.0.0.1.
from t2.infra.ray_cluster import (  # noqa: F401
    RAY_ENV,
    WORKER_ENV_KEYS,
    _ensure_ray,
    start_or_join_ray,
)


def _cluster_has_gpus() -> bool:
    import ray

    return ray.cluster_resources().get("GPU", 0) > 0


def launch(fn: Callable[[dict], None], config: dict, *, num_workers: int, run_name: str,
           storage_path: str | Path, use_gpu: bool | None = None, ray_address: str | None = None,
           cpus_per_worker: int = 1, backend: str = "auto", max_failures: int = 0):
    """Run ``fn(config)`` on ``num_workers`` ranks; raise if the job failed."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    cores = os.cpu_count() or 1
    started = start_or_join_ray(ray_address, num_cpus=max(cores, num_workers * cpus_per_worker))
    try:
        # GPUs where the ranks run: the cluster's, not this driver's (a CPU-only head)
        gpu = _cluster_has_gpus() if use_gpu is None else use_gpu
        if backend == "auto":
            backend = "nccl" if gpu else "gloo"
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
