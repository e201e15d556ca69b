"""Shared fixtures of the reliability tests (fault injection, corruption, multi-node Ray).

Run: python -m pytest tests/reliability -q
"""

import pytest


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")
