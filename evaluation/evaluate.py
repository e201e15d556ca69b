"""Evaluate one checkpoint: sample shards -> per-problem table -> pass@k summary (+ MLflow).

    from t2.evaluation.evaluate import evaluate_checkpoint, format_passk_table
    result = evaluate_checkpoint("runs/x/D-1e6/hf", ["arithmetic"], "runs/x/eval", n=16,
                                 temperature=1.0, top_p=0.95, num_problems=64, seed=0)
    print(format_passk_table(result.summary))      # or: t2 evaluate CKPT --tasks arithmetic --n 16

Layout of ``out_dir``::

    samples/{task}/shard-00000/samples.jsonl + _SUCCESS   completions and per-sample correctness
    per_problem.parquet    one row per (task, problem): n, c, nll, p, tokens, inference FLOPs
    summary.json           per task: pass@k (k = 1, 2, 4, ..., n) with bootstrap CIs, mean NLL,
                           likelihood pass@k 1-(1-p)^k, mean FLOPs per sample
    _SUCCESS               written last; a rerun with the same settings returns at once

Only (n, c, NLL) per problem are stored as the primary result, never only aggregates, so any
pass@k or CI can be recomputed later from the table. A rerun after a crash redoes only the
unfinished shards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from t2.evaluation.passk import bootstrap_ci, pass_at_k_curve, pass_at_k_from_p
from t2.evaluation.shards import plan_shards, read_shard
from t2.evaluation.workers import SamplingJob, run_shards, task_problems
from t2.infra.storage import (
    atomic_write,
    done_manifest,
    hash8,
    is_done,
    mark_done,
    read_json,
    write_json,
)

TABLE_FILE = "per_problem.parquet"
SUMMARY_FILE = "summary.json"
SAMPLES_DIR = "samples"
LIST_COLUMNS = ("completions", "correct", "new_tokens")  # kept in the shards only


@dataclass(frozen=True)
class EvalResult:
    out_dir: Path
    summary: dict             # task -> metrics (see module docstring)

    @property
    def table_path(self) -> Path:
        return self.out_dir / TABLE_FILE

    def table(self):
        import pandas as pd

        return pd.read_parquet(self.table_path)


def powers_of_two_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, with n itself always included."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) <= n]
    return ks if ks[-1] == n else ks + [n]


def evaluate_checkpoint(hf_dir: str | Path, tasks: list[str], out_dir: str | Path, n: int,
                        temperature: float = 1.0, top_p: float = 1.0,
                        num_problems: int | None = None, seed: int = 0, *,
                        max_new_tokens: int | None = None, task_kwargs: dict | None = None,
                        problems_per_shard: int = 32, use_ray: bool = False,
                        num_workers: int | None = None, ray_address: str | None = None,
                        cpus_per_worker: int | None = None, tracking: bool = True,
                        tracking_uri: str | None = None, experiment: str = "t2-evaluate",
                        parent_run_id: str | None = None,
                        num_bootstrap: int = 1000) -> EvalResult:
    """Sample ``n`` completions per problem of each task, grade, score and summarise."""
    out = Path(out_dir)
    if not tasks:
        raise ValueError("tasks: name at least one task")
    if not (Path(hf_dir) / "config.json").is_file():
        raise ValueError(f"checkpoint {hf_dir}: no config.json (not an HF checkpoint directory)")
    job = SamplingJob(hf_dir=str(hf_dir), out_dir=str(out / SAMPLES_DIR), n=n,
                      temperature=temperature, top_p=top_p, seed=seed,
                      max_new_tokens=max_new_tokens, num_problems=num_problems,
                      task_kwargs=dict(task_kwargs or {}))
    settings = {**job.settings(), "checkpoint": str(Path(hf_dir).resolve()),
                "tasks": sorted(tasks), "problems_per_shard": problems_per_shard}
    key = hash8(settings)
    if is_done(out, verify=False) and done_manifest(out).get("key") == key:
        return EvalResult(out, read_json(out / SUMMARY_FILE))
    ids = {name: [p.id for p in task_problems(name, job)[1]] for name in sorted(set(tasks))}
    shards = plan_shards(ids, problems_per_shard=problems_per_shard, settings=key)
    dirs = run_shards(job, shards, use_ray=use_ray, num_workers=num_workers,
                      ray_address=ray_address, cpus_per_worker=cpus_per_worker)
    rows = [row for d in dirs for row in read_shard(d)]
    table = per_problem_table(rows)
    summary = summarize(table, n, num_bootstrap=num_bootstrap, seed=seed)
    _write_table(out / TABLE_FILE, table)
    write_json(out / SUMMARY_FILE, summary)
    if tracking:
        log_to_mlflow(out, summary, settings, tracking_uri, experiment, Path(hf_dir).name,
                      parent_run_id)
    mark_done(out, {"key": key, "settings": settings})
    return EvalResult(out, summary)


def per_problem_table(rows: list[dict]):
    """Shard rows -> one DataFrame row per problem, scalar columns only, sorted by task and id."""
    import pandas as pd

    table = pd.DataFrame([{k: v for k, v in r.items() if k not in LIST_COLUMNS} for r in rows])
    if "nll" in table and "p" not in table:
        table["p"] = np.exp(-table["nll"].astype(float))
    return table.sort_values(["task", "problem_id"]).reset_index(drop=True)


def _write_table(path: Path, table) -> None:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write(path, buf.getvalue())


def summarize(table, n: int, *, num_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Per task: pass@k curve with bootstrap CIs over problems, mean NLL, likelihood pass@k."""
    ks = powers_of_two_ks(n)
    summary = {}
    for task, part in table.groupby("task", sort=True):
        curve = pass_at_k_curve(part["n"].to_numpy(), part["c"].to_numpy(), ks)
        lo, hi = bootstrap_ci(curve, num=num_bootstrap, seed=seed)
        entry = {
            "num_problems": len(part), "n": n, "ks": ks,
            "pass_at_k": {str(k): float(v) for k, v in zip(ks, curve.mean(axis=0))},
            "pass_at_k_ci": {str(k): [float(a), float(b)] for k, a, b in zip(ks, lo, hi)},
            "mean_flops_per_sample": float(part["flops_per_sample"].mean()),
            "mean_new_tokens": float(part["mean_new_tokens"].mean()),
            "mean_prompt_tokens": float(part["prompt_tokens"].mean()),
        }
        if "nll" in part:
            p = np.clip(part["p"].to_numpy(dtype=float), 0.0, 1.0)
            entry["mean_nll"] = float(part["nll"].mean())
            entry["likelihood_pass_at_k"] = {
                str(k): float(np.mean(pass_at_k_from_p(p, k))) for k in ks}
        summary[str(task)] = entry
    return summary


def log_to_mlflow(out: Path, summary: dict, settings: dict, uri: str | None, experiment: str,
                  run_name: str, parent_run_id: str | None = None) -> str | None:
    """One MLflow run per evaluation (nested under ``parent_run_id`` if given): settings as
    params, pass@k curves with step = k, the summary and table as artifacts. Nested, an
    evaluation killed after its run was created and redone reattaches to it (its step tag)."""
    from t2.infra.tracking import flatten, open_tracker

    tracker = open_tracker(uri=uri, experiment=experiment, run_dir=out,
                           run_name=f"evaluate-{run_name}", parent_run_id=parent_run_id)
    try:
        tracker.log_params(flatten({"evaluate": settings}))
        for task, entry in summary.items():
            for k in entry["ks"]:
                tracker.log_metrics({f"{task}/pass_at_k": entry["pass_at_k"][str(k)],
                                     **({f"{task}/likelihood_pass_at_k":
                                         entry["likelihood_pass_at_k"][str(k)]}
                                        if "likelihood_pass_at_k" in entry else {})}, step=k)
            scalars = {f"{task}/{m}": entry[m] for m in
                       ("mean_nll", "mean_flops_per_sample", "mean_new_tokens") if m in entry}
            tracker.log_metrics(scalars, step=0)
        tracker.log_artifact(out / SUMMARY_FILE)
        tracker.log_artifact(out / TABLE_FILE)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish()
    return tracker.run_id


def format_passk_table(summary: dict) -> str:
    """A plain-text table: one row per task, one column per k, then mean NLL."""
    ks = sorted({k for e in summary.values() for k in e["ks"]})
    head = ["task", "problems"] + [f"pass@{k}" for k in ks] + ["NLL"]
    lines = [head]
    for task, e in summary.items():
        cells = [task, str(e["num_problems"])]
        cells += [f"{e['pass_at_k'][str(k)]:.3f}" if str(k) in e["pass_at_k"] else "-"
                  for k in ks]
        cells.append(f"{e['mean_nll']:.3f}" if "mean_nll" in e else "-")
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in lines)
