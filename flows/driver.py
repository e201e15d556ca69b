"""The study loop: seed → train → evaluate → fit → select → … until the budget or width says stop.

    from t2.flows.driver import run_study
    result = run_study(cfg, root, executor)          # executor: t2.flows.executors.base.Executor

The same code runs real and simulated studies; only the executor differs. Every training run and
every evaluation is a ``Step`` whose directory is done only when ``_SUCCESS`` exists, so rerunning
the command skips finished work, resumes interrupted training in its own directory and redoes
half-written evaluations. The Optuna study (``ledger``) holds the proposals and results; a rerun
of a finished study returns at once. After selection come the optional stages: validation, then
post-training (t2.flows.posttrain) last, so that switching it on for a finished study reruns
nothing else (its section is in no pretraining step's hash).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from t2.fitting.checks import FitError
from t2.fitting.fit import fit_chinchilla
from t2.flows import ledger
from t2.flows.checks import check_study
from t2.flows.config import StudyConfig
from t2.flows.executors.base import Executor, PosttrainExecutor
from t2.flows.plan import RunRequest
from t2.flows.posttrain import fit_posttrained, posttrain_checkpoints
from t2.flows.posttrain import step_config as posttrain_step_config
from t2.flows.progress import RunProgress
from t2.flows.records import Checkpoint, Evaluation, Observation, Posttrained, RoundRecord
from t2.flows.rounds import RoundFit, fit_arrays, fit_round, round_record
from t2.flows.select import make_sampler, request_attrs, request_from_attrs, search_space
from t2.flows.steps import Step, StudyPaths, run_step
from t2.flows.tracking import StudyTracking, send_pending
from t2.flows.validation import ValidationRun, budgets, sized, validation_plan
from t2.infra.config import dump_config
from t2.infra.storage import atomic_write, hash8, read_json, write_json


@dataclass
class StudyResult:
    """What a study run did: per-round records, why it stopped, FLOPs spent."""

    rounds: list[RoundRecord] = field(default_factory=list)
    reason: str = ""
    flops: float = 0.0
    state: RoundFit | None = None
    skipped: bool = False


def _num(x: float) -> str:
    return f"{x:.3g}".replace("+", "").replace(".", "p")


class Driver:
    """One study root, one executor, one strategy."""

    def __init__(self, cfg: StudyConfig, root: str | Path, executor: Executor, *,
                 strategy: str | None = None, log=print, truth=None):
        self.cfg, self.paths, self.executor = cfg, StudyPaths(root), executor
        self.strategy = strategy or cfg.select.strategy
        self.log = log
        self.truth = truth  # (T, 3) true log optima, simulation only
        self.targets = [(t.c_train, t.c_inf) for t in cfg.budget.targets]
        # Hashes skip defaulted fields: a field added later with a default keeps old hashes.
        self.config_hash = hash8(cfg.model_dump(mode="json", exclude_defaults=True),
                                 self.strategy, executor.step_config())

    # -- steps ---------------------------------------------------------------------------
    def train_step(self, req: RunRequest, base_dir: str | None) -> Step:
        config = {"N": req.N, "Ds": list(req.Ds), "base_D": req.base_D, "base_dir": base_dir,
                  "exec": self.executor.step_config()}
        if req.seed:  # only then: a first-seed run's step keeps the hash it always had
            config["seed"] = req.seed
        return Step("train", f"N{_num(req.N)}" + (f"-s{req.seed}" if req.seed else ""), config)

    def eval_step(self, ckpt: Checkpoint) -> Step:
        config = {"eval": self.cfg.eval.step_config(),
                  "exec": self.executor.step_config()}
        return Step("eval", f"N{_num(ckpt.N)}-D{_num(ckpt.D)}", config, deps=(ckpt.result_dir,))

    def train(self, req: RunRequest, step: Step, base_dir: str | None) -> list[Checkpoint]:
        """Train (or skip, or resume) one run; its checkpoints."""
        def body(out: Path) -> None:
            child = None
            if not self.executor.tracks_training:
                child = self.tracking.child(out, f"train-{out.name}",
                                            {"N": req.N, "Ds": list(req.Ds), "kind": "train"})
            ckpts = self.executor.train(req, out, base_dir=Path(base_dir) if base_dir else None,
                                        parent_run_id=self.tracking.parent_id)
            if child is not None:
                for c in ckpts:
                    child.log_metrics({"val_loss": c.val_loss}, step=int(c.D))
                child.finish()
            write_json(out / "checkpoints.json", [c.to_dict() for c in ckpts])

        out = run_step(step, self.paths, body)
        return [Checkpoint.from_dict(c) for c in read_json(out / "checkpoints.json")]

    def evaluate(self, ckpt: Checkpoint, step: Step | None = None, **settings) -> Evaluation:
        """Evaluate (or skip, or redo) one checkpoint; ``settings``: the executor's ``ks`` and
        ``num_samples`` when not the study's."""
        def body(out: Path) -> None:
            child = self.tracking.child(out, f"{out.parent.name}-{out.name}",
                                        {"N": ckpt.N, "D": ckpt.D, "kind": out.parent.name})
            ev = self.executor.evaluate(ckpt, out, parent_run_id=child.run_id, **settings)
            for k, L in sorted(ev.loss_k.items()):
                child.log_metrics({"task_loss": L}, step=int(k))
            child.finish()
            write_json(out / "evaluation.json", ev.to_dict())

        out = run_step(step or self.eval_step(ckpt), self.paths, body)
        return Evaluation.from_dict(read_json(out / "evaluation.json"))

    def execute(self, req: RunRequest, step: Step, base_dir: str | None,
                run: int) -> list[Observation]:
        """Train one run, then evaluate each of its checkpoints."""
        return [Observation(run=run, checkpoint=c, evaluation=self.evaluate(c))
                for c in self.train(req, step, base_dir)]

    # -- the loop --------------------------------------------------------------------------
    def start(self) -> None:
        first = check_study(self.cfg, self.strategy, source=self.cfg.name)
        self.executor.check(first, source=self.cfg.name)
        self.paths.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.paths.config, dump_config(self.cfg))
        saved = self.paths.read_state()
        self.tracking = StudyTracking(self.cfg, self.paths.root, self.strategy,
                                      run_id=saved.get("mlflow_run_id"))
        self.paths.write_state({**saved, "name": self.cfg.name, "strategy": self.strategy,
                                "config_hash": self.config_hash, "finished": False,
                                "mlflow_run_id": self.tracking.parent_id})
        self.sampler = make_sampler(self.cfg, self.strategy)
        self.study = ledger.open_ledger(self.cfg, self.paths.root, self.sampler)
        stale = ledger.recover(self.study)
        if stale:
            self.log(f"resuming: {len(stale)} interrupted run(s) queued again")
        if not self.study.get_trials(deepcopy=False):
            ledger.enqueue(self.study, first, "grid" if self.strategy == "grid" else "seed",
                           self.cfg)

    def next_batch(self, remaining: float) -> tuple[list, str]:
        """Trials to run now with their requests, or ([], why not)."""
        queued = ledger.waiting(self.study)
        round_index = self.num_rounds() + 1
        if queued:
            first_role = queued[0].user_attrs.get("role")
            limit = len(queued) if first_role == "seed" else self.cfg.select.runs_per_round
            batch, cost = [], 0.0
            for t in queued[:limit]:
                if cost + t.user_attrs["flops"] > remaining * (1 + 1e-9):
                    break
                cost += t.user_attrs["flops"]
                trial = self.study.ask(search_space(self.cfg))
                if "round" not in trial.user_attrs:
                    trial.set_user_attr("round", 0 if first_role == "seed" else round_index)
                batch.append((trial, request_from_attrs(trial.user_attrs)))
            return batch, "" if batch else "budget"
        if self.strategy == "grid":
            return [], "exhausted"
        batch = []
        for _ in range(self.cfg.select.runs_per_round):
            req = self.sampler.propose(self.study)
            if req is None:
                break
            trial = self.study.ask(search_space(self.cfg))
            attrs = {**request_attrs(req, self.strategy, self.cfg), "round": round_index}
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            batch.append((trial, req))
        return batch, "" if batch else "budget"

    def run_batch(self, batch: list) -> None:
        jobs = []
        for trial, req in batch:
            base_dir = None
            if req.extends is not None:
                base_dir = self.study.trials[req.extends].user_attrs.get("step_dir")
            step = self.train_step(req, base_dir)
            trial.set_user_attr("step_dir", str(self.paths.step(step)))
            jobs.append((trial, req, step, base_dir))
        workers = max(1, min(len(jobs), self.executor.max_parallel))
        bars = RunProgress(enabled=None if self.executor.shows_progress else False)
        with bars, ThreadPoolExecutor(workers) as pool:
            for _, req, step, _ in jobs:
                metrics = self.paths.trainer(self.paths.step(step)) / "metrics.jsonl"
                bars.add(step.name, metrics, req.D)
            futures = [pool.submit(self.execute, req, step, base, trial.number)
                       for trial, req, step, base in jobs]
            errors = []
            for (trial, req, _, _), fut in zip(jobs, futures):
                try:
                    observed = fut.result()
                except Exception as err:  # noqa: BLE001 - tell the ledger, then re-raise below
                    trial.set_user_attr("error", f"{type(err).__name__}: {err}")
                    ledger.fail_and_requeue(self.study, trial.number)  # a rerun retries it
                    errors.append(err)
                    continue
                ledger.tell(self.study, trial, observed)
                self.log(f"run N={req.N:.3g} D={','.join(f'{d:.3g}' for d in req.Ds)} done")
        if errors:
            raise errors[0]

    def record_round(self, state: RoundFit | None, spent: float) -> RoundRecord:
        n = len(ledger.completed(self.study))
        rec = round_record(state, num_runs=n, num_checkpoints=len(ledger.observations(self.study)),
                           flops=spent, interval=self.cfg.select.interval, truth=self.truth)
        path = self.paths.round(n)
        if not path.exists():
            write_json(path, rec.to_dict())
            self.tracking.log_round(rec, step=n)
        return rec

    def num_rounds(self) -> int:
        """Selection rounds run so far (the seed design, or a grid, counts as round 0)."""
        return max((t.user_attrs.get("round", 0) for t in self.study.get_trials(deepcopy=False)),
                   default=0)

    def stop_reason(self, state: RoundFit | None, spent: float, num_rounds: int) -> str:
        if spent >= self.cfg.budget.train_flops * (1 - 1e-9):
            return "budget"
        sel = self.cfg.select
        if (state is not None and sel.stop_width > 0
                and np.all(state.forecast.width(sel.interval) < sel.stop_width)):
            return "width"
        retries = [t for t in ledger.waiting(self.study) if "retry_of" in t.user_attrs]
        if num_rounds >= sel.max_rounds and not retries:
            return "max_rounds"
        return ""

    def run(self) -> StudyResult:
        saved = self.paths.read_state()
        if saved.get("finished") and saved.get("config_hash") == self.config_hash:
            send_pending(self.cfg, self.paths.root)  # MLflow calls kept while its server was away
            return StudyResult(reason=saved.get("reason", "finished"), flops=saved.get("flops", 0),
                               skipped=True)
        self.start()
        result, state = StudyResult(), None
        while True:
            spent = ledger.flops_spent(self.study)
            obs = ledger.observations(self.study)
            num_done = len(ledger.completed(self.study))
            state = fit_round(obs, self.targets, num_bootstrap=self.cfg.select.num_bootstrap,
                              seed=self.cfg.select.seed + num_done, prev=state,
                              approach2=self.cfg.eval.approach2)
            result.rounds.append(self.record_round(state, spent))
            reason = self.stop_reason(state, spent, self.num_rounds())
            if not reason:
                self.sampler.update(state, self.cfg.budget.train_flops - spent)
                batch, reason = self.next_batch(self.cfg.budget.train_flops - spent)
            if reason:
                break
            self.run_batch(batch)
        result.reason, result.flops, result.state = reason, spent, state
        if self.cfg.validation.enabled:
            self.validate(state)
        if self.cfg.posttrain.enabled:
            self.posttrain()
        self.finish(result)
        return result

    # -- the validation stage --------------------------------------------------------------
    def validation_plan(self, state: RoundFit | None) -> list[ValidationRun] | str:
        """The runs to validate (saved before the first one trains, so a rerun trains the
        same ones while the validation budgets stay), or why there are none."""
        saved = self.paths.validation_plan
        if saved.exists():
            plan = [ValidationRun(**r) for r in read_json(saved)]
            if {(v.budget, v.c_train, v.c_inf) for v in plan} == {
                    (i, *b) for i, b in enumerate(budgets(self.cfg))}:
                return plan  # else the budgets were changed: plan them again
        if state is None or state.kind != "t2":
            return "no T² law was fitted (too few runs, or no task losses at two k)"
        obs = ledger.observations(self.study)
        arrays = fit_arrays(obs, "chinchilla")[0]
        try:
            chin = fit_chinchilla(arrays["N"], arrays["D"], arrays["L"])
            # the study's forecast: the drift law's where the k-trend check flagged
            law = state.drift.law if state.drift is not None else state.law
            plan = validation_plan(self.cfg, law, chin)
        except (FitError, ValueError) as err:
            return f"no optimum to validate ({err})"
        write_json(saved, [v.to_dict() for v in plan])
        return plan

    def validate(self, state: RoundFit | None) -> None:
        """Train and evaluate every validation run (each a resumable step) and record them."""
        plan = self.validation_plan(state)
        if isinstance(plan, str):
            self.log(f"validation: skipped: {plan}")
            write_json(self.paths.validation, {"skipped": plan, "runs": [], "flops": 0.0})
            return
        runs = []
        for v in plan:
            req = RunRequest(N=v.N, Ds=(v.D,))
            # named by size, not by sizing rule: when both rules pick one model it trains once
            step = Step("validate", f"b{v.budget}-N{_num(v.N)}",
                        {"N": v.N, "D": v.D, "exec": self.executor.step_config()})
            ckpt = self.train(req, step, None)[-1]
            v = sized(self.cfg, v.budget, v.model, ckpt.N, v.c_train, v.c_inf)  # the N trained
            ev_step = Step("validate-eval", f"b{v.budget}-N{_num(ckpt.N)}",
                           {"k": v.k, "n": v.num_samples, "exec": self.executor.step_config(),
                            "eval": self.cfg.eval.step_config()},
                           deps=(ckpt.result_dir,))
            ev = self.evaluate(ckpt, ev_step, ks=[v.k], num_samples=v.num_samples)
            runs.append({**v.to_dict(), "D": ckpt.D, "flops": 6.0 * ckpt.N * ckpt.D,
                         "problems": ev.problems, "loss_k": ev.to_dict()["tasks"]})
            self.log(f"validation: {v.model} N={ckpt.N:.3g} D={ckpt.D:.3g} k={v.k} done")
        write_json(self.paths.validation,
                   {"runs": runs, "flops": float(sum(r["flops"] for r in runs))})

    # -- the post-training stage (after validation: a stage switched on later runs alone) ----
    def posttrain_one(self, ckpt: Checkpoint, mode: str) -> Posttrained:
        """Post-train (or skip, or resume) one checkpoint in one mode."""
        step = Step("posttrain", f"{mode}-N{_num(ckpt.N)}-D{_num(ckpt.D)}",
                    {"mode": mode, "posttrain": posttrain_step_config(self.cfg),
                     "exec": self.executor.step_config()}, deps=(ckpt.result_dir,))

        def body(out: Path) -> None:
            done = self.executor.posttrain(ckpt, mode, out, parent_run_id=self.tracking.parent_id)
            write_json(out / "posttrained.json", done.to_dict())

        out = run_step(step, self.paths, body)
        return Posttrained.from_dict(read_json(out / "posttrained.json"))

    def posttrain(self) -> None:
        """Post-train the chosen checkpoints in every mode, evaluate each as the pretrained
        ones, fit the laws on them per mode (t2.flows.posttrain); write ``posttrain.json``."""
        if not isinstance(self.executor, PosttrainExecutor):
            why = f"the {self.executor.kind} executor has no post-trained models to draw"
            self.log(f"posttrain: skipped: {why}")
            write_json(self.paths.posttrain, {"skipped": why, "modes": {}, "flops": 0.0})
            return
        t0, modes = time.perf_counter(), {}
        rounds = {t.number: t.user_attrs.get("round", 0) for t in ledger.completed(self.study)}
        chosen = posttrain_checkpoints(self.cfg, ledger.observations(self.study), rounds)
        for mode in self.cfg.posttrain.modes:
            obs, done = [], []
            for o in chosen:
                pt = self.posttrain_one(o.checkpoint, mode)
                ev_step = Step("posttrain-eval", f"{mode}-N{_num(o.N)}-D{_num(o.D)}",
                               self.eval_step(pt.checkpoint).config,
                               deps=(pt.checkpoint.result_dir,))
                obs.append(Observation(run=o.run, checkpoint=pt.checkpoint,
                                       evaluation=self.evaluate(pt.checkpoint, ev_step)))
                done.append({**pt.to_dict(), "evaluation": obs[-1].evaluation.to_dict(),
                             "pretrained": o.evaluation.to_dict(), "run": o.run})
            flops = float(sum(d["flops"] for d in done))
            rec = fit_posttrained(self.cfg, obs, flops)
            write_json(self.paths.posttrain_fit(mode), rec.to_dict())
            modes[mode] = {"checkpoints": done, "flops": flops, "fitted": rec.fitted,
                           "train_seconds": float(sum(d["seconds"] for d in done))}
            fitted = "fitted" if rec.fitted else "not fitted (too few checkpoints or no optimum)"
            self.log(f"posttrain: {mode}: {len(done)} checkpoints, {flops:.3g} FLOPs, "
                     f"laws {fitted}")
        # wall time summed over the calls that worked on the stage (a rerun adds its refits)
        before = read_json(self.paths.posttrain).get("seconds", 0.0) \
            if self.paths.posttrain.exists() else 0.0
        write_json(self.paths.posttrain, {
            "modes": modes, "flops": float(sum(m["flops"] for m in modes.values())),
            "seconds": before + time.perf_counter() - t0})

    def finish(self, result: StudyResult) -> None:
        self.log(f"study {self.cfg.name}: stopped ({result.reason}) after "
                 f"{len(ledger.completed(self.study))} runs, {result.flops:.3g} training FLOPs")
        self.tracking.finish()
        self.paths.write_state({**self.paths.read_state(), "finished": True,
                                "reason": result.reason, "flops": result.flops})


def run_study(cfg: StudyConfig, root: str | Path, executor: Executor, *,
              strategy: str | None = None, log=print, truth=None) -> StudyResult:
    return Driver(cfg, root, executor, strategy=strategy, log=log, truth=truth).run()


def true_optima(law, targets) -> np.ndarray:
    """(T, 3) natural-log optima of a known law (simulation), found from its own function
    (``law.optima``: the one allocator for a law of the fitted form, numerically otherwise)."""
    return law.optima(targets)
