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


GADRE_CSV = Path("/work/shared/data/gadre2024_c4_openlm_runs.csv")


def problem_rows(law, seed: int, num_problems: int = 200, num_samples: int = 32,
                 sizes: int = 6, ratios: int = 5) -> dict:
    """Per-(checkpoint, problem) rows drawn from a T2BetaLaw: p_i ~ Beta(a, b) at each
    checkpoint of a sizes x tokens/param grid (5e6..9e8 params, 5..2000 tokens/param) and
    c_i ~ Binomial(num_samples, p_i). Keys N, D, n, c, p, run (one run per checkpoint)."""
    rng = np.random.default_rng(seed)
    Ns, Rs = np.meshgrid(np.geomspace(5e6, 9e8, sizes), np.geomspace(5, 2000, ratios),
                         indexing="ij")
    N, D = Ns.ravel(), (Rs * Ns).ravel()
    a, b = law.beta_params(N, D)
    p = rng.beta(np.repeat(a, num_problems), np.repeat(b, num_problems))
    return {"N": np.repeat(N, num_problems), "D": np.repeat(D, num_problems),
            "n": np.full(p.size, float(num_samples)), "c": rng.binomial(num_samples, p) * 1.0,
            "p": p, "run": np.repeat(np.arange(N.size), num_problems)}


def write_problem_csv(path, rows: dict, problems_per_checkpoint: int) -> None:
    """CSV with columns N, D, problem, run, n, c, p (full-precision floats)."""
    lines = ["N,D,problem,run,n,c,p"]
    for i in range(len(rows["N"])):
        lines.append(",".join([repr(float(rows["N"][i])), repr(float(rows["D"][i])),
                               f"q{i % problems_per_checkpoint}", f"r{int(rows['run'][i])}",
                               repr(int(rows["n"][i])), repr(int(rows["c"][i])),
                               repr(float(rows["p"][i]))]))
    Path(path).write_text("\n".join(lines) + "\n")
