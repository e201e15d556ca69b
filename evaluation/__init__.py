"""Evaluation: tasks, pass@k and gold-answer likelihoods (see tasks.py, passk.py, likelihood.py)."""

from t2.evaluation.passk import pass_at_k, pass_at_k_from_p
from t2.evaluation.tasks import TASKS, get_task

__all__ = ["TASKS", "get_task", "pass_at_k", "pass_at_k_from_p"]
