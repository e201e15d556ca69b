"""Atomic files, done-markers and content hashes: the only way t2 writes results.

Every file is written to a temporary name in the same directory and renamed into place, so a
crash leaves either the old file or the new one, never half of one. A directory counts as done
only when its ``_SUCCESS`` marker exists; the marker is written last and records a SHA-256 of
every file it vouches for, so a truncated or corrupted result is detected, never read as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SUCCESS = "_SUCCESS"


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def hash8(*parts: Any) -> str:
    """Eight hex chars of SHA-256 over a canonical JSON of ``parts`` (dict order is ignored)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _payload_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and p.name != SUCCESS and not p.name.startswith(".")
    )


def mark_done(directory: str | os.PathLike, manifest: dict | None = None) -> Path:
    """Write ``_SUCCESS`` last: the manifest plus a checksum of every file under ``directory``."""
    directory = Path(directory)
    files = {str(p.relative_to(directory)): file_sha256(p) for p in _payload_files(directory)}
    return write_json(directory / SUCCESS, {"manifest": manifest or {}, "files": files})


def is_done(directory: str | os.PathLike, verify: bool = False) -> bool:
    """True when ``_SUCCESS`` exists; with ``verify``, also when every listed file matches its
    checksum."""
    marker = Path(directory) / SUCCESS
    if not marker.exists():
        return False
    if not verify:
        return True
    try:
        files = read_json(marker)["files"]
    except (ValueError, KeyError):
        return False
    return all(
        (Path(directory) / name).is_file() and file_sha256(Path(directory) / name) == digest
        for name, digest in files.items()
    )


def done_manifest(directory: str | os.PathLike) -> dict:
    return read_json(Path(directory) / SUCCESS)["manifest"]
