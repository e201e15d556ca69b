"""The Optuna study as the ledger of proposed and finished runs.

    study = open_ledger(cfg, root)    # journal file in the root, or cfg.select.storage (RDB URL)
    recover(study)                        # stale RUNNING trials -> FAIL, their requests re-enqueued
    obs = observations(study)             # checkpoint records of every finished run

Each trial is one training run: params ``log10_N, log10_D`` (its longest D), user attributes with
the full request (N, Ds, base_D, extends, FLOPs, role), its step directory, MLflow run id and, once
told, its checkpoint records (N, D, validation loss, task loss per k). A trial found RUNNING at
start belonged to a killed driver: it is marked FAIL and its request enqueued again, so the next
ask returns the same request, whose step directory (same hash) resumes.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState
from t2.flows.config import StudyConfig
from t2.flows.plan import RunRequest
from t2.flows.records import Observation
from t2.flows.select import params_of, request_attrs
from t2.flows.steps import StudyPaths

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Attributes copied when a killed trial is enqueued again.
_REQUEST_KEYS = ("N", "Ds", "base_D", "extends", "flops", "role", "round")


def open_storage(cfg: StudyConfig, root: str | Path):
    if cfg.select.storage == "memory":  # a simulated study in a temporary root: nothing resumes
        return optuna.storages.InMemoryStorage()
    if cfg.select.storage:
        return optuna.storages.RDBStorage(
            cfg.select.storage, engine_kwargs={"connect_args": {"timeout": 30}}
            if cfg.select.storage.startswith("sqlite") else {})
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = StudyPaths(root).journal
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def open_ledger(cfg: StudyConfig, root: str | Path, sampler=None) -> optuna.Study:
    return optuna.create_study(study_name=cfg.name, storage=open_storage(cfg, root),
                               direction="minimize", load_if_exists=True, sampler=sampler)


def fail_and_requeue(study: optuna.Study, number: int) -> None:
    """Mark a trial FAIL and enqueue its request again, so the next ask resumes it."""
    t = study.get_trials(deepcopy=False)[number]
    study.tell(number, state=TrialState.FAIL)
    attrs = {k: t.user_attrs[k] for k in _REQUEST_KEYS if k in t.user_attrs}
    if attrs:
        study.enqueue_trial(dict(t.params), user_attrs={**attrs, "retry_of": number})


def recover(study: optuna.Study) -> list[int]:
    """Fail trials left RUNNING by a killed driver and enqueue their requests again."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        fail_and_requeue(study, t.number)
    return [t.number for t in stale]


def enqueue(study: optuna.Study, reqs: list[RunRequest], role: str, cfg: StudyConfig) -> None:
    for req in reqs:
        study.enqueue_trial(params_of(req), user_attrs=request_attrs(req, role, cfg))


def waiting(study: optuna.Study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def completed(study: optuna.Study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def flops_spent(study: optuna.Study) -> float:
    return float(sum(t.user_attrs.get("flops", 0.0) for t in completed(study)))


def tell(study: optuna.Study, trial, observed: list[Observation]) -> None:
    """Record a finished run: its checkpoints and their evaluations, then its final val loss."""
    trial.set_user_attr("checkpoints", [o.to_dict() for o in observed])
    study.tell(trial, observed[-1].val_loss)


def observations(study: optuna.Study) -> list[Observation]:
    """The checkpoints (with evaluations) of finished runs, each tagged with its trial number."""
    return [Observation.from_dict(rec, run=t.number) for t in completed(study)
            for rec in t.user_attrs.get("checkpoints", [])]
