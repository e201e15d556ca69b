"""Pure planning: size rungs, the seed design, the grid schedule, candidates and their FLOPs.

    python -c "from t2.flows.plan import *; from t2.flows.config import load_study; \
               print(seed_design(load_study('examples/tiny.yaml')))"

Nothing here touches disk. A ``RunRequest`` is one training run at fixed N that emits one
checkpoint per D in ``Ds`` (warmup-stable-decay: the stable trunk is branched and decayed at each
D). ``base_D`` > 0 means the run continues an earlier run at the same N whose trunk reached
``base_D`` (its longest D): it extends the trunk to a larger D, so it pays only for the new
tokens. The trainer keeps only the trunk state before a run's last decay, so a lower D at that
size is a new run.

Cost in training FLOPs (6·N per token; Kaplan et al. 2020, arXiv 2001.08361) with decay
fraction f:
    trunk to the largest D (> base_D):   D_max − (1 − f)·base_D   tokens
    each other decay branch:             f·D_i                    tokens
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from t2.flows.config import StudyConfig

# Two D values closer than this (relative) are one checkpoint.
_SAME_D = 0.02


@dataclass(frozen=True)
class RunRequest:
    """A training run to do: size N (a rung), its checkpoints Ds (ascending), what it extends."""

    N: float
    Ds: tuple[float, ...]
    base_D: float = 0.0
    extends: int | None = None  # Optuna trial number of the run extended
    seed: int = 0               # > 0: a rerun of a held point with another seed (a new run)

    def __post_init__(self):
        assert self.Ds and list(self.Ds) == sorted(self.Ds), self.Ds

    @property
    def D(self) -> float:
        return self.Ds[-1]


def run_tokens(Ds, decay_frac: float, base_D: float = 0.0) -> float:
    """Tokens trained by a run with checkpoints ``Ds`` continuing a trunk that reached
    ``base_D``."""
    *rest, top = sorted(Ds)
    last = top - (1.0 - decay_frac) * base_D if top > base_D else decay_frac * top
    return last + decay_frac * sum(rest)


def run_flops(req: RunRequest, decay_frac: float) -> float:
    return 6.0 * req.N * run_tokens(req.Ds, decay_frac, req.base_D)


def size_rungs(cfg: StudyConfig) -> np.ndarray:
    """The N values the study may train: log-spaced between the size bounds, or the model
    ladder's rungs (total N with embeddings, for the study's vocabulary) inside them."""
    m = cfg.model
    if cfg.design.pool is not None:
        return np.unique([float(n) for n, _ in cfg.design.pool])
    if not m.ladder:
        return np.geomspace(m.params_min, m.params_max, m.num_sizes)
    from t2.models.ladder import MAX_DEPTH, params_for_depth

    rungs = [params_for_depth(L, vocab_size(cfg), m.tie_embeddings)
             for L in range(1, MAX_DEPTH + 1)]
    inside = np.array([float(n) for n in rungs if m.params_min <= n <= m.params_max])
    if len(inside) < 2:
        raise ValueError("model: fewer than two ladder rungs between params_min and params_max")
    return inside


def vocab_size(cfg: StudyConfig) -> int:
    from t2.models.tokenizer import planning_vocab_size

    return planning_vocab_size(cfg.data)


def snap(N: float, rungs: np.ndarray) -> float:
    return float(rungs[int(np.argmin(np.abs(np.log(rungs) - math.log(N))))])


def ratio_grid(cfg: StudyConfig) -> np.ndarray:
    lo, hi = cfg.design.tokens_per_param
    return np.geomspace(lo, hi, cfg.design.num_ratios)


def _merge_Ds(Ds) -> tuple[float, ...]:
    out: list[float] = []
    for D in sorted(Ds):
        if not out or D > out[-1] * (1 + _SAME_D):
            out.append(float(D))
    return tuple(out)


def _in_ratio_range(cfg: StudyConfig, N: float, D: float) -> bool:
    lo, hi = cfg.design.tokens_per_param
    return lo * (1 - _SAME_D) <= D / N <= hi * (1 + _SAME_D)


def isoflop_point(cfg: StudyConfig, C: float, ratio: float, rungs: np.ndarray):
    """(N, D) on compute level C near tokens/param ``ratio``, N snapped to a rung; None when the
    point leaves the ratio range or snapping moved its ratio by more than one rung step."""
    N = snap(math.sqrt(C / (6.0 * ratio)), rungs)
    D = C / (6.0 * N)
    step = math.log(rungs[1] / rungs[0]) * 1.01
    if abs(math.log(D / N / ratio)) > step:
        return None
    return (N, D) if _in_ratio_range(cfg, N, D) else None


# What a first fit needs (t2.flows.rounds): checkpoints, and distinct sizes.
MIN_CHECKPOINTS, MIN_SIZES = 7, 3


def grid_opening(cfg: StudyConfig) -> list[RunRequest]:
    """The grid's opening: its first whole rounds (``select.runs_per_round`` runs each,
    cheapest first) until they hold enough checkpoints and sizes for a first fit. An active
    study that starts so has the grid's forecast at that round, and differs only by what it
    chooses next."""
    grid, per = grid_schedule(cfg), cfg.select.runs_per_round
    for end in range(per, len(grid) + per, per):
        head = grid[:end]
        if len(head) >= MIN_CHECKPOINTS and len({r.N for r in head}) >= MIN_SIZES:
            return head
    return grid


def seed_design(cfg: StudyConfig) -> list[RunRequest]:
    """The first runs of an active study: the grid's opening (``design.seed: grid``,
    ``grid_opening``), or each seed ratio at the ``seed_budgets`` cheapest compute levels where
    it fits the size range, snapped to rungs, one run per N emitting several D (``ratios``).

    Points on one tokens/param ray leave alpha and beta unidentifiable (Besiroglu et al. 2024,
    arXiv 2404.10102), so the seed spans several levels and ratios deep into the overtrained
    region.
    """
    if cfg.design.seed == "grid":
        return grid_opening(cfg)
    if cfg.design.pool is not None:
        return _pool_seed(cfg)
    rungs = size_rungs(cfg)
    levels = sorted(cfg.budget.compute)
    by_N: dict[float, list[float]] = {}
    for r in cfg.design.seed_ratios:
        points = [p for p in (isoflop_point(cfg, C, r, rungs) for C in levels) if p is not None]
        for N, D in points[: cfg.design.seed_budgets]:
            by_N.setdefault(N, []).append(D)
    return [RunRequest(N=N, Ds=_merge_Ds(Ds)) for N, Ds in sorted(by_N.items())]


def _pool_seed(cfg: StudyConfig) -> list[RunRequest]:
    """The seed design inside a pool: for each seed ratio, the ``seed_budgets`` cheapest pool
    runs nearest that tokens/param ratio (within half the log step to the next seed ratio)."""
    pool = sorted(cfg.design.pool, key=lambda p: p[0] * p[1])
    ratios = np.log(sorted(cfg.design.seed_ratios))
    half = np.diff(ratios).min() / 2 if len(ratios) > 1 else math.inf
    picked: list[tuple[float, float]] = []
    for r in ratios:
        near = [p for p in pool if abs(math.log(p[1] / p[0]) - r) <= half]
        picked += [p for p in near[: cfg.design.seed_budgets] if p not in picked]
    return [RunRequest(N=float(N), Ds=(float(D),)) for N, D in sorted(picked)]


def grid_schedule(cfg: StudyConfig) -> list[RunRequest]:
    """The standard isoFLOP baseline: every compute level × ``grid_sizes`` sizes spanning the
    tokens/param range, cheapest level first; each point is its own run (no shared trunks).
    With a pool (a replayed suite) the suite is its own grid: all its runs, cheapest first."""
    if cfg.design.pool is not None:
        return [RunRequest(N=N, Ds=(D,)) for N, D in sorted(cfg.design.pool,
                                                             key=lambda p: (p[0] * p[1], p[0]))]
    rungs = size_rungs(cfg)
    lo, hi = cfg.design.tokens_per_param
    out: list[RunRequest] = []
    for C in sorted(cfg.budget.compute):
        seen = set()
        for r in np.geomspace(lo, hi, cfg.design.grid_sizes):
            point = isoflop_point(cfg, C, float(r), rungs)
            if point is not None and point[0] not in seen:
                seen.add(point[0])
                out.append(RunRequest(N=point[0], Ds=(point[1],)))
    return out


def candidates(cfg: StudyConfig, runs: list[tuple[int, float, float]],
               held: dict[tuple[float, float], int] | None = None) -> list[RunRequest]:
    """Every (rung, D) the selector may pick, each as the cheapest way to get it.

    ``runs`` holds (trial number, N, longest D) of finished first-seed runs. A candidate beyond
    the longest D of a run at its N extends that run's trunk; any other candidate is a new run.
    With ``design.max_seeds`` > 1, a candidate point already held (``held``: (N, D) -> seeds
    trained or on their way) is also offered as a new run with the next seed, until it has
    ``max_seeds``. A run's seed noise is shared by its decay branches and extensions, so
    only another seed averages it out; without reruns the one-run-per-point pool runs dry
    (benchmarks/active_selection.py).
    """
    if cfg.design.pool is not None:  # each run of a suite was trained on its own
        have = {(N, D) for _, N, D in runs}
        return [RunRequest(N=float(N), Ds=(float(D),)) for N, D in cfg.design.pool
                if (N, D) not in have]
    longest: dict[float, tuple[int, float]] = {}
    for number, N, D in runs:
        if N not in longest or D > longest[N][1]:
            longest[N] = (number, D)
    have = {(N, D) for _, N, D in runs}
    out = []
    for N in size_rungs(cfg):
        N = float(N)
        base = longest.get(N)
        for r in ratio_grid(cfg):
            D = float(r * N)
            if base is not None and abs(D / base[1] - 1) < _SAME_D:
                continue  # already have it
            if base is not None and D > base[1]:
                out.append(RunRequest(N=N, Ds=(D,), base_D=base[1], extends=base[0]))
            else:
                out.append(RunRequest(N=N, Ds=(D,)))
    out = [c for c in out if (c.N, c.D) not in have]
    if cfg.design.max_seeds > 1 and held:
        for N in size_rungs(cfg):
            for r in ratio_grid(cfg):
                seeds = _seeds_at(held, float(N), float(r * N))
                if 0 < seeds < cfg.design.max_seeds:
                    out.append(RunRequest(N=float(N), Ds=(float(r * N),), seed=seeds))
    return out


def _seeds_at(held: dict[tuple[float, float], int], N: float, D: float) -> int:
    """Seeds held at (N, D), within ``_SAME_D``."""
    return sum(n for (hN, hD), n in held.items() if hN == N and abs(hD / D - 1) < _SAME_D)


def plan_summary(cfg: StudyConfig, reqs: list[RunRequest]) -> list[dict]:
    """Rows for ``t2 plan``: N, the D list, tokens/param and FLOPs of each run."""
    f = cfg.train.decay_frac
    return [{"N": r.N, "Ds": list(r.Ds), "tokens_per_param": [D / r.N for D in r.Ds],
             "flops": run_flops(r, f), "extends": r.extends} for r in reqs]
