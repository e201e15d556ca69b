"""Helpers for study-flow tests: a small simulated study and its true law."""

from pathlib import Path

import yaml

TRUE_LAW = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658,
            "G": 3.0, "gamma": 0.4}

SIM_STUDY = {
    "name": "simtest",
    "model": {"params_min": 5.0e6, "params_max": 2.0e8, "num_sizes": 8},
    "budget": {"train_flops": 2.0e19,
               "compute": [1.0e16, 4.0e16, 1.6e17, 6.4e17, 2.56e18],
               "targets": [{"c_train": 2.56e19, "c_inf": 2.0e9}]},
    "design": {"tokens_per_param": [10, 3000], "seed_ratios": [20, 200, 2000],
               "seed_budgets": 2, "grid_sizes": 4, "num_ratios": 8},
    "eval": {"num_samples": 16, "ks": [1, 4, 16]},
    "select": {"runs_per_round": 2, "max_rounds": 6, "num_bootstrap": 16},
    "tracking": {"enabled": False},
}


def write_study(path: Path, overrides: dict | None = None) -> Path:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SIM_STUDY.items()}
    for key, value in (overrides or {}).items():
        section, _, field = key.partition(".")
        if field:
            data[section] = {**data.get(section, {}), field: value}
        else:
            data[section] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
