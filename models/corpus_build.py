"""Build a sharded corpus once per cache: plan shards, tokenize them (Ray Data or in process),
then publish index, meta and ``_SUCCESS`` in one rename.

    from t2.models.corpus_build import sharded_dir, build_sharded
    final = sharded_dir(spec, cache)                # <cache>/corpus-<hash8>, content-hashed
    build_sharded(spec, cache, final)               # resumable; ConfigError on bad input

The hash covers the data spec's content fields, every input file's identity (path, size,
mtime), the tokenizer's identity and the shard size, so a study root builds its corpus once
and every run shares it. Shards are written into ``<cache>/.corpus-<hash8>.building/``, each
with its own done-marker; a rerun after a crash (or a fixed bad input file of another source)
redoes only the shards without one. On a Ray cluster (Ray already initialized, an address
given, or more than ``LOCAL_MAX_BYTES`` of input) the shards are a Ray Data ``map`` spread over
the nodes, one CPU each; the done-markers record the node of every shard and ``index.json``
collects them. A progress line (shards, tokens, tokens/s) goes to stderr.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from t2.infra.storage import SUCCESS, file_sha256, hash8, read_json, write_json
from t2.models import corpus_files
from t2.models.corpus_files import DataError, expand, identity, plan_file, read_documents
from t2.models.tokenize_shards import ray_row, shard_done, tokenize_shard

FORMAT_VERSION = 3
LOCAL_MAX_BYTES = 256 << 20  # below this much input the shards run in this process
BPE_TRAIN_CHARS = 5_000_000  # as for the original corpus format (t2.models.data)


def source_inputs(spec, cache: Path) -> dict[str, list[Path] | None]:
    """Mix source -> its files (None for a built-in source), in sorted source order."""
    from t2.models.corpus_hf import dataset_files

    out = {}
    for name in sorted(spec.mix):
        if name in spec.files:
            out[name] = expand(name, spec.files[name])
        elif name in spec.hf_dataset:
            out[name] = dataset_files(name, spec.hf_dataset[name], cache)
        else:
            out[name] = None
    return out


def _source_opts(spec, name: str):
    return spec.files.get(name) or spec.hf_dataset.get(name)


def _content(spec, inputs: dict, tokenizer_identity: str) -> dict:
    builtin = any(files is None for files in inputs.values())
    opts = {n: _source_opts(spec, n).model_dump(include={"text_field", "txt_documents"})
            for n, files in inputs.items() if files is not None}
    return {"format": FORMAT_VERSION, "shard_bytes": corpus_files.SHARD_BYTES, "mix": spec.mix,
            "seed": spec.seed, "val_fraction": spec.val_fraction, "sources": opts,
            "tokenizer": tokenizer_identity,
            "bpe_vocab_size": spec.bpe_vocab_size if spec.tokenizer == "bpe" else None,
            "corpus_tokens": spec.corpus_tokens if builtin else None,
            "inputs": {n: [identity(p) for p in files] for n, files in inputs.items()
                       if files is not None}}


def _tokenizer_identity(spec, cache: Path) -> str:
    if spec.tokenizer in ("byte", "bpe"):
        return spec.tokenizer
    from t2.models.user_tokenizer import user_tokenizer

    return user_tokenizer(spec, cache).identity


def sharded_dir(spec, cache: Path) -> Path:
    """``<cache>/corpus-<hash8>`` of a spec that needs the sharded format."""
    content = _content(spec, source_inputs(spec, cache), _tokenizer_identity(spec, cache))
    return Path(cache) / f"corpus-{hash8('corpus', content)}"


def plan_shards(spec, inputs: dict) -> tuple[list[dict], dict]:
    """Every shard of the corpus, numbered in (source, file, slice) order, and the built-in
    source functions the plans name."""
    from t2.models.data import check_mix

    builtin = check_mix({n: w for n, w in spec.mix.items() if inputs[n] is None})
    total = sum(spec.mix.values())
    plans = []
    for name, files in inputs.items():
        if files is None:
            plans.append({"source": name, "format": "builtin", "seed": int(hash8(spec.seed,
                          name), 16), "num_tokens": int(spec.corpus_tokens * spec.mix[name]
                                                         / total)})
            continue
        for path in files:
            plans.extend(plan_file(name, path, _source_opts(spec, name)))
    return [{"id": i, **p} for i, p in enumerate(plans)], builtin


def bpe_texts(spec, plans: list[dict], builtin: dict) -> list[str]:
    """The BPE's training text: each source's weight share of ``BPE_TRAIN_CHARS``, from the
    start of its first shards (or of its built-in stream)."""
    from t2.models.tokenize_shards import builtin_documents

    total, texts = sum(spec.mix.values()), []
    for name in sorted(spec.mix):
        want, got = BPE_TRAIN_CHARS * spec.mix[name] / total, 0
        for plan in (p for p in plans if p["source"] == name):
            docs = (builtin_documents({**plan, "num_tokens": int(want)}, builtin)
                    if plan["format"] == "builtin" else read_documents(plan))
            for text, _ in docs:
                texts.append(text)
                got += len(text)
                if got >= want:
                    break
            if got >= want:
                break
    return texts


class Progress:
    """One line on stderr: a bar, shards done, tokens, tokens/s (redrawn on a terminal)."""

    def __init__(self, total: int, done: int, stream=sys.stderr):
        self.total, self.done, self.tokens, self.stream = total, done, 0, stream
        self.start, self.tty = time.perf_counter(), stream.isatty()
        self.shown = -1.0

    def line(self) -> str:
        rate = self.tokens / max(time.perf_counter() - self.start, 1e-9)
        width = 24
        fill = int(width * self.done / max(self.total, 1))
        return (f"t2 corpus [{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                f"shards  {self.tokens:.3g} tokens  {rate:.3g} tokens/s")

    def update(self, marker: dict) -> None:
        self.done += 1
        self.tokens += marker.get("num_tokens", 0) + marker.get("num_val_tokens", 0)
        frac = self.done / max(self.total, 1)
        if self.tty:
            print("\r" + self.line(), end="", file=self.stream, flush=True)
        elif frac - self.shown >= 0.1 or self.done == self.total:
            print(self.line(), file=self.stream, flush=True)
            self.shown = frac

    def close(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)


def _run_local(todo: list[dict], ctx: dict, builtin: dict, progress: Progress) -> None:
    for plan in todo:
        progress.update(tokenize_shard(plan, ctx, builtin))


def _run_ray(todo: list[dict], ctx: dict, builtin: dict, progress: Progress) -> None:
    import ray.data

    data_ctx = ray.data.DataContext.get_current()
    data_ctx.enable_progress_bars = False  # ours says tokens/s
    # Ray Data spreads its tasks over the nodes (its default scheduling strategy, SPREAD)
    rows = [{"id": p["id"], "plan": json.dumps(p)} for p in todo]
    ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
        ray_row, fn_kwargs={"ctx": ctx, "builtin": builtin}, num_cpus=1)
    for row in ds.iter_rows():
        result = json.loads(row["result"])
        if "error" in result:
            raise DataError(result["error"])
        progress.update(result)


def _use_ray(use_ray: bool | None, ray_address: str | None, todo: list[dict]) -> bool:
    if use_ray is not None:
        return use_ray
    ray = sys.modules.get("ray")
    if ray_address or (ray is not None and ray.is_initialized()):
        return True
    return sum(p.get("est_bytes", 0) for p in todo) > LOCAL_MAX_BYTES


def _run(todo, ctx, builtin, *, use_ray, ray_address, done: int, total: int) -> str:
    progress = Progress(total, done)
    try:
        if not todo:
            return "none"
        if not _use_ray(use_ray, ray_address, todo):
            _run_local(todo, ctx, builtin, progress)
            return "local"
        from t2.infra.ray_cluster import start_or_join_ray

        started = start_or_join_ray(ray_address)
        try:
            _run_ray(todo, ctx, builtin, progress)
        finally:
            if started:
                import ray

                ray.shutdown()
        return "ray"
    finally:
        progress.close()


def _stage(final: Path, plans: list[dict], ctx: dict) -> Path:
    """The persistent staging directory of ``final``; wiped if it holds another plan."""
    stage = final.parent / f".{final.name}.building"
    plan_file_ = stage / "plan.json"
    want = {"plans": plans, "ctx": {k: v for k, v in ctx.items() if k not in ("stage",
                                                                            "tokenizer")}}
    if plan_file_.is_file() and read_json(plan_file_) != json.loads(json.dumps(want)):
        shutil.rmtree(stage)
    if not plan_file_.is_file():
        write_json(plan_file_, want)
    return stage


def _summary(spec, markers: list[dict], tok) -> dict:
    total = sum(spec.mix.values())
    sources = {}
    for name in sorted(spec.mix):
        mine = [m for m in markers if m["source"] == name]
        sources[name] = {"weight": spec.mix[name] / total,
                         "num_tokens": sum(m["num_tokens"] for m in mine),
                         "num_val_tokens": sum(m["num_val_tokens"] for m in mine),
                         "unique_tokens": sum(m["unique_tokens"] for m in mine),
                         "num_documents": sum(m["num_documents"] for m in mine),
                         "num_shards": len(mine)}
    if not sum(s["num_val_tokens"] for s in sources.values()):
        docs = sum(m["num_documents"] for m in markers)
        raise DataError(f"data.val_fraction: no document of {docs} was held out for "
                        "validation; raise data.val_fraction")
    nodes: dict[str, int] = {}
    for m in markers:
        nodes[str(m.get("node_id"))] = nodes.get(str(m.get("node_id")), 0) + 1
    return {"format": FORMAT_VERSION, "layout": "shards", "vocab_size": tok.vocab_size,
            "eos_id": tok.eos_id, "dtype": markers[0]["dtype"], "sources": sources,
            "num_tokens": sum(s["num_tokens"] for s in sources.values()),
            "num_val_tokens": sum(s["num_val_tokens"] for s in sources.values()),
            "num_documents": sum(s["num_documents"] for s in sources.values()),
            "shards_per_node": nodes, "spec": spec.model_dump(mode="json")}


def _publish(stage: Path, final: Path, spec, markers: list[dict], tok, build: dict) -> None:
    for stale in (stage / "shards").glob(".*.tmp-*"):  # left by workers that were killed
        stale.unlink(missing_ok=True)
    meta = _summary(spec, markers, tok) | {"build": build}
    index = {"shards": [{"id": m["id"], "source": m["source"],
                         "train": f"shards/{m['id']:05d}.train.bin",
                         "val": f"shards/{m['id']:05d}.val.bin",
                         "num_tokens": m["num_tokens"], "num_val_tokens": m["num_val_tokens"],
                         "node_id": m.get("node_id"), "hostname": m.get("hostname"),
                         "seconds": m["seconds"]} for m in markers]}
    write_json(stage / "index.json", index)
    write_json(stage / "meta.json", meta)
    if (stage / "tokenizer").exists():
        shutil.rmtree(stage / "tokenizer")
    shutil.copytree(tok.dir, stage / "tokenizer", ignore=shutil.ignore_patterns(SUCCESS, ".*"))
    files = {f"shards/{m['id']:05d}.{split}.bin": m["sha256"][split]
             for m in markers for split in ("train", "val")}
    for path in [stage / "index.json", stage / "meta.json", stage / "plan.json",
                 *(stage / "shards").glob("*.json"), *(stage / "tokenizer").rglob("*")]:
        if path.is_file():
            files[str(path.relative_to(stage))] = file_sha256(path)
    write_json(stage / SUCCESS, {"manifest": {"spec": spec.model_dump(mode="json")},
                                 "files": files})
    if final.exists():  # a crashed publish left it without _SUCCESS
        shutil.rmtree(final)
    stage.rename(final)


def build_sharded(spec, cache: Path, final: Path, *, use_ray: bool | None = None,
                  ray_address: str | None = None) -> Path:
    """Build ``final`` unless done (under a lock: one builder per cache at a time)."""
    from t2.infra.storage import is_done
    from t2.models.user_tokenizer import resolve_tokenizer

    if is_done(final):
        return final
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_done(final):
            return final
        start = time.perf_counter()
        plans, builtin = plan_shards(spec, source_inputs(spec, cache))
        tok = resolve_tokenizer(spec, cache, bpe_texts=lambda: bpe_texts(spec, plans, builtin))
        ctx = {"dtype": "uint16" if tok.vocab_size <= 2 ** 16 else "uint32",
               "eos_id": tok.eos_id, "seed": spec.seed, "val_fraction": spec.val_fraction,
               "tokenizer": "byte" if tok.kind == "byte" else tok.json()}
        stage = _stage(final, plans, ctx)
        ctx["stage"] = str(stage)
        todo = [p for p in plans if shard_done(stage, p) is None]
        runner = _run(todo, ctx, builtin, use_ray=use_ray, ray_address=ray_address,
                      done=len(plans) - len(todo), total=len(plans))
        markers = [shard_done(stage, p) for p in plans]
        assert all(markers), "a shard finished without its marker"
        seconds = time.perf_counter() - start
        tokens = sum(m["num_tokens"] + m["num_val_tokens"] for m in markers)
        _publish(stage, final, spec, markers, tok,
                 {"runner": runner, "seconds": seconds, "shards_built": len(todo),
                  "tokens_per_s": tokens / max(seconds, 1e-9)})
    return final


def read_split(path: Path, split: str = "train") -> np.ndarray:
    """All tokens of one split of a finished sharded corpus, concatenated (small corpora)."""
    meta, index = read_json(path / "meta.json"), read_json(path / "index.json")
    parts = [np.fromfile(path / s[split], dtype=meta["dtype"]) for s in index["shards"]]
    return np.concatenate(parts) if parts else np.empty(0, meta["dtype"])
