"""One shard of a sharded corpus: read its documents, hold some out, encode, write, mark done.

    from t2.models.tokenize_shards import tokenize_shard, shard_done
    marker = tokenize_shard(plan, ctx)           # writes <stage>/shards/00007.{train,val}.bin,
                                                 # then 00007.json (the done-marker) last
    shard_done(stage, plan)                      # the marker if this shard is finished, else None

A shard's output is a pure function of its plan and ``ctx`` (tokenizer, seed, held-out share),
so it does not matter on which node or in which order shards run, or whether a shard is redone.
A document is held out for validation when a keyed hash of its text falls below
``val_fraction``: the split needs no coordination between shards, and copies of one document
always land on the same side. Each document is followed by the end-of-document token.
``unique_tokens``: the train tokens of distinct documents for a built-in source (which repeat
their texts); for files all train tokens (t2 does not deduplicate files).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from itertools import chain
from pathlib import Path

import numpy as np
from t2.infra.storage import hash8, write_json
from t2.models.corpus_files import DataError, read_documents

BATCH_BYTES = 1 << 20  # text encoded per call (bounds memory, keeps tokenizer threads busy)
MAX_CHARS_PER_TOKEN = 16  # bound on text drawn from a built-in source per token
_TOKENIZERS: dict[str, object] = {}


def shard_files(stage: Path, sid: int) -> tuple[Path, Path, Path]:
    """(train.bin, val.bin, done-marker .json) of shard ``sid``."""
    base = Path(stage) / "shards" / f"{sid:05d}"
    return base.with_suffix(".train.bin"), base.with_suffix(".val.bin"), base.with_suffix(".json")


def plan_digest(plan: dict) -> str:
    return hash8("shard", plan)


def shard_done(stage: Path, plan: dict) -> dict | None:
    """The shard's marker if it was finished for this very plan and its files are whole."""
    train, val, marker = shard_files(stage, plan["id"])
    if not marker.is_file():
        return None
    done = json.loads(marker.read_text())
    itemsize = np.dtype(done["dtype"]).itemsize
    whole = (train.is_file() and val.is_file()
             and train.stat().st_size == done["num_tokens"] * itemsize
             and val.stat().st_size == done["num_val_tokens"] * itemsize)
    return done if whole and done["plan_digest"] == plan_digest(plan) else None


class _Sink:
    """Token arrays appended to a temporary file; ``commit`` renames it into place."""

    def __init__(self, path: Path):
        self.path, self.tmp = path, path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.f = open(self.tmp, "wb")  # noqa: SIM115 - closed by commit()
        self.sha, self.count = hashlib.sha256(), 0

    def write(self, ids: np.ndarray) -> None:
        raw = ids.tobytes()
        self.f.write(raw)
        self.sha.update(raw)
        self.count += len(ids)

    def commit(self) -> str:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)
        return self.sha.hexdigest()


def _backend(tokenizer_json: str):
    key = hashlib.sha256(tokenizer_json.encode()).hexdigest()
    if key not in _TOKENIZERS:
        from tokenizers import Tokenizer

        _TOKENIZERS[key] = Tokenizer.from_str(tokenizer_json)
    return _TOKENIZERS[key]


def encode(raws: list[bytes], texts: list[str], ctx: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ids with EOS after each document, tokens per document incl. EOS) of one batch."""
    dtype, eos = np.dtype(ctx["dtype"]), ctx["eos_id"]
    if not raws:
        return np.empty(0, dtype), np.empty(0, np.int64)
    if ctx["tokenizer"] == "byte":
        # byte b has id 3 + b; 0xFF never occurs in UTF-8, so it stands for EOS (t2.models.data)
        ids = np.frombuffer(b"\xff".join(raws) + b"\xff", np.uint8).astype(dtype) + 3
        ids[ids == 0xFF + 3] = eos
        return ids, np.array([len(r) + 1 for r in raws], np.int64)
    encs = _backend(ctx["tokenizer"]).encode_batch_fast(texts, add_special_tokens=False)
    idss = [e.ids for e in encs]
    lens = np.fromiter(map(len, idss), np.int64, len(idss))
    out = np.empty(int(lens.sum()) + len(idss), dtype)
    ends = np.cumsum(lens + 1) - 1
    body = np.ones(len(out), bool)
    body[ends] = False
    out[body] = np.fromiter(chain.from_iterable(idss), dtype, int(lens.sum()))
    out[ends] = eos
    return out, lens + 1


def builtin_documents(plan: dict, builtin: dict):
    fn = builtin[plan["source"]]
    for text in fn(plan["seed"], MAX_CHARS_PER_TOKEN * plan["num_tokens"]):
        if text:
            yield text, text.encode("utf-8")


class _Shard:
    """The running state of one shard: sinks, counts, the held-out rule."""

    def __init__(self, plan: dict, ctx: dict):
        self.plan, self.ctx = plan, ctx
        train, val, _ = shard_files(Path(ctx["stage"]), plan["id"])
        train.parent.mkdir(parents=True, exist_ok=True)
        self.train, self.val = _Sink(train), _Sink(val)
        self.key = int(ctx["seed"]).to_bytes(8, "little")
        self.cut = int(ctx["val_fraction"] * 2 ** 64)
        self.seen: set[bytes] | None = set() if plan["format"] == "builtin" else None
        self.docs = self.val_docs = self.unique = self.text_bytes = 0

    def add(self, batch: list[tuple[str, bytes]]) -> None:
        digests = [hashlib.blake2b(raw, digest_size=8, key=self.key).digest() for _, raw in batch]
        held = [int.from_bytes(d, "little") < self.cut for d in digests]
        for split, sink in ((False, self.train), (True, self.val)):
            part = [(doc, d) for doc, d, h in zip(batch, digests, held) if h == split]
            ids, lens = encode([r for (_, r), _ in part], [t for (t, _), _ in part], self.ctx)
            sink.write(ids)
            if split:
                self.val_docs += len(part)
            elif self.seen is None:
                self.unique += len(ids)
            else:  # built-in sources repeat documents: count each distinct one once
                for (_, d), n in zip(part, lens.tolist()):
                    if d not in self.seen:
                        self.seen.add(d)
                        self.unique += n
        self.docs += len(batch)
        self.text_bytes += sum(len(r) for _, r in batch)

    def full(self) -> bool:
        return self.plan["format"] == "builtin" and self.train.count >= self.plan["num_tokens"]


def _batches(docs, limit: int):
    batch, size = [], 0
    for doc in docs:
        batch.append(doc)
        size += len(doc[1])
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def tokenize_shard(plan: dict, ctx: dict, builtin: dict | None = None) -> dict:
    """Build shard ``plan["id"]`` under ``ctx["stage"]``; return (and write, last) its marker."""
    from t2.infra.dist import placement

    start = time.perf_counter()
    shard = _Shard(plan, ctx)
    docs = (builtin_documents(plan, builtin or {}) if plan["format"] == "builtin"
            else read_documents(plan))
    for batch in _batches(docs, BATCH_BYTES):
        shard.add(batch)
        if shard.full():
            break
    if plan["format"] == "builtin" and shard.train.count < plan["num_tokens"]:
        raise DataError(f"data.mix: source {plan['source']!r} ran dry after "
                        f"{shard.train.count} of {plan['num_tokens']} tokens")
    marker = {"id": plan["id"], "source": plan["source"], "plan_digest": plan_digest(plan),
              "dtype": ctx["dtype"], "num_tokens": shard.train.count,
              "num_val_tokens": shard.val.count, "num_documents": shard.docs - shard.val_docs,
              "num_val_documents": shard.val_docs, "unique_tokens": shard.unique,
              "text_bytes": shard.text_bytes,
              "sha256": {"train": shard.train.commit(), "val": shard.val.commit()},
              "seconds": time.perf_counter() - start, **placement()}
    write_json(shard_files(Path(ctx["stage"]), plan["id"])[2], marker)
    return marker


def ray_row(row: dict, ctx: dict, builtin: dict | None = None) -> dict:
    """A Ray Data ``map`` over rows ``{"id", "plan": JSON}``: bad input comes back as a row
    (one line, no Ray traceback), anything else raises as usual."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # a one-CPU task: encode on this thread
    plan = json.loads(row["plan"])
    try:
        result = tokenize_shard(plan, ctx, builtin)
    except DataError as err:
        result = {"id": plan["id"], "error": str(err)}
    return {"id": plan["id"], "result": json.dumps(result)}
