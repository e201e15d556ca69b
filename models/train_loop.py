"""The per-rank training loop behind ``t2.models.train.train_worker`` (one class, small methods).

    Loop(cfg, out_dir).run()     # on every rank, after nothing else: it joins the process group

Walks the WSD segments (t2.models.schedule): trunk steps, then at each decay point a branch that
decays, exports ``results/D-*``, and returns to the trunk state saved where the branch left.
Checkpoints: every ``train.checkpoint_every`` steps, and always at a branch point (kept until
the run ends, since returning to the trunk needs it). Only rank 0 writes logs and results.
A continued run (``train.init_from``) starts at the trunk checkpoint linked into its ``ckpt/``
by t2.models.extend, with the hparams found there; the rest is a resume like any other.
"""

from __future__ import annotations

import time
from pathlib import Path

from t2.infra.dist import (
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_from_rank0,
    cpu_threads_per_rank,
    cuda_available,
    init,
    placement,
    print0,
)
from t2.infra.storage import read_json, write_json
from t2.models.config import RunConfig
from t2.models.run_log import (
    NUM_VAL_BATCHES,
    LossWindow,
    append_metrics,
    append_resume,
    exit_hook,
    finish_run,
    now,
    truncate_metrics,
)
from t2.models.train_export import (
    PARAM_CONVENTION,
    export_result,
    result_dir,
    result_done,
    train_flops,
)


def train_step(engine, optimizer, lr: float, batches: list) -> float:
    """One optimizer step over ``grad_accum`` micro-batches of ``[micro, seq_len + 1]`` tokens
    (DeepSpeed scales the loss and steps at the accumulation boundary); mean loss."""
    import torch.nn.functional as F
    from t2.infra.deepspeed import set_lr

    set_lr(optimizer, lr)
    losses = []
    for x in batches:
        logits = engine(input_ids=x[:, :-1]).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        engine.backward(loss)
        engine.step()
        losses.append(loss.detach())
    # read back once per step, not per micro-step (each .item() is a device sync on CUDA)
    return sum(v.item() for v in losses) / len(batches)


def init_rank(dist):
    """Join the process group (every rank, first); on CPU each local rank gets its share of
    the cores. Returns the rank's ``t2.infra.dist`` info."""
    import os

    import torch

    info = init(dist.backend)
    if not cuda_available():
        local = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
        torch.set_num_threads(cpu_threads_per_rank(local, dist.threads_per_worker))
    return info


def make_engine(model, dist, hp, world_size: int):
    """(engine, optimizer) of a run: the ZeRO stage and precision of ``dist``, the batch
    split, LR, weight decay and clipping of ``hp`` (pretraining's or post-training's)."""
    from t2.infra import deepspeed as ds

    ds_cfg = ds.ds_config(zero_stage=dist.zero_stage, precision=dist.precision,
                          micro_batch=hp.micro_batch, grad_accum=hp.grad_accum,
                          world_size=world_size, grad_clip=hp.grad_clip)
    return ds.build_engine(model, ds_cfg, lr=hp.lr, weight_decay=hp.weight_decay)


class Loop:
    def __init__(self, cfg: RunConfig, out: Path, *, cache_dir=None, run_id=None,
                 continued=None):
        self.cfg, self.out, self.run_id = cfg, out, run_id
        self.continued = continued  # train.init_from: what t2.models.extend.prepare found
        self.info = init_rank(cfg.dist)
        self._build(cache_dir)

    # ---- setup -------------------------------------------------------------------------------
    def _build(self, cache_dir) -> None:
        from t2.infra.tracking import open_tracker
        from t2.models.data import prepare_corpus
        from t2.models.hparams import Hparams, resolve
        from t2.models.ladder import build_model, shape_for
        from t2.models.schedule import from_hparams
        from t2.models.sizing import flops_per_token, param_counts

        cfg, info = self.cfg, self.info
        if info.rank == 0:  # one builder; the others open the finished cache
            self.corpus = prepare_corpus(cfg.data, cache_dir)
        barrier()
        if info.rank != 0:
            self.corpus = prepare_corpus(cfg.data, cache_dir)
        tok = self.corpus.tokenizer
        self.model_config = shape_for(cfg.model, self.corpus.vocab_size,
                                      bos_token_id=tok.bos_token_id,
                                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        self.counts = param_counts(self.model_config)
        self.fpt = flops_per_token(self.model_config, cfg.model.seq_len)
        if self.continued is None:
            self.hp = resolve(self.counts["total"], cfg.train.tokens, cfg.train,
                              cfg.model.seq_len, info.world_size)
        else:  # a continued trunk keeps its source's batch, LR and warmup (t2.models.extend)
            hp = self.continued["hparams"]
            self.hp = Hparams(**hp | {"decay_steps": tuple(hp["decay_steps"])})
            if (self.hp.num_params, self.hp.world_size) != (self.counts["total"],
                                                           info.world_size):
                raise RuntimeError(f"train.init_from: the source has N={self.hp.num_params:g} "
                                   f"and world size {self.hp.world_size}, this run "
                                   f"N={self.counts['total']} and {info.world_size}")
        self.wsd = from_hparams(self.hp)
        model = build_model(self.model_config, cfg.train.seed)
        self.engine, self.optimizer = make_engine(model, cfg.dist, self.hp, info.world_size)
        self.tracker = open_tracker(enabled=self.run_id is not None, uri=cfg.tracking.uri,
                                    experiment=cfg.tracking.experiment, run_dir=self.out,
                                    run_name=cfg.name, run_id=self.run_id, rank=info.rank)
        if info.rank == 0 and self.run_id:
            unique = sum(self.corpus.unique_tokens().values())
            self.tracker.log_params({f"N.{k}": v for k, v in self.counts.items()}
                                    | {f"hparams.{k}": v for k, v in vars(self.hp).items()}
                                    | {"data.unique_tokens": unique})
        self.ckpt_root = self.out / "ckpt"
        self.D_points = self.cfg.train.decay_points
        # Where every rank runs (Ray node id, host, pid): recorded in train.json and, per rank,
        # in workers/ (fault-injection tests read the pid there).
        self.placement = [{"rank": r, **p} for r, p in enumerate(all_gather_objects(placement()))]
        if info.rank == 0:
            for p in self.placement:
                write_json(self.out / "workers" / f"rank-{p['rank']}.json", p)

    # ---- main walk ---------------------------------------------------------------------------
    def run(self) -> None:
        from t2.infra.checkpoint import latest_checkpoint, load_checkpoint

        progress, on_trunk, self.elapsed, self.resumed_window = 0, True, 0.0, []
        # Rank 0 answers the file-system questions; every rank acts on the same answer.
        rank0 = self.info.rank == 0
        t_resume = now()
        # verified: a damaged newest checkpoint falls back to the previous complete one
        found = broadcast_from_rank0(latest_checkpoint(self.ckpt_root) if rank0 else None)
        done = set(broadcast_from_rank0(
            [D for D in self.D_points if result_done(self.out, D)] if rank0 else None))
        if found is None and self.continued is not None:
            raise RuntimeError(f"{self.ckpt_root}: no verified checkpoint, not even the trunk "
                               f"linked from {self.continued['source']}; rerun to link it again")
        if found is not None:
            state = load_checkpoint(self.engine, found[0])
            # The marker's progress: an imported trunk keeps its source's counter inside.
            progress, self.elapsed = found[1]["progress"], state["elapsed"]
            self.resumed_window = state["loss_window"]
            on_trunk = self.wsd.on_trunk(progress)
            source = found[1].get("imported_from")
            print0(f"t2 train: continuing the trunk of {source} (step {progress})" if source
                   else f"t2 train: resumed from {found[0]} (step {progress})")
            if rank0:
                append_resume(self.out, {"progress": progress, "checkpoint": found[0].name,
                                         "seconds": now() - t_resume, "at": time.time(),
                                         "placement": self.placement}
                              | ({"continues": source} if source else {}))
        if rank0:
            truncate_metrics(self.out, progress, keep_D=done)
        segments = self.wsd.segments
        for k in range(self.wsd.locate(progress), len(segments)):
            seg = segments[k]
            if seg.kind == "branch" and self.D_points[seg.branch] in done:
                progress = seg.progress + seg.num_steps
                continue
            if seg.kind == "trunk" and not on_trunk:
                self._restore_trunk(segments[k - 1])
                on_trunk = True
            progress = self._run_segment(seg, progress)
            if seg.kind == "trunk":
                self._save(progress, branch_point=seg.branch)
            else:
                self._finish_branch(seg)
                on_trunk = False
            exit_hook(progress)
        self._finish()

    def _run_segment(self, seg, progress: int) -> int:
        branch = seg.branch if seg.kind == "branch" else None
        tracker = self._branch_tracker(seg.branch) if branch is not None else self.tracker
        # Resumed mid-segment: the final-loss window continues with the checkpoint's values.
        mid = progress > seg.progress
        self.window = LossWindow(self.resumed_window if mid else ())
        t_log, steps_since_log = now(), 0
        for step in range(seg.start + progress - seg.progress, seg.end):
            t_step = now()
            loss = self._step(step, branch)
            self.elapsed += now() - t_step  # training time along this D's path (trunk + branch)
            progress += 1
            self.window.add(loss)
            steps_since_log += 1
            last = step == seg.end - 1
            if progress % self.cfg.train.log_every == 0 or last:
                self._log(tracker, progress, step, branch, loss, steps_since_log, now() - t_log)
                t_log, steps_since_log = now(), 0
            if last:
                break  # the segment's own end: branch-point save or export, then the exit hook
            if progress % self.cfg.train.checkpoint_every == 0:
                self._save(progress)
            exit_hook(progress)
        return progress

    def _step(self, step: int, branch: int | None) -> float:
        hp, info = self.hp, self.info
        batches = [self.corpus.batch(self.cfg.train.seed, step, info.rank, info.world_size,
                                     hp.micro_batch, hp.seq_len, micro_step=m,
                                     grad_accum=hp.grad_accum).to(info.device)
                   for m in range(hp.grad_accum)]
        return train_step(self.engine, self.optimizer, self.wsd.lr(step, branch), batches)

    # ---- logging -----------------------------------------------------------------------------
    def _log(self, tracker, progress, step, branch, loss, num_steps, seconds) -> None:
        loss = all_reduce_sum([loss])[0] / self.info.world_size
        if self.info.rank != 0:
            return
        tokens = (step + 1) * self.hp.batch_tokens
        tok_s = num_steps * self.hp.batch_tokens / max(seconds, 1e-9)
        row = {"progress": progress, "step": step + 1, "tokens": tokens, "loss": loss,
               "lr": self.wsd.lr(step, branch), "tokens_per_s": tok_s,
               "flops": self.fpt["train_exact"] * tokens,
               "flop_per_s": self.fpt["train_exact"] * tok_s,
               "D": None if branch is None else self.D_points[branch]}
        append_metrics(self.out, row)
        tracker.log_metrics({k: row[k] for k in ("loss", "lr", "tokens_per_s", "flops",
                                                 "flop_per_s")}, step=tokens)

    def _branch_tracker(self, i: int):
        """A child MLflow run per decay point; its id is kept so a resume reattaches, and its
        ``STEP_TAG`` finds it when a kill fell between its creation and the keeping."""
        from t2.infra.tracking import NullTracker, flatten, open_tracker

        if self.info.rank != 0 or not self.run_id:
            self.child = NullTracker()
            return self.child
        state = read_json(self.out / "tracking.json")
        name = result_dir(self.out, self.D_points[i]).name
        child_id = state["children"].get(name)
        tr = open_tracker(uri=self.cfg.tracking.uri, experiment=self.cfg.tracking.experiment,
                          run_dir=self.out, run_name=f"{self.cfg.name}/{name}", run_id=child_id,
                          parent_run_id=self.run_id)  # created once (its step tag)
        if child_id is None:
            tr.log_params(flatten(self.cfg.model_dump(mode="json"))
                          | {f"N.{k}": v for k, v in self.counts.items()}
                          | {"D": self.wsd.decay_steps[i] * self.hp.batch_tokens})
            state["children"][name] = tr.run_id
            write_json(self.out / "tracking.json", state)
        self.child = tr
        return tr

    # ---- checkpoints, results ----------------------------------------------------------------
    def _save(self, progress: int, branch_point: int | None = None) -> None:
        from t2.infra.checkpoint import prune, save_checkpoint

        manifest = {} if branch_point is None else {"branch_point": branch_point}
        save_checkpoint(self.engine, self.ckpt_root, progress,
                        {"world_size": self.info.world_size, "elapsed": self.elapsed,
                         "loss_window": list(self.window.values)}, manifest)
        prune(self.ckpt_root, keep_last=2, keep=lambda m: "branch_point" in m)

    def _restore_trunk(self, branch_seg) -> None:
        """Back to the trunk state saved where ``branch_seg`` left it."""
        from t2.infra.checkpoint import complete_checkpoints, load_checkpoint, verified

        def branch_point():  # rank 0 looks (and checks the checksums), every rank loads
            for path, manifest in complete_checkpoints(self.ckpt_root):
                if manifest.get("branch_point") == branch_seg.branch and verified(path):
                    return path, manifest["progress"]
            return None

        found = broadcast_from_rank0(branch_point() if self.info.rank == 0 else None)
        if found is not None:
            path, progress = found
            state = load_checkpoint(self.engine, path)
            assert progress == branch_seg.progress, (path, progress, branch_seg)
            self.elapsed = state["elapsed"]
            return
        raise RuntimeError(f"{self.ckpt_root}: trunk checkpoint of decay point "
                           f"{branch_seg.branch} is missing or damaged; cannot continue the trunk")

    def _val_loss(self) -> float:
        import torch
        import torch.nn.functional as F

        world, rank = self.info.world_size, self.info.rank
        num = -(-NUM_VAL_BATCHES // world) * world  # equal forwards on every rank (ZeRO-3)
        batches = self.corpus.val_batches(num, self.hp.micro_batch, self.hp.seq_len)
        self.engine.eval()
        total = count = 0.0
        with torch.no_grad():
            for x in batches[rank::world]:
                x = x.to(self.info.device)
                logits = self.engine(input_ids=x[:, :-1]).logits
                total += F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten(),
                                         reduction="sum").item()
                count += x[:, 1:].numel()
        self.engine.train()
        total, count = all_reduce_sum([total, count])
        return total / count

    def _finish_branch(self, seg) -> None:
        from t2.infra.deepspeed import full_state_dict

        D_target = self.D_points[seg.branch]
        val_loss = self._val_loss()
        final = all_reduce_sum([self.window.mean()])[0] / self.info.world_size
        state = full_state_dict(self.engine)
        if self.info.rank == 0:
            summary = self._summary(seg, D_target, final, val_loss)
            export_result(result_dir(self.out, D_target), state, self.model_config,
                          self.corpus.tokenizer, summary)
            self.child.log_metrics({"final_loss": final, "val_loss": val_loss,
                                    "train_flops_exact": summary["train_flops"]["exact"],
                                    "epochs": summary["repetition"]["epochs"]},
                                   step=summary["D"])
            self.child.finish()
            print0(f"t2 train: D={summary['D']:.4g} tokens  final loss {final:.4f}  "
                   f"val loss {val_loss:.4f}  -> {result_dir(self.out, D_target)}")
        barrier()

    def _summary(self, seg, D_target: float, final: float, val_loss: float) -> dict:
        D = self.wsd.decay_steps[seg.branch] * self.hp.batch_tokens
        return {
            "name": f"{self.cfg.name}/{result_dir(self.out, D_target).name}",
            "N": self.counts, "convention": PARAM_CONVENTION, "D": D, "D_target": D_target,
            "tokens_seen": D, "steps": self.wsd.decay_steps[seg.branch],
            "final_train_loss": final, "val_loss": val_loss,
            "train_flops": train_flops(self.counts, self.fpt, D),
            "wall_seconds": self.elapsed,  # step time from init to D (trunk + this branch)
            "tokens_per_s": D / max(self.elapsed, 1e-9),
            "mlflow_run_id": self.child.run_id, "run_id": self.run_id,
            "seed": self.cfg.train.seed, "hparams": vars(self.hp),
            "world_size": self.info.world_size, "zero_stage": self.cfg.dist.zero_stage,
            "placement": self.placement,  # per rank: Ray node id, hostname, pid
            # unique train tokens, tokens consumed (D), epochs per source (t2.models.repetition)
            "repetition": self.corpus.repetition(D),
            # train.init_from: the run whose trunk this one continued, and from which step
            "init_from": self.continued and {"source": self.continued["source"],
                                             "trunk_step": self.continued["trunk_step"]},
        }

    def _finish(self) -> None:
        from t2.infra.checkpoint import prune

        barrier()
        if self.info.rank == 0:
            # Keep only the trunk state before the last decay: it can seed a longer run later.
            last = len(self.D_points) - 1
            prune(self.ckpt_root, keep_last=0, keep=lambda m: m.get("branch_point") == last)
            self.tracker.finish()
            finish_run(self.out, [{"name": result_dir(self.out, D).name} for D in self.D_points])
        barrier()
