"""Tables of results -> dict of numpy arrays (``t2.fitting``'s input I/O; laws, plots and fit
JSON are written by ``laws.save_law`` and ``plots``).

    cols = read_results("results.csv", columns={"N": "Model Size", "L": "loss"})
    N, D, L = read_chinchilla_points("chinchilla_epoch_svg_extracted.csv")

``columns`` maps the name you want to the column in the file (a list keeps names as they are);
missing files, columns and non-numeric cells raise ``ValueError`` naming the file and column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _read_csv(path: Path) -> dict[str, list]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
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


def read_results(path, columns: dict | list | None = None) -> dict[str, np.ndarray]:
    """Read numeric ``columns`` of a ``.csv`` or ``.parquet`` file (all columns if None)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such results file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        data = _read_parquet(path)
    else:
        raise ValueError(f"{path}: unsupported format {suffix!r} (expected .csv or .parquet)")
    if columns is None:
        columns = list(data)
    mapping = dict(columns) if isinstance(columns, dict) else {c: c for c in columns}
    out = {}
    for name, col in mapping.items():
        if col not in data:
            raise ValueError(f"{path}: no column {col!r} (have: {', '.join(map(str, data))})")
        values = []
        for row, v in enumerate(data[col]):
            try:
                values.append(float(v))
            except (TypeError, ValueError):
                raise ValueError(f"{path}: column {col!r} has non-numeric values "
                                 f"(row {row + 1}: {v!r})") from None
        out[name] = np.array(values, dtype=float)
    return out


def read_chinchilla_points(path, drop_highest: int = 5):
    """N, D, L of Besiroglu et al.'s reconstruction of Hoffmann et al.'s Figure 4 (Epoch AI,
    2024, arXiv 2404.10102; columns ``Model Size``, ``Training FLOP``, ``loss``): D = FLOP / 6N,
    the ``drop_highest`` highest losses dropped as they did."""
    cols = read_results(path, {"N": "Model Size", "C": "Training FLOP", "L": "loss"})
    keep = np.argsort(cols["L"], kind="stable")[: len(cols["L"]) - drop_highest]
    N, C, L = cols["N"][keep], cols["C"][keep], cols["L"][keep]
    return N, C / (6 * N), L
