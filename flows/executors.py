"""The real executor: training via ``t2.models.train`` and evaluation by sampling.

    ex = RealExecutor(cfg, root, ray_address=None)
    records = ex.train(req, step_dir, parent_run_id=pid)      # one record per decayed checkpoint
    loss_k = ex.evaluate(records[0], eval_dir, parent_run_id=pid)   # {k: L}

Each training step has a run directory (``t2.flows.steps.trainer_dir``) that ``train`` owns (it
resumes there from its newest checkpoint); ``train`` creates its own MLflow child run under the
study's parent. A request that extends an earlier run (``base_dir``: that run's step directory)
continues the trunk the earlier trainer kept (``train.init_from``, t2.models.extend), so it trains
only the new tokens; the trainer keeps just the trunk state before a run's last decay, so only a
D beyond the earlier run's longest can continue it (``can_extend = EXTEND_BEYOND``: the planner
proposes a lower D at that size as a new run).
A checkpoint's task loss at k is L(k) = mean over tasks of mean over problems of −log pass@k_i
(REFERENCE §3): from the gold answer's likelihood p_i = exp(−NLL_i) (``eval.p_source:
likelihood``, the default) or from the sampled counts c_i of n (``sampled``; pass@k_i is floored
at 1/(n+1) so a problem never solved has a finite loss).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from t2.flows.plan import EXTEND_BEYOND, RunRequest
from t2.flows.steps import mlflow_uri, trainer_dir
from t2.flows.study import StudyConfig
from t2.infra.storage import read_json, write_json


class RealExecutor:
    kind = "real"
    tracks_training = True   # t2.models.train opens its own MLflow child run
    can_extend = EXTEND_BEYOND  # continue a finished run's trunk past its longest D

    def __init__(self, cfg: StudyConfig, root: str | Path, *, ray_address: str | None = None):
        # absolute: Ray workers on other nodes (or a driver run as a Ray job) have another cwd
        self.cfg, self.root, self.ray_address = cfg, Path(root).resolve(), ray_address
        d = cfg.dist
        self.use_ray = d.use_ray if d.use_ray is not None else d.num_workers > 1
        self.max_parallel = self._ray_slots()

    def _ray_slots(self) -> int:
        """How many training runs fit on the Ray cluster at once (1 without Ray).

        Ray is started (or joined) here, once, so concurrent runs share it and no run's
        teardown stops another's cluster."""
        d = self.cfg.dist
        if not self.use_ray:
            return 1
        import os

        import ray
        from t2.infra.ray_train import RAY_ENV, _ensure_ray

        for key, value in RAY_ENV.items():
            os.environ.setdefault(key, value)
        _ensure_ray(self.ray_address, os.cpu_count() or 1)
        have = ray.cluster_resources()
        need = {"CPU": d.num_workers * (d.threads_per_worker or 1)}
        if d.use_gpu or (d.use_gpu is None and have.get("GPU", 0) > 0):
            need["GPU"] = d.num_workers
        return max(1, min(int(have.get(k, 0) // v) for k, v in need.items()))

    def step_config(self) -> dict:
        """The run template: part of every step's hash, so a changed template retrains (fields
        left at their defaults are skipped, so a newly added field keeps existing hashes)."""
        c = self.cfg

        def dump(spec):
            return spec.model_dump(mode="json", exclude_defaults=True)

        return {"executor": "real", "data": dump(c.data), "train": dump(c.train),
                "dist": dump(c.dist), "seq_len": c.model.seq_len, "tie": c.model.tie_embeddings}

    def run_config(self, req: RunRequest, name: str):
        from t2.models.config import ModelSpec, RunConfig, TrackingSpec, TrainSpec

        c = self.cfg
        return RunConfig(
            name=name,
            model=ModelSpec(params=req.N, seq_len=c.model.seq_len,
                            tie_embeddings=c.model.tie_embeddings),
            data=c.data,
            train=TrainSpec(**{**c.train.model_dump(), "tokens": req.D,
                               "decay_at": list(req.Ds[:-1])}),
            dist=c.dist,
            tracking=TrackingSpec(enabled=c.tracking.enabled,
                                  uri=c.tracking.uri or mlflow_uri(self.root),
                                  experiment=c.tracking.experiment),
        )

    def train(self, req: RunRequest, out_dir: Path, *, base_dir: Path | None = None,
              parent_run_id: str | None = None) -> list[dict]:
        from t2.models.config import RunConfig
        from t2.models.train import train

        name = f"{self.cfg.name}-{Path(out_dir).name}"[-64:]  # unique: the step's hash
        run = self.run_config(req, name)
        if base_dir is not None:  # continue the trunk the earlier step's trainer kept
            data = run.model_dump(mode="json")
            data["train"]["init_from"] = str(trainer_dir(base_dir).resolve())
            run = RunConfig.model_validate(data)
        dirs = train(run, trainer_dir(out_dir),
                     ray_address=self.ray_address, parent_run_id=parent_run_id,
                     cache_dir=self.root / "cache")
        records = []
        for rdir in dirs:
            tj = read_json(Path(rdir) / "train.json")
            records.append({"N": float(tj["N"]["total"]), "D": float(tj["D"]),
                            "val_loss": float(tj["val_loss"]), "result_dir": str(rdir),
                            "hf_dir": tj["hf_dir"], "flops": tj["train_flops"]["6ND_total"]})
        return records

    def evaluate(self, ckpt: dict, out_dir: Path, *, parent_run_id: str | None = None) -> dict:
        from t2.evaluation.evaluate import evaluate_checkpoint

        e, d = self.cfg.eval, self.cfg.dist
        # With Ray, sampling runs on the cluster in a training run's footprint (num_workers
        # actors of threads_per_worker cores, or one GPU each), so it fits the slot this run
        # holds (``max_parallel``) and concurrent runs never wait on each other's actors.
        on_ray = {"use_ray": True, "ray_address": self.ray_address, "num_workers": d.num_workers,
                  "cpus_per_worker": d.threads_per_worker or 1} if self.use_ray else {}
        result = evaluate_checkpoint(
            ckpt["hf_dir"], list(e.tasks), Path(out_dir) / "samples", n=e.num_samples,
            num_problems=e.num_problems, seed=self.cfg.select.seed,
            max_new_tokens=e.max_new_tokens, tracking=False, **on_ray)
        loss_k = task_losses(result.table(), e.ks, e.p_source)
        write_json(Path(out_dir) / "loss_k.detail.json",
                   {"p_source": e.p_source, "loss_k": loss_k, "summary": result.summary})
        return loss_k


def task_losses(table, ks: list[int], p_source: str) -> dict[str, float]:
    """{k: mean over tasks of mean_i −log pass@k_i} from the per-problem table."""
    from t2.evaluation.passk import neg_log_pass_at_k_from_nll, pass_at_k

    out = {}
    for k in ks:
        per_task = []
        for _, part in table.groupby("task", sort=True):
            if p_source == "likelihood":
                L = neg_log_pass_at_k_from_nll(part["nll"].to_numpy(dtype=float), k)
            else:
                n, c = part["n"].to_numpy(), part["c"].to_numpy()
                pk = np.maximum(pass_at_k(n, c, k), 1.0 / (n + 1))
                L = -np.log(pk)
            per_task.append(float(np.mean(L)))
        out[str(k)] = float(np.mean(per_task))
        assert math.isfinite(out[str(k)]), (k, per_task)
    return out
