"""Sampling workers: load a checkpoint once, then turn (task, shard) work into shard files.

    from t2.evaluation.workers import SamplingJob, run_shards
    job = SamplingJob(hf_dir="ckpt/", out_dir="out/samples", n=16, temperature=1.0)
    dirs = run_shards(job, shards)                       # in this process
    dirs = run_shards(job, shards, use_ray=True, num_workers=2)   # a pool of Ray actors

Both paths call the same ``run_shard(model, tokenizer, job, shard)``, which samples the shard's
problems, grades them, scores the gold answer's likelihood, and writes one row per problem
(completions, per-sample correctness, n, c, NLL, token counts, inference FLOPs). Finished shards
are skipped before any work is handed out, so rerunning after a crash redoes only the shards
without a valid done-marker. With Ray, each actor holds one loaded model and pulls the next shard
when it finishes one; an actor takes one GPU when there are GPUs, else ``cpus_per_worker`` cores
(default: an equal share of the cluster's cores; torch threads = that many). The actors are
spread over the cluster's nodes, and get absolute paths: a shard's files land in the same place
whichever node samples it (the study root must be on storage every node mounts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from t2.evaluation.shards import Shard, shard_dir, shard_is_done, write_shard
from t2.infra.dist import placement

EXIT_HOOK = "T2_EXIT_AFTER_SHARDS"


@dataclass(frozen=True)
class SamplingJob:
    """Everything a worker needs besides the shard itself."""

    hf_dir: str
    out_dir: str
    n: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    max_new_tokens: int | None = None   # None: the task's own
    num_problems: int | None = None     # the same arguments that planned the shards
    task_kwargs: dict = field(default_factory=dict)   # task name -> get_task kwargs
    batch_tokens_budget: int = 1 << 16
    likelihood_batch_size: int = 16

    def settings(self) -> dict:
        """What changes the samples (a shard written under other settings is redone)."""
        return {"n": self.n, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed, "max_new_tokens": self.max_new_tokens,
                "num_problems": self.num_problems, "task_kwargs": self.task_kwargs}


def load_checkpoint(hf_dir: str | Path, device: str | None = None):
    """(model, tokenizer) from a t2 / HF checkpoint directory, in eval mode on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per tiny checkpoint drowns the study's own progress

    if not (Path(hf_dir) / "config.json").is_file():
        raise ValueError(f"checkpoint {hf_dir}: no config.json (not an HF checkpoint directory)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # safetensors only: a pickled pytorch_model.bin is refused, not unpickled
    model = AutoModelForCausalLM.from_pretrained(hf_dir, use_safetensors=True,
                                                 local_files_only=True).to(device).eval()
    return model, AutoTokenizer.from_pretrained(hf_dir)


def task_problems(name: str, job: SamplingJob):
    """(task, problems) as the planner saw them: same kwargs, count and seed."""
    from t2.evaluation.tasks import get_task

    task = get_task(name, **job.task_kwargs.get(name, {}))
    return task, task.problems(num=job.num_problems, seed=job.seed)


def run_shard(model, tokenizer, job: SamplingJob, shard: Shard) -> Path:
    """Sample, grade and score one shard; write it atomically with its done-marker."""
    from t2.evaluation.likelihood import gold_logprobs
    from t2.evaluation.sample import sample_detailed
    from t2.evaluation.score import grade

    task, problems = task_problems(shard.task, job)
    by_id = {p.id: p for p in problems}
    missing = [i for i in shard.problem_ids if i not in by_id]
    if missing:
        raise ValueError(f"task {shard.task}: shard problems {missing[:3]} not in the task")
    chosen = [by_id[i] for i in shard.problem_ids]
    drawn = sample_detailed(
        model, tokenizer, [p.prompt for p in chosen], job.n,
        max_new_tokens=job.max_new_tokens or task.max_new_tokens, temperature=job.temperature,
        top_p=job.top_p, stop=tuple(task.stop), seed=job.seed,
        keys=[f"{shard.task}/{p.id}" for p in chosen], batch_tokens_budget=job.batch_tokens_budget)
    likelihoods = gold_logprobs(model, tokenizer, chosen, batch_size=job.likelihood_batch_size)
    rows = []
    for j, problem in enumerate(chosen):
        n, c, correct = grade(task, problem, drawn.completions[j])
        row = {"task": shard.task, "problem_id": problem.id, "n": int(n), "c": int(c),
               "correct": [bool(x) for x in correct], "completions": drawn.completions[j],
               "new_tokens": drawn.new_tokens[j], "prompt_tokens": drawn.prompt_tokens[j],
               **flops_fields(model.config, drawn.prompt_tokens[j], drawn.new_tokens[j])}
        row.update({k: v for k, v in likelihoods[j].items() if k not in row})
        rows.append(row)
    # which node/process sampled it goes into the shard's marker (multi-node runs are checkable)
    return write_shard(shard_dir(job.out_dir, shard), rows, shard.key, worker=placement())


def flops_fields(config, prompt_tokens: int, new_tokens: list[int]) -> dict:
    """Inference FLOPs of one problem's samples, from t2.models.sizing.

    ``flops_per_sample`` = prefill + mean decode: what one sample costs alone (the per-sample
    convention of the scaling law); ``flops_total_shared`` = what was spent here, the prompt
    prefilled once for all n samples.
    """
    from t2.models.sizing import inference_flops

    prefill = inference_flops(config, prompt_tokens, 0, 1)
    decode = [inference_flops(config, prompt_tokens, t, 1) - prefill for t in new_tokens]
    mean_decode = sum(decode) / len(decode)
    return {"flops_prefill": prefill, "flops_per_sample": prefill + mean_decode,
            "flops_total_shared": prefill + sum(decode),
            "mean_new_tokens": sum(new_tokens) / len(new_tokens)}


def pending(job: SamplingJob, shards: list[Shard]) -> list[Shard]:
    return [s for s in shards if not shard_is_done(shard_dir(job.out_dir, s), s.key)]


def run_shards(job: SamplingJob, shards: list[Shard], *, use_ray: bool = False,
               num_workers: int | None = None, ray_address: str | None = None,
               cpus_per_worker: int | None = None) -> list[Path]:
    """Run every shard that is not done yet; return all shard directories (in ``shards`` order)."""
    todo = pending(job, shards)
    if todo and use_ray:
        _run_with_ray(job, todo, num_workers, ray_address, cpus_per_worker)
    elif todo:
        model, tokenizer = load_checkpoint(job.hf_dir)
        for num_done, shard in enumerate(todo, start=1):
            run_shard(model, tokenizer, job, shard)
            _maybe_crash(num_done)
    return [shard_dir(job.out_dir, s) for s in shards]


def _maybe_crash(num_done: int) -> None:
    """Tests: die like a killed process once ``$T2_EXIT_AFTER_SHARDS`` shards are written."""
    limit = os.environ.get(EXIT_HOOK)
    if limit is not None and num_done >= int(limit):
        os._exit(3)


def _worker_resources(num_workers: int | None, cores: int | None = None,
                      num_gpus: int | None = None,
                      cpus_per_worker: int | None = None) -> tuple[int, dict]:
    """Actor count and per-actor resources: one GPU each if any, else ``cpus_per_worker`` cores
    or a share of the cores (``cores``/``num_gpus``: the Ray cluster's; default: this
    machine's)."""
    import torch

    num_gpus = torch.cuda.device_count() if num_gpus is None else num_gpus
    if num_gpus:
        return num_workers or num_gpus, {"num_gpus": 1, "num_cpus": 1}
    cores = cores or os.cpu_count() or 1
    num_workers = num_workers or max(1, min(2, cores))
    return num_workers, {"num_cpus": cpus_per_worker or max(1, cores // num_workers)}


def _run_with_ray(job: SamplingJob, todo: list[Shard], num_workers: int | None,
                  ray_address: str | None, cpus_per_worker: int | None = None) -> None:
    import ray
    from ray.util import ActorPool

    # an actor's working directory is not this process's (other node, or a Ray job's driver)
    job = replace(job, hf_dir=str(Path(job.hf_dir).resolve()),
                  out_dir=str(Path(job.out_dir).resolve()))
    from t2.infra.ray_cluster import start_or_join_ray

    # joins the given cluster (refusing in one line if it does not answer), else a private
    # local Ray on 127.0.0.1
    started = start_or_join_ray(ray_address, log_to_driver=False)
    actors = []
    try:
        # Size the actors by the cluster, not this driver: with ray_address they may run on
        # other nodes (a share of a 1-CPU node must still fit on it).
        total = ray.cluster_resources()
        num_workers, resources = _worker_resources(num_workers, int(total.get("CPU", 0)) or None,
                                                   int(total.get("GPU", 0)), cpus_per_worker)
        num_workers = min(num_workers, len(todo))
        actor_cls = ray.remote(scheduling_strategy="SPREAD", **resources)(ShardWorker)
        threads = max(1, int(resources["num_cpus"]))
        actors = [actor_cls.remote(job.hf_dir, threads) for _ in range(num_workers)]
        pool = ActorPool(actors)
        for _ in pool.map_unordered(lambda a, s: a.run.remote(job, s), todo):
            pass  # results are on disk; iterating surfaces any worker error
    finally:
        for actor in actors:  # free their resources for the next job even after an error
            ray.kill(actor)
        if started:
            ray.shutdown()


class ShardWorker:
    """A Ray actor body: one loaded checkpoint, many shards."""

    def __init__(self, hf_dir: str, num_threads: int):
        import torch

        torch.set_num_threads(num_threads)
        self.model, self.tokenizer = load_checkpoint(hf_dir)

    def run(self, job: SamplingJob, shard: Shard) -> str:
        return str(run_shard(self.model, self.tokenizer, job, shard))
