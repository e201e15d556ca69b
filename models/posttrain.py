"""Post-training (the T² paper's third question): fine-tune a finished pretraining checkpoint.

    from t2.evaluation.tasks import train_set
    from t2.models.posttrain import posttrain
    from t2.models.posttrain_config import PosttrainConfig
    cfg = PosttrainConfig(mode="sft", tasks=["arithmetic"], epochs=6)
    ts = train_set(cfg.tasks, num=cfg.num_train_problems, seed=cfg.seed)   # + split hashes
    out = posttrain(cfg, "runs/x/results/D-1e+06", "runs/x/pt-sft", ts)   # or: t2 posttrain
    # out/hf: the post-trained HF checkpoint (t2 evaluate reads it); out/posttrain.json

Roberts et al. 2026 (arXiv 2604.01411) fine-tune their checkpoints in two ways, FT (loss on
the whole sequence) and SFT (loss on the answer only), 6 epochs on the train splits of real
tasks, and ask whether the overtraining advantage survives. ``mode`` picks the loss
(t2.models.posttrain_data), the train set comes from t2.evaluation.tasks.train_set (train
splits disjoint from evaluation, proven by hashing; the prompt format of evaluation), LR and
batch from the documented rule in t2.models.posttrain_config.

Same engine and launch path as pretraining: world size 1 runs ``posttrain_worker`` in this
process, ``dist.num_workers > 1`` (or ``dist.use_ray``, or a Ray address) on every rank of a
Ray Train job (t2.infra.ray_train.launch). The checkpoint is an HF export of ``t2 train``
(``results/D-*`` or its ``hf/``; a bare HF directory works when ``lr`` is set). Layout of
``out_dir``: ``config.yaml`` (what runs here: the config and the source's weights digest),
``train_set.jsonl``, ``split_hashes.json``, ``ckpt/step-*`` (while running), ``metrics.jsonl``
(loss per step), ``hf/``, ``posttrain.json`` (t2.models.posttrain_export), ``_SUCCESS``.
Rerunning a finished run returns at once; an interrupted one resumes bit-for-bit from its
newest verified checkpoint (kill -9 included: tests/models/test_posttrain.py).
"""

from __future__ import annotations

from pathlib import Path

from t2.infra.config import ConfigError, dump_config
from t2.infra.ray_cluster import wants_ray
from t2.infra.storage import (
    file_sha256,
    hash8,
    is_done,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
)
from t2.models.posttrain_config import PosttrainConfig
from t2.models.posttrain_data import TrainSet
from t2.models.posttrain_export import SPLITS
from t2.models.posttrain_loop import TRAIN_SET
from t2.models.run_log import snapshot, tracking_run


def resolve_source(checkpoint: str | Path) -> dict:
    """Where the HF weights are and what pretraining recorded about them (train.json)."""
    path = Path(checkpoint).resolve()
    hf = path / "hf" if (path / "hf" / "config.json").is_file() else path
    if not (hf / "config.json").is_file():
        raise ConfigError(f"CHECKPOINT {checkpoint}: no config.json (not an HF checkpoint or "
                          "a t2 result directory)")
    weights = hf / "model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"CHECKPOINT {checkpoint}: no model.safetensors in {hf}")
    result = hf.parent if (hf.parent / "train.json").is_file() else None
    info = read_json(result / "train.json") if result else {}
    return {"hf_dir": str(hf), "result_dir": str(result) if result else None,
            "weights_sha256": _weights_digest(result, hf),
            "pretrain_lr": info.get("hparams", {}).get("lr"), "D": info.get("D"),
            "N": info.get("N", {}).get("total"), "val_loss": info.get("val_loss"),
            "flops": info.get("train_flops", {}).get("6ND_total"),
            "epochs": info.get("repetition", {}).get("epochs")}


def _weights_digest(result: Path | None, hf: Path) -> str:
    """The checksum the result's own marker recorded, else the file's (large: read once)."""
    if result is not None and is_done(result):
        files = read_json(result / "_SUCCESS").get("files", {})
        if "hf/model.safetensors" in files:
            return files["hf/model.safetensors"]
    return file_sha256(hf / "model.safetensors")


def default_out(cfg: PosttrainConfig, checkpoint: str | Path) -> Path:
    """``<result dir>/posttrain-{mode}-{hash8}``: beside the checkpoint, named by settings."""
    src = resolve_source(checkpoint)
    base = Path(src["result_dir"] or Path(src["hf_dir"]).parent)
    return base / f"posttrain-{cfg.mode}-{hash8(cfg.model_dump(mode='json'), src['hf_dir'])}"


def posttrain(cfg: PosttrainConfig, checkpoint: str | Path, out_dir: str | Path,
              train_set: TrainSet, *, ray_address: str | None = None,
              parent_run_id: str | None = None) -> Path:
    """Run (or resume, or skip) one post-training run; return ``out_dir`` (done)."""
    out = Path(out_dir)
    source = resolve_source(checkpoint)
    if not is_done(out):  # refuse bad settings before writing anything
        _check_hparams(cfg, source, len(train_set.examples))
    _snapshot(cfg, source, out)
    if is_done(out):
        return out
    _write_train_set(out, cfg, train_set)
    worker_cfg = {"posttrain": cfg.model_dump(mode="json"), "out_dir": str(out.resolve()),
                  "source": source, "run_id": _tracking_run(cfg, out, source, parent_run_id)}
    if wants_ray(cfg.dist.use_ray, cfg.dist.num_workers, ray_address):
        from t2.infra.ray_train import launch

        launch(posttrain_worker, worker_cfg, num_workers=cfg.dist.num_workers,
               use_gpu=cfg.dist.use_gpu, run_name=f"posttrain-{hash8(worker_cfg)}",
               storage_path=out / "ray", ray_address=ray_address,
               cpus_per_worker=cfg.dist.threads_per_worker or 1, backend=cfg.dist.backend,
               max_failures=cfg.dist.max_failures)
    else:
        posttrain_worker(worker_cfg)
    if not is_done(out):
        raise RuntimeError(f"{out}: post-training ended without _SUCCESS")
    return out


def _check_hparams(cfg: PosttrainConfig, source: dict, num_examples: int) -> None:
    """Settings the ranks would refuse (no LR to derive, a batch that does not split), as a
    one-line ConfigError before anything starts."""
    from t2.models.posttrain_config import resolve_posttrain
    from t2.models.sizing import param_counts
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source["hf_dir"], local_files_only=True)
    try:
        resolve_posttrain(cfg, num_examples=num_examples, pretrain_lr=source["pretrain_lr"],
                          num_params=param_counts(config)["total"],
                          max_len=cfg.max_seq_len or config.max_position_embeddings,
                          world_size=cfg.dist.num_workers)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def posttrain_worker(config: dict) -> None:
    """The per-rank entry (in-process or a Ray Train worker)."""
    from t2.models.posttrain_loop import PosttrainLoop

    PosttrainLoop(PosttrainConfig.model_validate(config["posttrain"]), Path(config["out_dir"]),
                  config["source"], run_id=config.get("run_id")).run()


def read_summary(out_dir: str | Path) -> dict:
    """``posttrain.json`` of a finished run."""
    out = Path(out_dir)
    if not is_done(out):
        raise FileNotFoundError(f"{out}: not a finished post-training run (no _SUCCESS)")
    return read_json(out / "posttrain.json")


def _snapshot(cfg: PosttrainConfig, source: dict, out: Path) -> None:
    """The settings and the source's weights digest: a rerun must name the same run."""
    snapshot(out, dump_config(cfg) + f"# source: {source['hf_dir']}\n"
             f"# weights_sha256: {source['weights_sha256']}\n", "post-training run")


def _write_train_set(out: Path, cfg: PosttrainConfig, train_set: TrainSet) -> None:
    """Persist the examples and split hashes once; a rerun must bring the same examples."""
    missing = sorted({e.task for e in train_set.examples} - set(cfg.tasks))
    if missing or not train_set.examples:
        raise ConfigError(f"tasks: the train set holds {missing or 'no examples'}, "
                          f"not {cfg.tasks}")
    path = out / TRAIN_SET
    if path.exists():
        if TrainSet.from_rows(read_jsonl(path)).digest() != train_set.digest():
            raise ConfigError(f"{path}: the train set differs from the one this run started "
                              "with (task data or code changed); use another --out")
        return
    write_json(out / SPLITS, train_set.splits)
    write_jsonl(path, train_set.rows())


def _tracking_run(cfg: PosttrainConfig, out: Path, source: dict,
                  parent_run_id: str | None) -> str | None:
    from t2.infra.tracking import flatten

    return tracking_run(cfg.tracking, out, out.name, lambda: flatten(
        {"posttrain": cfg.model_dump(mode="json"),
         "source": {k: v for k, v in source.items() if v is not None}}), parent_run_id)
