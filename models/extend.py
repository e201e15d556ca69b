"""Continue a finished run's kept trunk (``train.init_from``): a longer D pays only new tokens.

    cfg = RunConfig(..., train=TrainSpec(tokens=4e6, init_from="runs/a"))   # runs/a: D=1e6 done
    init = prepare(cfg, "runs/b")   # checks runs/a, links its trunk into runs/b/ckpt; or None
    train(cfg, "runs/b")            # what t2.models.train does with it: continues from there

A finished run keeps one checkpoint: the trunk state where its last decay branch left
(``t2.models.train_loop``). A run with ``init_from`` starts from that state, exactly as the
original run would have continued its trunk: batches are a pure function of (seed, step, rank,
world size) and the trunk's LR of the step, and the checkpoint restores weights, optimizer and
RNG states. Its decay points must branch at or after the kept trunk step (longer D: yes; a D
whose decay starts earlier needs a trunk state nobody kept).

The trunk is independent of the D values chosen later: batch size, micro-batch, peak LR and
warmup are fixed where a trunk starts. A fresh run derives them from its own (N, D)
(``t2.models.hparams``); a continuation inherits them from its source (recorded in the source's
``train.json``), and only its decay steps come from its own D values. Hence A (D1) continued to
D2 is bit-for-bit the single run with decay points (D1, D2) when their trunks share hparams (set
explicitly, or derived from the same D1 in both as for warmup); with derived hparams a fresh
run to D2 alone would use the batch and LR of D2 instead.

The source directory is only read: its checkpoint is verified (checksums, no pickled code) and
hard-linked (copied across file systems) into this run's ``ckpt/``, under this run's progress
counter; nothing writes into an existing checkpoint file (a save first removes its tag
directory, pruning removes links), so the source's files never change. ``init.json`` records
where the run came from.
"""

from __future__ import annotations

import time
from pathlib import Path

from t2.infra.config import ConfigError, load_config
from t2.infra.storage import is_done, read_json, write_json
from t2.models.config import RunConfig
from t2.models.hparams import Hparams, steps_for
from t2.models.schedule import WSD
from t2.models.train_export import result_dir

# Fields that define the trunk (model, data stream, optimisation, layout): they must match.
SAME = ("model.params", "model.depth", "model.seq_len", "model.tie_embeddings",
        "data.tokenizer", "data.bpe_vocab_size", "data.mix", "data.corpus_tokens", "data.seed",
        "data.files", "data.hf_dataset", "data.eos_token", "data.val_fraction",
        "train.seed", "train.warmup_frac", "train.weight_decay", "train.grad_clip",
        "dist.num_workers", "dist.zero_stage", "dist.precision")
# Optional here (None: inherited), but when set they must equal what the source trained with.
INHERITED = {"train.batch_tokens": "batch_tokens", "train.micro_batch": "micro_batch",
             "train.lr": "lr"}


def _get(cfg: RunConfig, field: str):
    section, name = field.split(".")
    return getattr(getattr(cfg, section), name)


def source_checkpoint(src: Path, last_branch: int) -> tuple[Path, dict]:
    """The source's kept trunk checkpoint (branch point of its last D), checksums verified."""
    from t2.infra.checkpoint import complete_checkpoints, verified

    for path, manifest in complete_checkpoints(src / "ckpt"):
        if manifest.get("branch_point") == last_branch and verified(path):
            return path, manifest
    raise ConfigError(f"train.init_from: {src}: its kept trunk checkpoint (before its last "
                      "decay) is missing or fails its checksums")


def continued_hparams(src_hp: dict, cfg: RunConfig) -> Hparams:
    """The source's trunk settings with this run's decay points (in the source's batches)."""
    t, batch = cfg.train, src_hp["batch_tokens"]
    keep = ("num_params", "seq_len", "world_size", "batch_tokens", "micro_batch", "grad_accum",
            "lr", "warmup_tokens", "warmup_steps")
    return Hparams(**{k: src_hp[k] for k in keep}, num_tokens=float(t.tokens),
                   num_steps=steps_for(t.tokens, batch),
                   decay_steps=tuple(steps_for(D, batch) for D in t.decay_points),
                   decay_frac=t.decay_frac, min_lr_frac=t.min_lr_frac,
                   weight_decay=t.weight_decay, grad_clip=t.grad_clip)


def check(cfg: RunConfig, src_cfg: RunConfig, src_hp: dict, src: Path) -> None:
    """One-line ConfigError naming the first field where this run cannot continue ``src``."""
    for field in SAME:
        mine, theirs = _get(cfg, field), _get(src_cfg, field)
        if mine != theirs:
            raise ConfigError(f"{field}: {mine!r} differs from {theirs!r} of the run "
                              f"train.init_from continues ({src})")
    for field, key in INHERITED.items():
        mine = _get(cfg, field)
        if mine is not None and mine != src_hp[key]:
            raise ConfigError(f"{field}: {mine!r} differs from {src_hp[key]!r}, what the run "
                              f"train.init_from continues ({src}) trained with (leave it unset)")


def trunk_step(src_hp: dict) -> int:
    """Schedule step of the source's kept trunk state: where its last decay branch leaves."""
    steps = tuple(src_hp["decay_steps"])
    return WSD(peak_lr=src_hp["lr"], warmup_steps=src_hp["warmup_steps"], decay_steps=steps,
               decay_frac=src_hp["decay_frac"]).branch_start(len(steps) - 1)


def plan(cfg: RunConfig) -> dict:
    """Read and check the source: this run's hparams, the trunk step it starts at, the source
    checkpoint. Raises ConfigError (one line) for anything that rules the continuation out."""
    src = Path(cfg.train.init_from).resolve()
    if not is_done(src) or not (src / "config.yaml").is_file():
        raise ConfigError(f"train.init_from: {src} is not a finished training run "
                          "(no _SUCCESS or config.yaml)")
    src_cfg = load_config(src / "config.yaml", RunConfig)
    src_hp = read_json(result_dir(src, src_cfg.train.decay_points[-1]) / "train.json")["hparams"]
    check(cfg, src_cfg, src_hp, src)
    hp = continued_hparams(src_hp, cfg)
    try:
        wsd = WSD(peak_lr=hp.lr, warmup_steps=hp.warmup_steps, decay_steps=hp.decay_steps,
                  decay_frac=hp.decay_frac, min_lr_frac=hp.min_lr_frac)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    start = trunk_step(src_hp)
    for i, D in enumerate(cfg.train.decay_points):
        if wsd.branch_start(i) < start:
            field = "train.tokens" if D == cfg.train.tokens else "train.decay_at"
            raise ConfigError(f"{field}: D={D:g} decays from step {wsd.branch_start(i)}, before "
                              f"step {start} where the kept trunk of {src} stops; only a D whose "
                              "decay starts at or after it can continue that trunk")
    ckpt, manifest = source_checkpoint(src, len(src_cfg.train.decay_points) - 1)
    # This run's first branch may leave exactly at the imported state: mark it as that branch
    # point, so returning to the trunk (and _finish) finds it like one of its own saves.
    branch = next((i for i in range(len(hp.decay_steps)) if wsd.branch_start(i) == start), None)
    return {"source": str(src), "checkpoint": str(ckpt), "source_progress": manifest["progress"],
            "trunk_step": start, "branch_point": branch, "hparams": vars(hp)}


def prepare(cfg: RunConfig, out: str | Path) -> dict | None:
    """Driver side, before any worker starts: check the source (``plan``) and, when this run
    has no verified checkpoint of its own yet, link the source's trunk in as ``ckpt/step-T``.
    Returns what the workers need (JSON), or None for a run that starts from scratch."""
    from t2.infra.checkpoint import import_checkpoint, latest_checkpoint
    from t2.infra.deepspeed import check_no_pickled_code

    if cfg.train.init_from is None:
        return None
    init = plan(cfg)
    out = Path(out)
    if latest_checkpoint(out / "ckpt") is None:
        t0 = time.perf_counter()
        try:
            check_no_pickled_code(init["checkpoint"])
        except ValueError as err:
            raise ConfigError(f"train.init_from: {err}") from None
        extra = {"imported_from": init["checkpoint"], "source_progress": init["source_progress"]}
        if init["branch_point"] is not None:
            extra["branch_point"] = init["branch_point"]
        dest, linked = import_checkpoint(init["checkpoint"], out / "ckpt", init["trunk_step"],
                                         extra)
        write_json(out / "init.json", {k: v for k, v in init.items() if k != "hparams"}
                   | {"checkpoint_copy": str(dest), "hardlinked": linked,
                      "seconds": time.perf_counter() - t0, "at": time.time()})
    return init
