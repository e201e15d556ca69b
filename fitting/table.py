"""Tables of results -> dict of numpy arrays (``t2.fitting``'s input I/O; laws, plots and fit
JSON are written by ``laws.save_law`` and ``plots``).

    cols = read_results("results.csv", columns={"N": "Model Size", "L": "loss"})
    N, D, L = read_chinchilla_points("chinchilla_epoch_svg_extracted.csv")
    rows = read_problem_rows("problems.csv", {"N": "N", "D": "D", "n": "n", "c": "c"},
                             text={"problem": "problem"})

``columns`` maps the name you want to the column in the file (a list keeps names as they are);
``text`` columns (problem or run ids) are kept as strings. CSV lines starting with ``#`` are
comments (e.g. the provenance header of ``gadre2024_c4_openlm_runs.csv``). Missing files,
columns and non-numeric cells raise ``ValueError`` naming the file and column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _read_csv(path: Path) -> dict[str, list]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        if reader.fieldnames is None:
            raise ValueError(f"{path}: empty file")
        data = {name: [] for name in reader.fieldnames}
        for row in reader:
            for name in reader.fieldnames:
                data[name].append(row[name])
    return data


def _read_parquet(path: Path) -> dict[str, list]:
    import pyarrow.parquet as pq  # optional dependency, only for parquet files

    return pq.read_table(path).to_pydict()


def _read_table(path: Path) -> dict[str, list]:
    if not path.is_file():
        raise ValueError(f"{path}: no such results file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    raise ValueError(f"{path}: unsupported format {suffix!r} (expected .csv or .parquet)")


def _mapping(columns) -> dict:
    return dict(columns) if isinstance(columns, dict) else {c: c for c in columns}


def _column(path: Path, data: dict, col: str) -> list:
    if col not in data:
        raise ValueError(f"{path}: no column {col!r} (have: {', '.join(map(str, data))})")
    return data[col]


def _numeric(path: Path, col: str, cells: list) -> np.ndarray:
    values = []
    for row, v in enumerate(cells):
        try:
            values.append(float(v))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: column {col!r} has non-numeric values "
                             f"(row {row + 1}: {v!r})") from None
    return np.array(values, dtype=float)


def table_columns(path) -> list[str]:
    """The column names of a ``.csv`` or ``.parquet`` results file."""
    return list(_read_table(Path(path)))


def read_results(path, columns: dict | list | None = None,
                 text: dict | list | None = None) -> dict[str, np.ndarray]:
    """Read numeric ``columns`` of a ``.csv`` or ``.parquet`` file (all columns if both are None)
    and ``text`` columns as string arrays (ids: compared as written, never parsed)."""
    path = Path(path)
    data = _read_table(path)
    if columns is None and text is None:
        columns = list(data)
    out = {name: _numeric(path, col, _column(path, data, col))
           for name, col in _mapping(columns or {}).items()}
    for name, col in _mapping(text or {}).items():
        out[name] = np.array([str(v) for v in _column(path, data, col)], dtype=str)
    return out


def _first_bad(path: Path, col: str, values: np.ndarray, bad: np.ndarray, rule: str):
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{path}: column {col!r} {rule} (row {row + 1}: {values[row]!r})")


def read_problem_rows(path, columns: dict, text: dict | None = None) -> dict[str, np.ndarray]:
    """A per-problem table (one row per checkpoint and problem) for the T² Beta law.

    ``columns`` maps ``N``, ``D`` (or ``C``, training FLOPs) and either ``n``, ``c`` (samples
    drawn, samples correct) or ``p`` (per-problem success probability) to file columns;
    ``text`` maps ``problem`` (and optionally ``group``) to id columns. Checks, each a one-line
    ``ValueError`` naming the file and column: counts are integers with ``n >= 1`` and
    ``0 <= c <= n``, ``p`` lies in [0, 1], and no (N, D, problem) appears twice.
    """
    path = Path(path)
    rows = read_results(path, columns, text)
    if "n" in rows:
        n, c, n_col, c_col = rows["n"], rows["c"], columns["n"], columns["c"]
        _first_bad(path, n_col, n, (n < 1) | (np.round(n) != n), "must hold integers >= 1")
        _first_bad(path, c_col, c, (c < 0) | (np.round(c) != c), "must hold integers >= 0")
        _first_bad(path, c_col, c, c > n, f"exceeds column {n_col!r}")
    if "p" in rows:
        _first_bad(path, columns["p"], rows["p"], ~((rows["p"] >= 0) & (rows["p"] <= 1)),
                   "must lie in [0, 1]")
    if "problem" in rows:
        tokens = rows["D"] if "D" in rows else rows["C"]
        keys = np.array([f"{a!r}|{b!r}|{q}" for a, b, q in zip(rows["N"], tokens, rows["problem"])])
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = int(np.argmax(counts > 1))
            row = int(first[dup])
            raise ValueError(f"{path}: problem {str(rows['problem'][row])!r} appears "
                             f"{int(counts[dup])} times for one checkpoint (row {row + 1})")
    return rows


def read_chinchilla_points(path, drop_highest: int = 5):
    """N, D, L of Besiroglu et al.'s reconstruction of Hoffmann et al.'s Figure 4 (Epoch AI,
    2024, arXiv 2404.10102; columns ``Model Size``, ``Training FLOP``, ``loss``): D = FLOP / 6N,
    the ``drop_highest`` highest losses dropped as they did."""
    cols = read_results(path, {"N": "Model Size", "C": "Training FLOP", "L": "loss"})
    keep = np.argsort(cols["L"], kind="stable")[: len(cols["L"]) - drop_highest]
    N, C, L = cols["N"][keep], cols["C"][keep], cols["L"][keep]
    return N, C / (6 * N), L
