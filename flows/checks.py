"""Checks that need no compute, run before any: by ``t2 validate``, ``t2 plan``, ``t2 run``.

    summary = check_run(run_cfg, source="run.yaml")     # a training run's shape and hparams
    reqs = check_study(cfg, "active", source="study.yaml")   # the first runs a study would train
    check_study_runs(cfg, reqs, source="study.yaml")     # each of them as a real training run

Each raises ``ConfigError`` with one line naming the file and the field (or run) at fault, so a
study whose seed design does not fit its budget, or whose smallest run cannot fill one batch,
fails at its first command instead of after training half of it.
"""

from __future__ import annotations

from t2.flows.config import StudyConfig
from t2.flows.plan import RunRequest, grid_schedule, run_flops, seed_design, size_rungs
from t2.infra.config import ConfigError


def check_run(cfg, world_size: int | None = None, source: str = "config") -> dict:
    """Resolve a ``RunConfig``'s shape and hparams without torch, so impossible combinations
    fail at validation (e.g. ``train.tokens`` smaller than one batch). Returns a summary."""
    from t2.models.hparams import resolve
    from t2.models.ladder import shape_for
    from t2.models.schedule import from_hparams
    from t2.models.sizing import param_counts
    from t2.models.tokenizer import vocab_size

    try:
        vocab = vocab_size(cfg.data)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    counts = param_counts(shape_for(cfg.model, vocab))
    world = world_size or cfg.dist.num_workers
    try:
        hp = resolve(counts["total"], cfg.train.tokens, cfg.train, cfg.model.seq_len, world)
        from_hparams(hp)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    if cfg.data.corpus_tokens < 2 * hp.batch_tokens:
        raise ConfigError(f"{source}: data.corpus_tokens: {cfg.data.corpus_tokens:g} tokens "
                          f"cannot fill a batch of {hp.batch_tokens} tokens")
    return {"N": counts["total"], "batch_tokens": hp.batch_tokens, "lr": hp.lr,
            "steps": hp.num_steps, "D": [s * hp.batch_tokens for s in hp.decay_steps]}


def first_runs(cfg: StudyConfig, strategy: str | None = None) -> list[RunRequest]:
    """What a study trains first: the grid for the grid strategy, else the seed design."""
    strategy = strategy or cfg.select.strategy
    return grid_schedule(cfg) if strategy == "grid" else seed_design(cfg)


def check_study(cfg: StudyConfig, strategy: str | None = None, *,
                source: str = "study") -> list[RunRequest]:
    """The study's first runs, checked: the size range has rungs, the seed design is not empty
    and fits ``budget.train_flops`` (a grid may be cut short by the budget: it is a schedule)."""
    strategy = strategy or cfg.select.strategy
    try:
        size_rungs(cfg)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    reqs = first_runs(cfg, strategy)
    if not reqs:
        raise ConfigError(f"{source}: design: no {strategy} run fits the size range and the "
                          "compute levels (widen model.params_* or budget.compute)")
    if cfg.posttrain.enabled:
        check_posttrain(cfg, source=source)
    total = sum(run_flops(r, cfg.train.decay_frac) for r in reqs)
    if strategy != "grid" and total > cfg.budget.train_flops:
        raise ConfigError(f"{source}: budget.train_flops: the seed design alone needs "
                          f"{total:.3g} FLOPs, more than {cfg.budget.train_flops:.3g}")
    return reqs


def check_posttrain(cfg: StudyConfig, *, source: str = "study") -> None:
    """Every post-training task has a train split (a real task's may need ``allow_hub``)."""
    from t2.evaluation.tasks import train_problems
    from t2.flows.posttrain import posttrain_tasks

    for name in posttrain_tasks(cfg):
        try:
            train_problems(name, 1, allow_hub=cfg.posttrain.allow_hub)
        except ValueError as err:
            raise ConfigError(f"{source}: posttrain.tasks: {err}") from None


def check_study_data(cfg: StudyConfig, reqs: list[RunRequest], cache_dir, *,
                     source: str = "study") -> None:
    """The data exist and load (files, globs, fields, tokenizer), and no first run repeats a
    source more than ``data.max_epochs`` times (Muennighoff et al. 2023, arXiv 2305.16264)."""
    from t2.models.data import check_data
    from t2.models.repetition import check_epochs

    try:
        check_data(cfg.data, cache_dir)
        check_epochs(cfg.data, [(f"N={r.N:.3g} D={r.D:.3g}", r.D) for r in reqs], cache_dir)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def check_study_runs(cfg: StudyConfig, reqs: list[RunRequest], *, source: str = "study") -> None:
    """Each request as the training run it becomes (``t2.flows.executors.real.run_config``)."""
    from t2.flows.executors.real import run_config

    for req in reqs:
        name = f"N={req.N:.3g} D={req.D:.3g}"
        check_run(run_config(cfg, req, "check"), source=f"{source}: run {name}")
