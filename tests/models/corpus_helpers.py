"""Writers of every supported input format, and a reader of byte-level corpora, for the tests.

    docs = documents(200)
    path = write(tmp_path, "jsonl.zst", docs)       # the same documents in any format
    assert corpus_documents(corpus) == sorted(docs)
"""

import gzip
import json
from pathlib import Path

import numpy as np

FORMATS = ["txt", "jsonl", "jsonl.gz", "jsonl.zst", "parquet", "arrow", "arrow-stream",
           "hf-dataset", "hf-dataset-dict"]
WORDS = ["thou", "art", "more", "lovely", "temperate", "Æsop", "naïve", "Ωmega", "🙂", "3.14"]


def documents(num: int, seed: int = 0) -> list[str]:
    """Distinct documents of 1-4 lines (never a blank line inside), some non-ASCII."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(num):
        lines = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 40))))
                 for _ in range(int(rng.integers(1, 5)))]
        docs.append(f"doc {i}: " + "\n".join(lines))
    return docs


def _jsonl_bytes(docs: list[str], field: str = "text") -> bytes:
    return "".join(json.dumps({field: d, "id": i}) + "\n" for i, d in enumerate(docs)).encode()


def write(directory: Path, fmt: str, docs: list[str], name: str = "part-0") -> Path:
    """``docs`` as one file (or dataset directory) of format ``fmt``; returns its path."""
    import pyarrow as pa

    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text": docs, "id": list(range(len(docs)))})
    if fmt == "txt":
        path = directory / f"{name}.txt"
        path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    elif fmt == "jsonl":
        path = directory / f"{name}.jsonl"
        path.write_bytes(_jsonl_bytes(docs))
    elif fmt == "jsonl.gz":
        path = directory / f"{name}.jsonl.gz"
        path.write_bytes(gzip.compress(_jsonl_bytes(docs)))
    elif fmt == "jsonl.zst":
        import zstandard

        path = directory / f"{name}.jsonl.zst"
        path.write_bytes(zstandard.ZstdCompressor().compress(_jsonl_bytes(docs)))
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        path = directory / f"{name}.parquet"
        pq.write_table(table, path, row_group_size=37)
    elif fmt in ("arrow", "arrow-stream"):
        path = directory / f"{name}.arrow"
        opener = pa.ipc.new_file if fmt == "arrow" else pa.ipc.new_stream
        with pa.OSFile(str(path), "wb") as sink, opener(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=50):
                writer.write_batch(batch)
    else:  # a datasets dataset saved to disk, alone or as the train split of a DatasetDict
        import datasets

        path = directory / name
        ds = datasets.Dataset.from_dict({"text": docs, "id": list(range(len(docs)))})
        if fmt == "hf-dataset":
            ds.save_to_disk(str(path), num_shards=2)
        else:
            other = datasets.Dataset.from_dict({"text": ["held elsewhere"], "id": [0]})
            datasets.DatasetDict({"train": ds, "test": other}).save_to_disk(str(path))
    return path


def data_section(fmt: str, path: Path) -> dict:
    """The ``data`` fields that read ``path`` as source ``src``."""
    if fmt.startswith("hf-dataset"):
        return {"hf_dataset": {"src": {"path": str(path)}}}
    return {"files": {"src": [str(path)]}}


def split_documents(ids: np.ndarray, eos_id: int = 1) -> list[str]:
    """The documents of a byte-level token array (byte b has id 3 + b, EOS after each)."""
    ends = np.flatnonzero(ids == eos_id)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [bytes((ids[a:b] - 3).astype(np.uint8)).decode("utf-8") for a, b in zip(starts, ends)]


def corpus_documents(corpus, split: str = "train") -> list[str]:
    """Every document of one split of a byte-level sharded corpus, sorted."""
    from t2.models.corpus_build import read_split

    return sorted(split_documents(read_split(corpus.path, split)))
