"""The typed config of one T² study (``t2 run STUDY.yaml``): bounds, budgets, design, selection.

    from t2.flows.config import load_study
    cfg = load_study("examples/tiny.yaml", overrides=["select.strategy=grid"])

A study embeds the pieces of a training run (``t2.models.config``: data, optimisation defaults,
distribution, tracking) and adds what only a study has: the size range N may take, the study's
total training budget, the (C_train, C_inf) budgets to forecast at, the tokens/param range of the
design, the evaluation (tasks, n samples, k list) and the selection strategy. A bad field fails at
load with one line naming it (``ConfigError``), before any compute.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator, model_validator
from t2.infra.config import Spec, distinct, load_config
from t2.models.config import DataSpec, DistSpec, OptimSpec, TrackingSpec


class SizeSpec(Spec):
    """The range of model sizes the study may train: ``num_sizes`` log-spaced rungs, or with
    ``ladder`` the depth rungs of ``t2.models.ladder`` (what real training builds) in range."""

    params_min: float = Field(..., gt=0, description="smallest N (total params, with embeddings)")
    params_max: float = Field(..., gt=0, description="largest N")
    num_sizes: int = Field(8, ge=2, le=64, description="number of size rungs between min and max")
    ladder: bool = Field(False, description="rungs = the model ladder's depths in range")
    seq_len: int = Field(256, ge=8, le=131072, description="training context length in tokens")
    tie_embeddings: bool = Field(False, description="share input embedding and unembedding")

    @model_validator(mode="after")
    def _range(self):
        if self.params_max <= self.params_min:
            raise ValueError("params_max must be > params_min")
        return self


class TargetSpec(Spec):
    """One forecast point: a training budget and a per-query inference budget (Roberts et al.
    2026, arXiv 2604.01411)."""

    c_train: float = Field(..., gt=0, description="training FLOPs, 6·N·D")
    c_inf: float = Field(..., gt=0, description="inference FLOPs per token per query, 2·N·k")


class DeploymentSpec(Spec):
    """The pooled bill C_total = 6·N·D + 2·N·k·T·Q of a deployment team (Roberts et al. 2026,
    arXiv 2604.01411)."""

    c_total: float = Field(..., gt=0, description="total FLOPs, training plus lifetime inference")
    tokens_per_sample: float = Field(..., gt=0, description="T: tokens per sample incl. prefill")
    queries: float = Field(..., gt=0, description="Q: lifetime queries")


class BudgetSpec(Spec):
    """What the study may spend and where it forecasts."""

    train_flops: float = Field(..., gt=0, description="total training FLOPs the study may spend")
    compute: list[float] = Field(..., min_length=1, description="per-run compute levels 6·N·D "
                                 "used by the seed design and the grid strategy")
    targets: list[TargetSpec] = Field(default_factory=list, description="forecast budgets")
    deployment: DeploymentSpec | None = Field(None, description="optional pooled budget")

    @model_validator(mode="after")
    def _something_to_forecast(self):
        if not self.targets and self.deployment is None:
            raise ValueError("set targets (c_train, c_inf) and/or a deployment profile")
        if any(c <= 0 for c in self.compute):
            raise ValueError("compute: each level must be > 0")
        return self


class DesignSpec(Spec):
    """The seed design and the candidate grid, in tokens per parameter r = D/N."""

    tokens_per_param: tuple[float, float] = Field((10.0, 3000.0), description="min, max of D/N")
    seed: Literal["grid", "ratios"] = Field(
        "grid", description="the first runs of an active study: the grid's opening rounds "
        "until a law can be fitted, or seed_ratios at the seed_budgets cheapest levels")
    seed_ratios: list[float] = Field([20.0, 100.0, 500.0, 2000.0], min_length=2,
                                     description="tokens/param ratios of the ratios seed")
    seed_budgets: int = Field(2, ge=1, description="cheapest compute levels of the ratios seed")
    grid_sizes: int = Field(5, ge=2, le=32, description="sizes per compute level (grid strategy)")
    num_ratios: int = Field(12, ge=2, le=128, description="candidate D values per size rung")
    max_seeds: int = Field(1, ge=1, le=64, description="active: seeds a candidate (N, D) may be "
                           "trained with; > 1 lets the selector rerun a held point with a new "
                           "seed (its seed noise averages out; t2.flows.plan.candidates)")
    pool: list[tuple[float, float]] | None = Field(
        None, description="(N, D) of the only runs the study may train, each on its own (a "
        "replayed results table); None: any size rung at any candidate ratio")

    @model_validator(mode="after")
    def _ratios(self):
        lo, hi = self.tokens_per_param
        if not 0 < lo < hi:
            raise ValueError("tokens_per_param: need 0 < min < max")
        if any(not lo <= r <= hi for r in self.seed_ratios):
            raise ValueError("seed_ratios: each must lie inside tokens_per_param")
        if self.pool is not None and (len(self.pool) < 2 or any(
                not (n > 0 and d > 0) for n, d in self.pool)):
            raise ValueError("pool: need two or more (N, D) pairs, each > 0")
        return self


class EvalSpec(Spec):
    """Sampling evaluation of each checkpoint; L(k) = mean −log pass@k over problems."""

    tasks: list[str] = Field(["arithmetic"], min_length=1, description="task names")
    num_samples: int = Field(16, ge=1, description="n completions per problem")
    ks: list[int] = Field([1, 2, 4, 8, 16], min_length=1, description="k values fitted")
    num_problems: int | None = Field(None, ge=1, description="problems per task (None: all)")
    p_source: Literal["likelihood", "sampled"] = Field(
        "likelihood", description="p_i from the gold answer's likelihood or from c_i/n")
    max_new_tokens: int = Field(16, ge=1, description="completion length cap")
    approach2: Literal["counts", "likelihood"] = Field(
        "counts", description="T² Approach 2 data: beta-binomial on the sampled counts c_i of n, "
        "or Beta on the gold answer's likelihood p_i (sensitive to its far lower tail)")

    def step_config(self) -> dict:
        """What makes an evaluation differ (its step hash): not ``approach2``, which only
        chooses the data a fit reads, so switching it refits without sampling again."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"approach2"})

    @model_validator(mode="after")
    def _ks(self):
        if any(k < 1 or k > self.num_samples for k in self.ks):
            raise ValueError("ks: each k must be in 1..num_samples")
        return self


class ValidationSpec(Spec):
    """The validation stage (the T² paper's second question): after selection, train the
    forecast T² optimum and the Chinchilla-optimal model at each budget and measure both."""

    enabled: bool = Field(False, description="run the validation stage after selection")
    budgets: list[TargetSpec] = Field(
        default_factory=list, description="(c_train, c_inf) to validate at; empty: the "
        "study's targets (use smaller ones, same C_inf/C_train, to fit the study's reach)")
    max_samples: int = Field(64, ge=1, description="most samples per problem (n >= k when "
                             "k = C_inf/2N is below it; else pass@k from the likelihood only)")


class PosttrainSpec(Spec):
    """The post-training stage (the T² paper's third question, Roberts et al. 2026, arXiv
    2604.01411): after selection and validation, fine-tune the study's checkpoints on the train
    splits of ``tasks`` (FT: loss on every token; SFT: on the answer only), evaluate each as the
    pretrained ones are, fit every task's laws again and compare the forecasts. LR and batch
    follow t2.models.posttrain_config's rule unless set here."""

    enabled: bool = Field(False, description="run the post-training stage after selection "
                          "(and validation)")
    modes: list[Literal["ft", "sft"]] = Field(["sft"], min_length=1, description="ft: loss on "
                                              "prompt + answer; sft: on the answer only")
    epochs: float = Field(6.0, gt=0, le=1000, description="passes over the train split (the "
                          "T² paper: 6)")
    tasks: list[str] | None = Field(None, min_length=1, description="tasks whose train splits "
                                    "to fine-tune on, mixed (None: eval.tasks)")
    num_train: int | None = Field(None, ge=1, description="training problems per task (None: a "
                                  "real task's whole split, 1000 for a synthetic one)")
    checkpoints: Literal["all", "last", "first_round"] = Field(
        "all", description="which pretrained checkpoints: all, each run's longest D, or those "
        "of the study's first round (the seed design: fewest that still fit the laws)")
    lr: float | None = Field(None, gt=0, lt=1, description="peak LR (None: lr_frac of the "
                             "checkpoint's pretraining peak)")
    lr_frac: float = Field(0.1, gt=0, le=1, description="peak LR / pretraining peak LR")
    batch_size: int | None = Field(None, ge=1, description="sequences per optimizer step (None: "
                                   "the documented rule)")
    micro_batch: int | None = Field(None, ge=1, description="sequences per rank per micro-step")
    allow_hub: bool = Field(False, description="real tasks: the official hub train splits")
    seed: int = Field(0, ge=0, description="seed of the training problems and their order")

    _distinct = field_validator("modes")(classmethod(distinct))


class SelectSpec(Spec):
    """Which runs come next, and when the study stops."""

    strategy: Literal["active", "grid", "random"] = Field("active", description="selector")
    runs_per_round: int = Field(2, ge=1, description="runs proposed (and run at once) per round")
    max_rounds: int = Field(30, ge=1, description="rounds after the seed design")
    stop_width: float = Field(0.0, ge=0, description="stop when every N* interval is narrower "
                              "than this relative width (hi/lo - 1); 0 = spend the budget")
    interval: float = Field(0.8, gt=0, lt=1, description="central probability of intervals")
    num_bootstrap: int = Field(32, ge=4, le=4000, description="bootstrap replicates per round")
    noise: float = Field(0.01, gt=0, lt=1, description="assumed relative loss noise per run")
    noise_per: Literal["run", "checkpoint"] = Field(
        "run", description="run: a trunk's checkpoints share its seed noise; checkpoint: "
        "independent (as separately seeded runs)")
    storage: str | None = Field(None, description="Optuna RDB URL; None: journal in the root; "
                                "'memory': in the process only (simulated families: no resume)")
    seed: int = Field(0, ge=0, description="seed of selection and bootstrap")


class StudyConfig(Spec):
    """A whole T² study: one YAML file."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="study name")
    root: str | None = Field(None, description="study directory (CLI --root wins)")
    model: SizeSpec
    data: DataSpec = Field(default_factory=DataSpec)
    train: OptimSpec = Field(default_factory=OptimSpec)
    dist: DistSpec = Field(default_factory=DistSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    budget: BudgetSpec
    design: DesignSpec = Field(default_factory=DesignSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    select: SelectSpec = Field(default_factory=SelectSpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    posttrain: PosttrainSpec = Field(default_factory=PosttrainSpec)

    @field_validator("train")
    @classmethod
    def _no_run_fields(cls, v: OptimSpec) -> OptimSpec:
        if v.run_fields_set:
            raise ValueError(f"{', '.join(v.run_fields_set)}: chosen per run by the study's "
                             "planner, not set in a study")
        return v


def load_study(path: str | os.PathLike, overrides: list[str] | None = None) -> StudyConfig:
    """Parse and validate a study file; ``ConfigError`` names the file and field on bad input."""
    return load_config(path, StudyConfig, overrides)

