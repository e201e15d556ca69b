"""The per-rank post-training loop behind ``t2.models.posttrain.posttrain_worker``.

    PosttrainLoop(cfg, out_dir, source).run()   # on every rank; joins the process group first

Loads the source HF checkpoint, wraps it in the same DeepSpeed engine as pretraining
(``t2.models.train_loop.init_rank`` and ``make_engine``: ZeRO 0-3, gloo/fp32 on CPU, nccl/bf16
on CUDA), then runs the fixed
sequence of optimizer steps over ``train_set.jsonl`` (batches: t2.models.posttrain_data).
Checkpoints every ``checkpoint_every`` steps and after the last one (t2.infra.checkpoint: all
ranks save, rank 0 writes ``_SUCCESS`` last with checksums); a rerun resumes from the newest
verified one, bit-for-bit on CPU, since the batch and LR of a step are pure functions of the
step and the loop state is the step counter. The loss of a step is the mean over every
loss-carrying token of its global batch, however it is split into ranks and micro-steps.
Rank 0 writes ``metrics.jsonl`` (one row per step) and, at the end, ``hf/`` and
``posttrain.json`` (t2.models.posttrain_export).
"""

from __future__ import annotations

from pathlib import Path

from t2.infra.dist import all_reduce_sum, barrier, broadcast_from_rank0, print0
from t2.infra.storage import read_jsonl
from t2.models.posttrain_config import PosttrainConfig, resolve_posttrain, schedule
from t2.models.posttrain_data import Batches, TrainSet, encode_set, loss_sum
from t2.models.run_log import append_metrics, exit_hook, now, truncate_metrics
from t2.models.train_loop import init_rank, make_engine

TRAIN_SET = "train_set.jsonl"
METRICS = "metrics.jsonl"


def load_source(hf_dir: str, device: str):
    """(model in train mode, tokenizer) of an HF checkpoint: safetensors only, offline."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(hf_dir, use_safetensors=True,
                                                 local_files_only=True, dtype=torch.float32)
    return model.to(device).train(), AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)


def read_metrics(out: Path) -> list[dict]:
    path = out / METRICS
    return read_jsonl(path) if path.exists() else []


class PosttrainLoop:
    def __init__(self, cfg: PosttrainConfig, out: Path, source: dict, run_id: str | None = None):
        from t2.infra.tracking import open_tracker
        from t2.models.sizing import flops_per_token, param_counts

        self.cfg, self.out, self.source = cfg, Path(out), source
        self.info = info = init_rank(cfg.dist)
        model, self.tokenizer = load_source(source["hf_dir"], "cpu")
        self.model_config = model.config
        self.counts = param_counts(model.config)
        max_len = cfg.max_seq_len or model.config.max_position_embeddings
        self.fpt = flops_per_token(model.config, max_len)
        self.train_set = TrainSet.from_rows(read_jsonl(self.out / TRAIN_SET))
        self.data = encode_set(self.train_set, self.tokenizer, cfg.mode, max_len)
        self.hp = resolve_posttrain(cfg, num_examples=len(self.data),
                                    pretrain_lr=source.get("pretrain_lr"),
                                    num_params=self.counts["total"], max_len=max_len,
                                    world_size=info.world_size)
        self.wsd = schedule(self.hp)
        self.batches = Batches(self.data, seed=cfg.seed, batch_size=self.hp.batch_size,
                               world_size=info.world_size, micro_batch=self.hp.micro_batch)
        self.engine, self.optimizer = make_engine(model, cfg.dist, self.hp, info.world_size)
        self.tracker = open_tracker(enabled=run_id is not None, uri=cfg.tracking.uri,
                                    experiment=cfg.tracking.experiment, run_dir=self.out,
                                    run_name=self.out.name, run_id=run_id, rank=info.rank)
        self.run_id, self.ckpt_root = run_id, self.out / "ckpt"

    # ---- the walk ----------------------------------------------------------------------------
    def run(self) -> None:
        from t2.models.posttrain_export import export_done, finish

        rank0 = self.info.rank == 0
        if broadcast_from_rank0(export_done(self.out) if rank0 else None):
            if rank0:  # exported, checkpoints gone, but the run's marker not yet written
                finish(self.out, None, self)
            return
        step, self.elapsed = self._resume()
        if rank0:
            truncate_metrics(self.out, step)
        t_log = now()
        for s in range(step, self.hp.num_steps):
            t_step = now()
            loss = self._step(s)
            self.elapsed += now() - t_step
            self._log(s, loss, now() - t_log)
            t_log = now()
            done = s + 1
            if done % self.cfg.checkpoint_every == 0 or done == self.hp.num_steps:
                self._save(done)
            exit_hook(done)
        self._export()

    def _resume(self) -> tuple[int, float]:
        from t2.infra.checkpoint import latest_checkpoint, load_checkpoint

        found = broadcast_from_rank0(latest_checkpoint(self.ckpt_root)
                                     if self.info.rank == 0 else None)
        if found is None:
            return 0, 0.0
        state = load_checkpoint(self.engine, found[0])
        print0(f"t2 posttrain: resumed from {found[0]} (step {found[1]['progress']})")
        return found[1]["progress"], state["elapsed"]

    def _step(self, step: int) -> float:
        """One optimizer step; the returned loss is the global batch's token mean."""
        from t2.infra.deepspeed import set_lr

        set_lr(self.optimizer, self.wsd.lr(step, 0))
        num_targets = self.batches.step_targets(step)
        # DeepSpeed divides by grad_accum and averages over ranks; undo both so the gradient is
        # that of (summed token loss) / (loss tokens of the global batch).
        scale = self.hp.grad_accum * self.info.world_size / num_targets
        total = 0.0
        for m in range(self.hp.grad_accum):
            ids, labels = self.batches.micro(step, self.info.rank, m)
            ids, labels = ids.to(self.info.device), labels.to(self.info.device)
            summed = loss_sum(self.engine(input_ids=ids).logits, labels)
            self.engine.backward(summed * scale)
            self.engine.step()
            total += summed.item()
        return all_reduce_sum([total])[0] / num_targets

    def _log(self, step: int, loss: float, seconds: float) -> None:
        if self.info.rank != 0:
            return
        row = {"progress": step + 1, "step": step + 1, "loss": loss, "lr": self.wsd.lr(step, 0),
               "epoch": self.batches.epoch_of(step + 1), "seconds": seconds}
        append_metrics(self.out, row)
        if (step + 1) % self.cfg.log_every == 0 or step + 1 == self.hp.num_steps:
            self.tracker.log_metrics({"loss": loss, "lr": row["lr"], "epoch": row["epoch"]},
                                     step=step + 1)

    def _save(self, step: int) -> None:
        from t2.infra.checkpoint import prune, save_checkpoint

        save_checkpoint(self.engine, self.ckpt_root, step,
                        {"world_size": self.info.world_size, "elapsed": self.elapsed})
        prune(self.ckpt_root, keep_last=2)

    def _export(self) -> None:
        from t2.infra.deepspeed import full_state_dict
        from t2.models.posttrain_export import finish

        state = full_state_dict(self.engine)  # collective under ZeRO-3
        if self.info.rank == 0:
            finish(self.out, state, self)
        barrier()
