"""``data.hf_dataset`` sources as plain files: a ``save_to_disk`` directory read with pyarrow.

    from t2.models.corpus_hf import dataset_files
    files = dataset_files("wiki", HFDatasetSource(path="/data/wiki", split="train"), cache)

A dataset saved by ``datasets``' ``save_to_disk`` is a directory of Arrow IPC stream files
listed (in order) under ``_data_files`` in its ``state.json``; a ``DatasetDict`` has a
``dataset_dict.json`` naming its splits, each a subdirectory of that shape. t2 reads those
files with pyarrow (``datasets`` itself is not needed to train). A hub name
``hf:ORG/NAME[@REVISION]`` (only with ``data.allow_hub``) downloads the repo's files matching
``files`` once into ``<cache>/hub`` with ``huggingface_hub`` and reads them like ``data.files``:
downloaded, not streamed, so a multi-node cluster needs the cache on shared storage.
"""

from __future__ import annotations

import json
from pathlib import Path

from t2.models.corpus_files import DataError, file_format


def _field(name: str) -> str:
    return f"data.hf_dataset.{name}"


def _split_dir(name: str, root: Path, split: str | None) -> Path:
    dict_file = root / "dataset_dict.json"
    if not dict_file.is_file():
        if split is not None and (root / "state.json").is_file():
            raise DataError(f"{_field(name)}.split: {root} holds a single dataset, not splits")
        return root
    try:
        splits = json.loads(dict_file.read_text())["splits"]
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{dict_file}: not a datasets dataset_dict.json") from None
    chosen = split or "train"
    if chosen not in splits:
        raise DataError(f"{_field(name)}.split: {root} has no split {chosen!r} "
                        f"(splits: {', '.join(splits)})")
    return root / chosen


def saved_dataset_files(name: str, root: Path, split: str | None) -> list[Path]:
    """The Arrow files of a ``save_to_disk`` dataset (one split of a DatasetDict), in order."""
    if not root.is_dir():
        raise DataError(f"{_field(name)}.path: {root}: no such directory")
    directory = _split_dir(name, root, split)
    state = directory / "state.json"
    if not state.is_file():
        raise DataError(f"{_field(name)}.path: {directory} is not a dataset saved with "
                        "save_to_disk (no state.json or dataset_dict.json)")
    try:
        names = [f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{state}: not a datasets state.json (no _data_files)") from None
    files = [directory / n for n in names]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: listed in {state} but missing")
    return files


def _hub_files(name: str, source, cache: Path) -> list[Path]:
    repo, _, revision = source.path.removeprefix("hf:").partition("@")
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo, repo_type="dataset",
                                      revision=revision or source.revision,
                                      allow_patterns=list(source.files),
                                      cache_dir=str(cache / "hub")))
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, no network
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{_field(name)}.path: {source.path}: cannot fetch from the hub: "
                        f"{first}") from None
    found = sorted({p for pattern in source.files for p in root.glob(pattern) if p.is_file()})
    if not found:
        raise DataError(f"{_field(name)}.files: no file of {source.path} matches "
                        f"{list(source.files)}")
    for path in found:
        file_format(path)
    return found


def dataset_files(name: str, source, cache: Path) -> list[Path]:
    """The files behind one ``data.hf_dataset`` entry (local directory or, opt-in, hub)."""
    if source.path.startswith("hf:"):
        return _hub_files(name, source, cache)
    return saved_dataset_files(name, Path(source.path).resolve(), source.split)
