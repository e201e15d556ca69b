"""The only I/O of ``t2.fitting``: a CSV or parquet table of results -> dict of numpy arrays.

    cols = read_results("results.csv", columns={"N": "Model Size", "L": "loss"})

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
