"""The end of a post-training run: ``hf/``, ``posttrain.json``, then the run's ``_SUCCESS``.

    finish(out, state_dict, loop)     # rank 0, after the last step (t2.models.posttrain_loop)

Order, so that a crash anywhere loses nothing: the last checkpoint is saved before this runs;
``hf/`` is written and gets its own verified ``_SUCCESS``; ``posttrain.json`` follows; only
then are the checkpoints removed and the run's ``_SUCCESS`` written. A rerun that finds the
export complete but no run marker (``export_done``) just finishes. ``hf/`` loads with
``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained`` offline, so ``t2 evaluate`` and
``t2.evaluation.evaluate.evaluate_checkpoint`` read it unchanged.

``posttrain.json`` holds: mode, epochs (asked for and done), tasks and examples per task, the
token counts (prompt + answer tokens processed, answer tokens, loss-carrying tokens, padded
tokens), the post-training FLOPs on their own (``6·N·tokens``, N with embeddings, as for
pretraining; also over padded tokens and the exact count), every step's loss, the hparams,
the split hashes of every task (counts, a digest per side, overlap 0), the source checkpoint
(N, D, its pretraining LR and FLOPs) and ``checkpoint``: the fields of a
t2.flows.records.Checkpoint for the post-trained model (N and D of its pretraining).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from t2.infra.storage import is_done, mark_done, read_json, write_json

SUMMARY = "posttrain.json"
SPLITS = "split_hashes.json"
FINAL_LOSS_STEPS = 10


def export_done(out: Path) -> bool:
    return is_done(out / "hf", verify=True) and (out / SUMMARY).is_file()


def export_hf(dest: Path, state_dict: dict, model_config, tokenizer) -> Path:
    """The HF export of pretraining (t2.models.train_export.write_hf), then a verified marker
    (a partial one is redone)."""
    from t2.models.train_export import write_hf

    if dest.exists():
        shutil.rmtree(dest)
    write_hf(dest, state_dict, model_config, tokenizer)
    mark_done(dest, {"kind": "posttrained"})
    return dest


def split_summary(out: Path) -> dict:
    """Per task: counts and digests of both sides and their overlap (split_hashes.json)."""
    full = read_json(out / SPLITS) if (out / SPLITS).is_file() else {}
    return {task: {k: v for k, v in rec.items() if k in ("train", "eval", "overlap")}
            for task, rec in full.items()}


def summary(out: Path, loop) -> dict:
    from t2.models.posttrain_data import token_counts
    from t2.models.posttrain_loop import read_metrics

    hp, cfg, src = loop.hp, loop.cfg, loop.source
    counts = token_counts(loop.data, loop.batches, hp.num_steps)
    N = loop.counts["total"]
    losses = [r["loss"] for r in read_metrics(out)]
    tail = losses[-FINAL_LOSS_STEPS:]
    hf_dir = str((out / "hf").resolve())
    return {
        "name": out.name, "mode": cfg.mode, "tasks": list(cfg.tasks),
        "epochs": cfg.epochs, "epochs_done": loop.batches.epoch_of(hp.num_steps),
        "steps": hp.num_steps, "num_examples": loop.train_set.num_per_task(),
        **counts,
        "flops": {"6N_tokens": 6.0 * N * counts["tokens"],
                  "6N_padded_tokens": 6.0 * N * counts["padded_tokens"],
                  "exact": loop.fpt["train_exact"] * counts["tokens"]},
        "losses": losses, "first_loss": losses[0] if losses else None,
        "final_loss": sum(tail) / len(tail) if tail else None,
        "hparams": vars(hp), "seed": cfg.seed, "config": cfg.model_dump(mode="json"),
        "splits": split_summary(out), "train_set_sha256": loop.train_set.digest(),
        "N": loop.counts, "D": src.get("D"), "source": src, "hf_dir": hf_dir,
        "world_size": loop.info.world_size, "zero_stage": cfg.dist.zero_stage,
        "wall_seconds": loop.elapsed,
        "tokens_per_s": counts["tokens"] / max(loop.elapsed, 1e-9),
        "mlflow_run_id": loop.run_id,
        "checkpoint": {"N": float(N), "D": src.get("D"), "val_loss": src.get("val_loss"),
                       "result_dir": str(out.resolve()), "hf_dir": hf_dir,
                       "flops": src.get("flops"), "epochs": src.get("epochs")},
    }


def finish(out: Path, state_dict: dict | None, loop) -> None:
    """Rank 0: export (unless already done), summary, drop checkpoints, the run's marker."""
    from t2.infra.dist import print0

    if state_dict is not None:
        export_hf(out / "hf", state_dict, loop.model_config, loop.tokenizer)
        write_json(out / SUMMARY, summary(out, loop))
    info = read_json(out / SUMMARY)
    loop.tracker.log_metrics({"final_loss": info["final_loss"] or 0.0,
                              "posttrain_flops_6N": info["flops"]["6N_tokens"],
                              "tokens": info["tokens"]}, step=info["steps"])
    loop.tracker.finish()
    shutil.rmtree(out / "ckpt", ignore_errors=True)
    mark_done(out, {"name": info["name"], "mode": info["mode"], "hf_dir": info["hf_dir"]})
    print0(f"t2 posttrain: {info['mode']} {'+'.join(info['tasks'])}  {info['steps']} steps  "
           f"{info['tokens']:,} tokens  loss {info['first_loss']:.4f} -> "
           f"{info['final_loss']:.4f}  -> {out / 'hf'}")
