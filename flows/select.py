"""Choosing the next runs: Optuna samplers over (log10 N, log10 D) candidates.

    sampler = make_sampler(cfg)                 # active | random; grid uses enqueued trials
    sampler.update(state, remaining_flops, runs)   # the driver, after each round's fit
    req = sampler.propose(study)                # RunRequest or None (nothing affordable)
    trial = study.ask(search_space(cfg))        # sample_relative returns req's params

Active selection (``ForecastUncertaintySampler``): the study opens as the isoFLOP grid does
(``t2.flows.plan.grid_opening``: its cheapest rounds, until a law can be fitted), so it has the
grid's forecast there and differs only in what it runs next. Then for every candidate (size rung
× tokens/param grid; beyond an existing run's longest D it is an extension that pays only the
extra tokens; with ``design.pool`` only the pool's runs) the acquisition is the expected
reduction of the forecast's variance (the spread of log N*, equivalently log D*, log k*, at the
study's target budgets) from observing the candidate, divided by its training FLOPs. The
variance is that of the fit t2 really runs, the summed-Huber fit that treats rows alike, under
the noise of real runs (a run's seed shared by its trunk): its sandwich covariance
(``t2.fitting.design``), linearized at each bootstrap replicate of the current fit and averaged
over the ensemble (a Bayesian c-optimal design). Runs proposed but not yet observed count with
their information first, so a batch does not pick the same point twice.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import Counter

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState
from t2.fitting.design import variance_reduction
from t2.flows.config import StudyConfig
from t2.flows.plan import RunRequest, candidates, run_flops
from t2.flows.rounds import RoundFit

PARAMS = ("log10_N", "log10_D")


def search_space(cfg: StudyConfig) -> dict[str, FloatDistribution]:
    """The Optuna distributions of every trial (padded so snapped points stay inside)."""
    lo, hi = cfg.design.tokens_per_param
    n0, n1 = math.log10(cfg.model.params_min), math.log10(cfg.model.params_max)
    return {"log10_N": FloatDistribution(n0 - 0.05, n1 + 0.05),
            "log10_D": FloatDistribution(n0 + math.log10(lo) - 0.05, n1 + math.log10(hi) + 0.05)}


def params_of(req: RunRequest) -> dict[str, float]:
    return {"log10_N": math.log10(req.N), "log10_D": math.log10(req.D)}


def request_attrs(req: RunRequest, role: str, cfg: StudyConfig) -> dict:
    """User attributes a trial carries so a restart can rebuild the exact request."""
    return {"N": req.N, "Ds": list(req.Ds), "base_D": req.base_D, "extends": req.extends,
            "flops": run_flops(req, cfg.train.decay_frac), "role": role, "seed": req.seed}


def request_from_attrs(attrs: dict) -> RunRequest:
    return RunRequest(N=float(attrs["N"]), Ds=tuple(float(d) for d in attrs["Ds"]),
                      base_D=float(attrs.get("base_D") or 0.0), extends=attrs.get("extends"),
                      seed=int(attrs.get("seed") or 0))


def known_runs(study: optuna.Study) -> tuple[list, list]:
    """(finished, pending) as (trial number, N, Ds) of trials that carry a request."""
    finished, pending = [], []
    for t in study.get_trials(deepcopy=False):
        if "N" not in t.user_attrs:
            continue
        row = (t.number, float(t.user_attrs["N"]), [float(d) for d in t.user_attrs["Ds"]])
        if t.state == TrialState.COMPLETE:
            finished.append(row)
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            pending.append(row)
    return finished, pending


def trunks(study: optuna.Study) -> dict[int, int]:
    """Trial number -> the trial whose trunk it continues (itself for a new run)."""
    extends = {t.number: t.user_attrs.get("extends") for t in study.get_trials(deepcopy=False)}

    def root(n):
        seen = set()
        while extends.get(n) is not None and n not in seen:
            seen.add(n)
            n = extends[n]
        return n

    return {n: root(n) for n in extends}


class _CandidateSampler(BaseSampler):
    """Picks one candidate RunRequest per ask; subclasses score the candidates."""

    def __init__(self, cfg: StudyConfig, seed: int = 0):
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.state: RoundFit | None = None
        self.remaining = math.inf
        self._cache: tuple | None = None
        self.trunk_of: dict[int, int] = {}

    def update(self, state: RoundFit | None, remaining: float) -> None:
        self.state, self.remaining, self._cache = state, remaining, None

    def _affordable(self, study: optuna.Study) -> tuple[list[RunRequest], list, list]:
        finished, pending = known_runs(study)
        self.trunk_of = trunks(study)
        busy = {N for _, N, _ in pending}
        f = self.cfg.train.decay_frac
        pending_cost = sum(
            t.user_attrs.get("flops", 0.0) for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.RUNNING, TrialState.WAITING))
        budget = self.remaining - pending_cost
        first = {t.number for t in study.get_trials(deepcopy=False)
                 if not t.user_attrs.get("seed")}  # reruns with another seed are never extended
        done = [(n, N, max(Ds)) for n, N, Ds in finished if n in first]
        have = {(N, D) for _, N, Ds in finished + pending for D in Ds}
        held = Counter((N, D) for _, N, Ds in finished + pending for D in Ds)
        cands = [c for c in candidates(self.cfg, done, held)
                 if (c.seed > 0 or (c.N not in busy and (c.N, c.D) not in have))
                 and run_flops(c, f) <= budget]
        return cands, finished, pending

    def propose(self, study: optuna.Study) -> RunRequest | None:
        # Keyed on the trials that carry a request: the ask that follows a proposal creates a
        # bare trial, and its sample_relative must get the same proposal without recomputing.
        key = (tuple((t.number, t.state) for t in study.get_trials(deepcopy=False)
                     if "N" in t.user_attrs), id(self.state), self.remaining)
        if self._cache is None or self._cache[0] != key:
            cands, finished, pending = self._affordable(study)
            self._cache = (key, self._choose(cands, finished, pending) if cands else None)
        return self._cache[1]

    @abstractmethod
    def _choose(self, cands: list[RunRequest], finished: list, pending: list) -> RunRequest:
        """The next run among the affordable candidates (each strategy decides)."""

    # Optuna's sampler interface: one relative sample over the whole (N, D) space.
    def infer_relative_search_space(self, study, trial):
        return search_space(self.cfg)

    def sample_relative(self, study, trial, search_space):
        req = self.propose(study)
        return params_of(req) if req is not None and search_space else {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        # Only reached when nothing is affordable; the driver never asks then.
        return param_distribution.low


class RandomCandidateSampler(_CandidateSampler):
    """Uniform over the affordable candidates: the random baseline."""

    def _choose(self, cands, finished, pending):
        return cands[int(self.rng.integers(len(cands)))]


class ForecastUncertaintySampler(_CandidateSampler):
    """Expected reduction of the forecast variance per training FLOP (module docstring)."""

    def _choose(self, cands, finished, pending):
        if self.state is None:  # no fit yet: the cheapest candidate still spreads the design
            return min(cands, key=lambda c: run_flops(c, self.cfg.train.decay_frac))
        scores = acquisition(self.state, cands, finished, pending, self.cfg, self.trunk_of)
        return cands[int(np.argmax(scores))]


def acquisition(state: RoundFit, cands: list[RunRequest], finished: list, pending: list,
                cfg: StudyConfig, trunk_of: dict[int, int] | None = None) -> np.ndarray:
    """Expected fraction of the forecast variance each candidate removes, per training FLOP
    (``t2.fitting.design``; averaged over the bootstrap ensemble of ``state``). ``trunk_of``
    maps a trial to the run whose trunk (and seed noise) it shares."""
    trunk_of = trunk_of or {}
    observed = [(trunk_of.get(n, n), N, D) for n, N, Ds in finished + pending for D in Ds]
    points = [(None if c.extends is None else trunk_of.get(c.extends, c.extends), c.N, c.D)
              for c in cands]
    red, _ = variance_reduction(state.theta, state.ks, state.targets, observed, points,
                                sigma=cfg.select.noise, with_k=state.kind == "t2",
                                noise_per=cfg.select.noise_per)
    f = cfg.train.decay_frac
    return np.array([r / run_flops(c, f) for r, c in zip(red, cands)])


def make_sampler(cfg: StudyConfig, strategy: str | None = None) -> _CandidateSampler:
    strategy = strategy or cfg.select.strategy
    if strategy == "random":
        return RandomCandidateSampler(cfg, seed=cfg.select.seed)
    # grid trials are all enqueued up front; the active sampler is never consulted for them
    return ForecastUncertaintySampler(cfg, seed=cfg.select.seed)
