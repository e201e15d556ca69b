"""Study config: examples load, bad fields fail at load with one line naming the field."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from t2.flows.config import load_study
from t2.infra.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny.yaml", "cluster.yaml"])
def test_example_studies_validate(name):
    cfg = load_study(ROOT / "examples" / name)
    assert cfg.budget.targets and cfg.budget.train_flops > 0


@pytest.mark.parametrize("override, field", [
    ("select.strategy=bayes", "select.strategy"),
    ("model.params_max=1.0", "model"),
    ("design.seed_ratios=[5000]", "design"),
    ("eval.ks=[1,64]", "eval"),
    ("budget.nonsense=3", "budget.nonsense"),
    ("budget.targets=[]", "budget"),
    ("train.tokens=1e9", "train"),
    ("train.batch_tokens=0", "train.batch_tokens"),
])
def test_bad_study_field_is_a_one_line_error_naming_it(sim_study, override, field):
    with pytest.raises(ConfigError) as err:
        load_study(sim_study(), [override])
    msg = str(err.value)
    assert "\n" not in msg and f": {field}" in msg


def test_study_config_is_frozen(sim_study):
    cfg = load_study(sim_study())
    with pytest.raises(ValidationError):
        cfg.name = "other"
