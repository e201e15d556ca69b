"""Training: ``train(cfg, out)`` launches; ``train_worker(config)`` is the per-rank loop.

    from t2.models.train import train
    result_dirs = train(load_config("run.yaml", RunConfig), "runs/tiny")   # or: t2 train run.yaml

World size 1 runs in this process; ``dist.num_workers > 1``, ``dist.use_ray`` or a Ray address
(``ray_address`` or ``$RAY_ADDRESS``: a given cluster is always used, t2.infra.ray_cluster) runs
the same ``train_worker`` on every rank of a Ray Train job, after the driver built the shared
corpus. ``train.json`` of each decayed checkpoint records how often the run repeated its data
(``repetition``: unique tokens, tokens consumed, epochs; t2.models.repetition). Rerunning a
finished run returns at once; an interrupted one resumes from its newest complete checkpoint,
bit-for-bit on CPU: the batch at a step is a pure function of (seed, step, rank, world size) and
the LR of the step, so the only loop state is ``progress`` (optimizer steps executed, see
t2.models.schedule) plus RNG states. Under Ray Train a crashed rank (e.g. a SIGKILLed worker)
makes Ray restart the whole worker group up to ``dist.max_failures`` times; the new ranks resume
the same way, from the newest checkpoint whose checksums still match. Each resume appends a line
to ``resumes.jsonl`` (step, checkpoint, seconds to find and load it, where every rank ran);
``workers/rank-*.json`` say where the ranks of the latest start run (Ray node id, hostname,
pid).

``train.init_from: DIR`` continues the finished run DIR from the trunk state it kept (the
state before its last decay) instead of starting from step 0: same batches, optimizer state
and trunk LR as if DIR's run had gone on, so only the new tokens are trained; DIR is only
read (see t2.models.extend).
"""

from __future__ import annotations

from pathlib import Path

from t2.infra.config import dump_config
from t2.infra.ray_cluster import wants_ray
from t2.infra.storage import is_done
from t2.models.config import RunConfig
from t2.models.run_log import snapshot, tracking_run
from t2.models.train_export import result_dir


def train(cfg: RunConfig, out_dir: str | Path, *, ray_address: str | None = None,
          parent_run_id: str | None = None, cache_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume, or skip) one training run; return its finished result directories."""
    out = Path(out_dir)
    _snapshot(cfg, out)
    if not is_done(out):
        from t2.models.extend import prepare

        continued = prepare(cfg, out)  # train.init_from: check the source, link its trunk in
        worker_cfg = {"run": cfg.model_dump(mode="json"), "out_dir": str(out.resolve()),
                      "cache_dir": str(cache_dir) if cache_dir else None,
                      "run_id": _tracking_run(cfg, out, parent_run_id),
                      "continued": continued}
        if wants_ray(cfg.dist.use_ray, cfg.dist.num_workers, ray_address):
            _launch_on_ray(cfg, out, worker_cfg, ray_address, cache_dir)
        else:
            train_worker(worker_cfg)
        if not is_done(out):
            raise RuntimeError(f"{out}: training ended without _SUCCESS")
    elif cfg.tracking.enabled:  # a rerun sends what a tracking outage kept (t2.infra.tracking)
        from t2.infra.tracking import default_uri, send_outboxes

        send_outboxes(cfg.tracking.uri or default_uri(out), cfg.tracking.experiment, [out])
    return [result_dir(out, D) for D in cfg.train.decay_points]


def _launch_on_ray(cfg: RunConfig, out: Path, worker_cfg: dict, ray_address: str | None,
                   cache_dir) -> None:
    """Start or join Ray once, build the shared corpus from the driver (a sharded one on the
    cluster's nodes, so that no Ray Train worker waits on it), then run the ranks."""
    import os

    from t2.infra.ray_cluster import start_or_join_ray
    from t2.infra.ray_train import launch
    from t2.infra.storage import hash8
    from t2.models.data import prepare_corpus

    cpus = cfg.dist.threads_per_worker or 1
    started = start_or_join_ray(ray_address, num_cpus=max(os.cpu_count() or 1,
                                                          cfg.dist.num_workers * cpus))
    try:
        prepare_corpus(cfg.data, cache_dir)
        launch(train_worker, worker_cfg, num_workers=cfg.dist.num_workers,
               use_gpu=cfg.dist.use_gpu, run_name=f"{cfg.name}-{hash8(worker_cfg['run'])}",
               storage_path=out / "ray", ray_address=ray_address, cpus_per_worker=cpus,
               backend=cfg.dist.backend, max_failures=cfg.dist.max_failures)
    finally:
        if started:
            import ray

            ray.shutdown()


def _same_run(path: Path, cfg: RunConfig) -> bool:
    """Whether a snapshot written by an older t2 (before fields with defaults were added)
    describes this same run."""
    import yaml
    from pydantic import ValidationError

    try:
        return RunConfig.model_validate(yaml.safe_load(path.read_text())) == cfg
    except (ValidationError, yaml.YAMLError, TypeError):
        return False


def _snapshot(cfg: RunConfig, out: Path) -> None:
    snapshot(out, dump_config(cfg), "run", same=lambda path: _same_run(path, cfg))


def _tracking_run(cfg: RunConfig, out: Path, parent_run_id: str | None) -> str | None:
    """Create the MLflow run once (in the driver, no races) or reattach to the saved one."""
    from t2.infra.tracking import flatten

    return tracking_run(cfg.tracking, out, cfg.name, lambda: flatten(cfg.model_dump(mode="json")),
                        parent_run_id, children={})


def train_worker(config: dict) -> None:
    """The per-rank entry (in-process or a Ray Train worker): build, resume, loop, export."""
    from t2.models.train_loop import Loop

    Loop(RunConfig.model_validate(config["run"]), Path(config["out_dir"]),
         cache_dir=config.get("cache_dir"), run_id=config.get("run_id"),
         continued=config.get("continued")).run()
