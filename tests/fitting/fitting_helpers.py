"""Helpers shared by the fitting tests: synthetic designs and the Epoch AI Chinchilla data."""

from pathlib import Path

import numpy as np

EPOCH_CSV = Path("/work/shared/data/chinchilla_epoch_svg_extracted.csv")

def design(num_k: int = 1):
    """8 model sizes x 6 tokens/param ratios (5..2000) [x powers-of-two k]: rows N, D, k."""
    Ns = np.geomspace(5e6, 9e8, 8)
    ratios = np.geomspace(5, 2000, 6)
    ks = 2.0 ** np.arange(num_k)
    N, R, k = (a.ravel() for a in np.meshgrid(Ns, ratios, ks, indexing="ij"))
    return N, R * N, k


def load_epoch(drop_highest: int = 5):
    """Besiroglu et al.'s 245 points: tokens = FLOP / 6N, the 5 highest losses dropped."""
    from t2.fitting.table import read_chinchilla_points

    return read_chinchilla_points(EPOCH_CSV, drop_highest)
