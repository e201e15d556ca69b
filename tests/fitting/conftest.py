"""Fixtures for fitting tests: known Chinchilla and T² laws."""

import pytest
from t2.fitting import ChinchillaLaw, T2LossLaw


@pytest.fixture
def chin_law():
    return ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


@pytest.fixture
def t2_law():
    return T2LossLaw(E=0.3, A=50.0, B=300.0, alpha=0.3, beta=0.35, G=0.8, gamma=0.6)
