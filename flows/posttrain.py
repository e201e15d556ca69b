"""The post-training stage's pieces: which checkpoints, the run of each, the laws on the results.

    chosen = posttrain_checkpoints(cfg, ledger.observations(study))   # posttrain.checkpoints
    run_cfg = posttrain_config(cfg, "sft", tracking_uri=paths.mlflow_uri)  # t2.models config
    rec = fit_posttrained(cfg, posttrained_obs, flops)                # RoundRecord of the laws

The T² paper's third question (Roberts et al. 2026, arXiv 2604.01411): does the overtraining
advantage survive post-training? The paper fine-tunes its checkpoints (FT on whole sequences,
SFT on answers only, 6 epochs on the train splits of real tasks) and finds the advantage
survives while the optimal degree of overtraining shrinks somewhat. Here each chosen
pretrained checkpoint is post-trained in each mode (t2.models.posttrain: same DeepSpeed engine
and launch path as pretraining), evaluated exactly as the pretrained ones (the study's
``eval``), and every task's laws are fitted again by both approaches (t2.flows.rounds.fit_round,
t2.flows.task_fits) with N and D those of pretraining. Post-training FLOPs (6·N·tokens
processed) are counted on their own, beside the study's training budget. The driver
(t2.flows.driver.Driver.posttrain) runs the steps; the report compares the forecasts
(t2.flows.report_posttrain).
"""

from __future__ import annotations

from t2.flows.config import StudyConfig
from t2.flows.records import Observation, Posttrained, RoundRecord
from t2.flows.rounds import fit_round, round_record
from t2.flows.steps import StudyPaths
from t2.infra.storage import is_done, read_json


def posttrain_tasks(cfg: StudyConfig) -> list[str]:
    return list(cfg.posttrain.tasks or cfg.eval.tasks)


def posttrain_checkpoints(cfg: StudyConfig, obs: list[Observation],
                          rounds: dict[int, int]) -> list[Observation]:
    """The pretrained checkpoints to post-train (``rounds``: run -> its selection round): every
    one; each run's longest D; or those of the study's first round (its seed design, a spread
    over sizes and tokens/param that can be fitted alone: the cheap subset)."""
    which = cfg.posttrain.checkpoints
    if which == "first_round":
        first = min((rounds.get(o.run, 0) for o in obs), default=0)
        obs = [o for o in obs if rounds.get(o.run, 0) == first]
    elif which == "last":
        last: dict[int, Observation] = {}
        for o in obs:
            if o.run not in last or o.D > last[o.run].D:
                last[o.run] = o
        obs = list(last.values())
    return sorted(obs, key=lambda o: (o.N, o.D))


def posttrain_config(cfg: StudyConfig, mode: str, *, tracking_uri: str | None = None):
    """The ``t2.models.posttrain_config.PosttrainConfig`` of one checkpoint's run: the stage's
    settings, the study's distribution and tracking, and the evaluation's problem count and
    seed (what the split hashes prove the training problems disjoint from)."""
    from t2.models.config import TrackingSpec
    from t2.models.posttrain_config import PosttrainConfig

    p = cfg.posttrain
    return PosttrainConfig(
        mode=mode, tasks=posttrain_tasks(cfg), epochs=p.epochs, num_train_problems=p.num_train,
        allow_hub=p.allow_hub, eval_num_problems=cfg.eval.num_problems,
        eval_seed=cfg.select.seed, lr=p.lr, lr_frac=p.lr_frac, batch_size=p.batch_size,
        micro_batch=p.micro_batch, seed=p.seed, dist=cfg.dist,
        tracking=TrackingSpec(enabled=cfg.tracking.enabled, uri=cfg.tracking.uri or tracking_uri,
                              experiment=cfg.tracking.experiment))


def step_config(cfg: StudyConfig) -> dict:
    """What makes a post-trained checkpoint differ (the step hash): the stage's run settings,
    not which checkpoints or modes are chosen, nor whether the stage is on."""
    return cfg.posttrain.model_dump(mode="json", exclude_defaults=True,
                                    exclude={"enabled", "modes", "checkpoints"})


def fit_posttrained(cfg: StudyConfig, obs: list[Observation], flops: float) -> RoundRecord:
    """Every task's laws (both approaches) and the pooled law on the post-trained checkpoints,
    as a round would fit them (same bootstrap size and seed); unfitted: a record without one."""
    targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
    fit = fit_round(obs, targets, num_bootstrap=cfg.select.num_bootstrap,
                    seed=cfg.select.seed + len({o.run for o in obs}),
                    approach2=cfg.eval.approach2)
    return round_record(fit, num_runs=len({o.run for o in obs}), num_checkpoints=len(obs),
                        flops=flops, interval=cfg.select.interval)


def posttrained_so_far(paths: StudyPaths) -> dict[str, list[Posttrained]]:
    """Per mode, the finished post-training steps (``t2 status`` counts them while the stage
    runs)."""
    out: dict[str, list[Posttrained]] = {}
    for d in sorted((paths.root / "posttrain").glob("*")):
        if d.is_dir() and is_done(d):
            pt = Posttrained.from_dict(read_json(d / "posttrained.json"))
            out.setdefault(pt.mode, []).append(pt)
    return out
