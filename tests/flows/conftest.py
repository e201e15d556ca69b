"""Fixtures for study-flow tests: a small simulated study and its true law."""

import json

import pytest
from study_files import TRUE_LAW, write_study


@pytest.fixture
def sim_study(tmp_path):
    """A factory: sim_study(**{"select.strategy": "grid"}) -> path of a study YAML."""
    def make(**overrides):
        return write_study(tmp_path / "study.yaml", overrides)
    return make


@pytest.fixture
def law_file(tmp_path):
    path = tmp_path / "law.json"
    path.write_text(json.dumps(TRUE_LAW))
    return path
