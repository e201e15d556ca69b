"""The real executor: training via ``t2.models.train`` and evaluation by sampling.

    ex = RealExecutor(cfg, root, ray_address=None)
    ckpts = ex.train(req, step_dir, parent_run_id=pid)          # one Checkpoint per decayed D
    ev = ex.evaluate(ckpts[0], eval_dir, parent_run_id=pid)     # Evaluation: {k: L}

Each training step has a trainer directory (``StudyPaths.trainer``) that ``train`` owns (it
resumes there from its newest checkpoint); ``train`` creates its own MLflow child run under the
study's parent. A request that extends an earlier run (``base_dir``: that run's step directory)
continues the trunk the earlier trainer kept (``train.init_from``, t2.models.extend), so it trains
only the new tokens.
A checkpoint's task loss at k is L(k) = mean over tasks of mean over problems of −log pass@k_i
(T² Approach 1, Roberts et al. 2026, arXiv 2604.01411): from the gold answer's likelihood
p_i = exp(−NLL_i) (``eval.p_source: likelihood``, the default) or from the sampled counts c_i of
n (``sampled``; pass@k_i is floored at 1/(n+1) so a problem never solved has a finite loss).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from t2.flows.config import StudyConfig
from t2.flows.plan import RunRequest
from t2.flows.records import Checkpoint, Evaluation, Posttrained, pooled
from t2.flows.steps import StudyPaths
from t2.infra.storage import read_json, write_json


class RealExecutor:
    kind = "real"
    tracks_training = True   # t2.models.train opens its own MLflow child run
    shows_progress = True

    def __init__(self, cfg: StudyConfig, root: str | Path, *, ray_address: str | None = None):
        # absolute: Ray workers on other nodes (or a driver run as a Ray job) have another cwd
        self.cfg, self.ray_address = cfg, ray_address
        self.paths = StudyPaths(Path(root).resolve())
        from t2.infra.ray_cluster import wants_ray

        d = cfg.dist
        # a given address (--ray-address or $RAY_ADDRESS) means the cluster: training and sampling
        self.use_ray = wants_ray(d.use_ray, d.num_workers, ray_address)
        self.max_parallel = self._ray_slots()

    def _ray_slots(self) -> int:
        """How many training runs fit on the Ray cluster at once (1 without Ray).

        Ray is started (or joined) here, once, so concurrent runs share it and no run's
        teardown stops another's cluster."""
        d = self.cfg.dist
        if not self.use_ray:
            return 1
        import ray
        from t2.infra.ray_cluster import start_or_join_ray

        start_or_join_ray(self.ray_address)  # a local Ray on 127.0.0.1 unless an address
        have = ray.cluster_resources()
        need = {"CPU": d.num_workers * (d.threads_per_worker or 1)}
        if d.use_gpu or (d.use_gpu is None and have.get("GPU", 0) > 0):
            need["GPU"] = d.num_workers
        return max(1, min(int(have.get(k, 0) // v) for k, v in need.items()))

    def step_config(self) -> dict:
        """The run template: part of every step's hash, so a changed template retrains (fields
        left at their defaults are skipped, so a newly added field keeps existing hashes)."""
        c = self.cfg

        def dump(spec, exclude=None):
            return spec.model_dump(mode="json", exclude_defaults=True, exclude=exclude)

        # data.max_epochs and data.allow_hub are policies, not data: they change no result
        data = dump(c.data, exclude={"max_epochs", "allow_hub"})
        return {"executor": "real", "data": data, "train": dump(c.train),
                "dist": dump(c.dist), "seq_len": c.model.seq_len, "tie": c.model.tie_embeddings}

    def check(self, reqs: list[RunRequest], *, source: str = "study") -> None:
        """Each planned run resolves to a trainable run (``t2.flows.checks``)."""
        from t2.flows.checks import check_study_data, check_study_runs

        check_study_runs(self.cfg, reqs, source=source)
        check_study_data(self.cfg, reqs, self.paths.cache, source=source)
        self.prepare_data()

    def prepare_data(self) -> None:
        """Build the study's shared corpus once, before any run (on Ray Data with Ray)."""
        from t2.models.data import prepare_corpus

        prepare_corpus(self.cfg.data, self.paths.cache, use_ray=self.use_ray or None,
                       ray_address=self.ray_address)

    def train(self, req: RunRequest, out_dir: Path, *, base_dir: Path | None = None,
              parent_run_id: str | None = None) -> list[Checkpoint]:
        from t2.models.config import RunConfig
        from t2.models.train import train

        name = f"{self.cfg.name}-{Path(out_dir).name}"[-64:]  # unique: the step's hash
        run = run_config(self.cfg, req, name, tracking_uri=self.paths.mlflow_uri)
        if base_dir is not None:  # continue the trunk the earlier step's trainer kept
            data = run.model_dump(mode="json")
            data["train"]["init_from"] = str(self.paths.trainer(base_dir).resolve())
            run = RunConfig.model_validate(data)
        dirs = train(run, self.paths.trainer(out_dir),
                     ray_address=self.ray_address, parent_run_id=parent_run_id,
                     cache_dir=self.paths.cache)
        ckpts = []
        for rdir in dirs:
            tj = read_json(Path(rdir) / "train.json")
            ckpts.append(Checkpoint(N=float(tj["N"]["total"]), D=float(tj["D"]),
                                    val_loss=float(tj["val_loss"]), result_dir=str(rdir),
                                    hf_dir=tj["hf_dir"], flops=tj["train_flops"]["6ND_total"],
                                    epochs=tj.get("repetition", {}).get("epochs")))
        return ckpts

    def evaluate(self, ckpt: Checkpoint, out_dir: Path, *, ks: list[int] | None = None,
                 num_samples: int | None = None,
                 parent_run_id: str | None = None) -> Evaluation:
        from t2.evaluation.evaluate import TABLE_FILE, evaluate_checkpoint

        e, d = self.cfg.eval, self.cfg.dist
        ks, n = list(ks or e.ks), num_samples or e.num_samples
        # ``evaluation/`` is evaluate_checkpoint's own resumable directory (its shards under
        # ``evaluation/samples``, its own _SUCCESS). With Ray, sampling runs on the cluster in a
        # training run's footprint (num_workers actors of threads_per_worker cores, or one GPU
        # each), so it fits the slot this run holds (``max_parallel``) and concurrent runs never
        # wait on each other's actors.
        on_ray = {"use_ray": True, "ray_address": self.ray_address, "num_workers": d.num_workers,
                  "cpus_per_worker": d.threads_per_worker or 1} if self.use_ray else {}
        result = evaluate_checkpoint(
            ckpt.hf_dir, list(e.tasks), Path(out_dir) / "evaluation", n=n,
            num_problems=e.num_problems, seed=self.cfg.select.seed,
            max_new_tokens=e.max_new_tokens, tracking=False, **on_ray)
        tasks = per_task_losses(result.table(), ks, e.p_source)
        loss_k = pooled(tasks)
        write_json(Path(out_dir) / "loss_k.detail.json",
                   {"p_source": e.p_source, "loss_k": loss_k, "summary": result.summary})
        return Evaluation(loss_k=loss_k, eval_dir=str(out_dir), tasks=tasks,
                          problems=str(Path(out_dir) / "evaluation" / TABLE_FILE))

    def posttrain(self, ckpt: Checkpoint, mode: str, out_dir: Path, *,
                  parent_run_id: str | None = None) -> Posttrained:
        """``t2.models.posttrain`` in the step's trainer directory (resumes there), with its
        own MLflow child run under the study's parent."""
        from t2.evaluation.tasks import train_set
        from t2.flows.posttrain import posttrain_config
        from t2.models.posttrain import posttrain, read_summary

        pt = posttrain_config(self.cfg, mode, tracking_uri=self.paths.mlflow_uri)
        examples = train_set(pt.tasks, num=pt.num_train_problems, seed=pt.seed,
                             allow_hub=pt.allow_hub, eval_num=pt.eval_num_problems,
                             eval_seed=pt.eval_seed)
        out = posttrain(pt, ckpt.hf_dir, self.paths.trainer(out_dir), examples,
                        ray_address=self.ray_address, parent_run_id=parent_run_id)
        info = read_summary(out)
        return Posttrained(mode=mode, source=ckpt,
                           checkpoint=replace(ckpt, result_dir=str(out), hf_dir=info["hf_dir"]),
                           flops=float(info["flops"]["6N_tokens"]),
                           seconds=float(info["wall_seconds"]))


def run_config(cfg: StudyConfig, req: RunRequest, name: str, *,
               tracking_uri: str | None = None):
    """The ``RunConfig`` that trains ``req`` (its D values, the study's data and settings)."""
    from t2.models.config import ModelSpec, RunConfig, TrackingSpec, TrainSpec

    return RunConfig(
        name=name,
        model=ModelSpec(params=req.N, seq_len=cfg.model.seq_len,
                        tie_embeddings=cfg.model.tie_embeddings),
        data=cfg.data,
        train=TrainSpec(**{**cfg.train.model_dump(), "tokens": req.D,
                           "decay_at": list(req.Ds[:-1]), "seed": cfg.train.seed + req.seed}),
        dist=cfg.dist,
        tracking=TrackingSpec(enabled=cfg.tracking.enabled, uri=cfg.tracking.uri or tracking_uri,
                              experiment=cfg.tracking.experiment),
    )


def per_task_losses(table, ks: list[int], p_source: str) -> dict[str, dict[int, float]]:
    """{task: {k: mean_i −log pass@k_i}} from the per-problem table."""
    from t2.evaluation.passk import neg_log_pass_at_k_from_nll, pass_at_k

    out = {}
    for task, part in table.groupby("task", sort=True):
        losses = {}
        for k in ks:
            if p_source == "likelihood":
                L = neg_log_pass_at_k_from_nll(part["nll"].to_numpy(dtype=float), k)
            else:
                n, c = part["n"].to_numpy(), part["c"].to_numpy()
                L = -np.log(np.maximum(pass_at_k(n, c, k), 1.0 / (n + 1)))
            losses[int(k)] = float(np.mean(L))
            assert math.isfinite(losses[int(k)]), (task, k)
        out[str(task)] = losses
    return out


def task_losses(table, ks: list[int], p_source: str) -> dict[int, float]:
    """{k: mean over tasks of mean_i −log pass@k_i} from the per-problem table."""
    return pooled(per_task_losses(table, ks, p_source))
