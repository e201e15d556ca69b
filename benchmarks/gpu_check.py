"""The GPU path run for real (issue 15): t2's training step, sampler and fits on an H200, ≤ 8 min.

    bash benchmarks/gpu_check.sh                    # the device: carried wheels + import shim
    .venv/bin/python benchmarks/gpu_check.py --out /tmp/gc   # here: no CUDA, tiny, skips noted
    bash benchmarks/gpu_check.sh --only train_350M,sampling  # rerun some sections

Sections (each in a child process killed past its budget; --inline: all in this one) record what
they measured or why they were skipped: env, train_125M/350M (cluster.yaml rungs, t2's DeepSpeed
step vs plain PyTorch bf16, MFU, checkpoint round trip), train_smoke (the same, tiny), sampling
(shared prefix vs HF generate at k=64 on SciQ, greedy parity), fit (T² fit, bootstrap, forecast).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
STUDY, TRUE_LAW = ROOT / "examples" / "cluster.yaml", ROOT / "examples" / "true_law.json"
FIT_RATIOS = (10, 40, 160, 640)  # tokens/param of the fit section's synthetic runs
DATA_ROOT = ROOT / "build" / "gpu" / "data"  # the carried request file (benchmarks/gpu_bundle.sh)
PEAK = 790e12  # H200 dense bf16 FLOP/s, as measured on this workplace's machines
BUDGET = {"env": 40, "train_125M": 90, "train_350M": 120, "train_smoke": 240, "sampling": 110,
          "fit": 30}  # seconds, in run order; those run with CUDA sum to 390
GRACE, TOKENS_PER_PARAM, WARMUP_STEPS, UNTIMED, SEED = 20, 20, 3, 2, 0


class Skip(Exception):
    """This section cannot run here; the message says why."""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "build/gpu-check")))
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes even where CUDA is")
    p.add_argument("--inline", action="store_true", help="sections in this process, no limits")
    p.add_argument("--only", default=",".join(BUDGET), help="sections, comma-separated")
    p.add_argument("--budget", type=float, default=450, help="seconds for the whole check")
    p.add_argument("--steps", type=int, default=8, help="timed training steps per side, at most")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # NAME DEADLINE CUDA(0/1)
    args = p.parse_args(argv)
    args.work = Path(os.environ.get("T2_GPU_WORK") or args.out / "work")  # scratch: big files
    os.environ.setdefault("T2_CACHE", str(args.work / "cache"))
    if not args.child:
        return run_all(args)
    name, deadline, cuda = args.child  # a child writes its one record for the parent
    report = json.loads((args.out / "gpu_check.json").read_text())
    return write_json(args.work / f"{name}.json",
                      run_inline(name, args, float(deadline), report, cuda == "1"))


def run_all(args) -> int:
    end, report = time.time() + args.budget, {"started": time.strftime("%F %T"), "sections": {}}
    write_json(args.out / "gpu_check.json", report)  # what a child reads
    for name, cap in BUDGET.items():
        budget, cuda = min(cap, end - time.time()), report["sections"].get("env", {}).get("cuda")
        if name not in {"env", *args.only.split(",")} or budget < 5:
            record = {"status": "skipped", "reason": "--budget spent" if budget < 5 else "--only"}
        elif args.inline:
            record = run_inline(name, args, time.time() + budget, report, bool(cuda))
        else:
            record = run_child(name, args, budget, bool(cuda))
        report["sections"][name] = record
        print("gpu_check:", name, record["status"], record.get("reason") or record.get("error"))
        report["summary"] = summarize(report["sections"])
        write_json(args.out / "gpu_check.json", report)
    print(json.dumps(report["summary"], indent=1))
    return 0 if all(r["status"] in ("ok", "skipped") for r in report["sections"].values()) else 1


def run_inline(name, args, deadline, report, cuda) -> dict:
    start, ctx = time.time(), SimpleNamespace(args=args, deadline=deadline, report=report,
                                              work=args.work / name, cuda=cuda,
                                              tiny=args.cpu_smoke or not cuda)
    try:
        record = {"status": "ok", **SECTIONS[name](ctx)}
    except Skip as why:
        record = {"status": "skipped", "reason": str(why)}
    except Exception as err:  # noqa: BLE001 - recorded; the next section still runs
        record = {"status": "failed", "error": f"{type(err).__name__}: {err}"[:2000],
                  "traceback": traceback.format_exc()[-4000:]}
    return {**record, "seconds": round(time.time() - start, 2)}


def run_child(name, args, budget, cuda) -> dict:
    """The section in its own process (own CUDA context), killed GRACE s past its budget."""
    start, log, path = time.time(), args.work / f"{name}.log", args.work / f"{name}.json"
    cmd = [sys.executable, __file__, "--out", str(args.out), "--steps", str(args.steps),
           "--child", name, str(start + budget), str(int(cuda))] + ["--cpu-smoke"] * args.cpu_smoke
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=budget + GRACE,
                                check=False).returncode
        except subprocess.TimeoutExpired:
            rc = None
    print(text := log.read_text(errors="replace"), flush=True)  # into the wrapper's log
    record = json.loads(path.read_text()) if rc is not None and path.is_file() else {
        "status": "timeout" if rc is None else "failed", "log_tail": text[-3000:], "error":
        f"killed past {budget:.0f}+{GRACE} s" if rc is None else f"exit {rc}, no record"}
    return {**record, "wall_seconds": round(time.time() - start, 2)}


def write_json(path: Path, obj) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(obj, indent=1, default=float) + "\n")
    path.with_suffix(".tmp").replace(path)
    return 0


def timed(fn, cuda: bool):
    """(fn(), seconds, peak GiB on the GPU or None), the device synchronised around it."""
    import torch
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sync()
    t = time.perf_counter()
    got = fn()
    sync()
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    return got, time.perf_counter() - t, peak


def sec_env(ctx) -> dict:
    import importlib
    import importlib.metadata as md
    import platform

    import torch
    have = {(d.metadata["Name"] or "").lower(): d.version for d in md.distributions()}
    rec = {"python": platform.python_version(), "cuda": torch.cuda.is_available(),
           "torch_cuda": torch.version.cuda, **{n: have.get(n) for n in (
               "torch", "transformers", "deepspeed", "pydantic", "optuna", "numpy", "scipy",
               "tokenizers", "safetensors", "mlflow", "ray")}}
    if rec["cuda"]:  # this card's bf16 ceiling: 8192^3 products, 3 to warm up, 10 timed
        a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        sec = [timed(lambda n=n: [a @ a for _ in range(n)], True)[1] for n in (3, 10)][1]
        rec.update(device=torch.cuda.get_device_name(0), bf16_tflops=20 * 8192**3 / sec / 1e12)
    mods = sorted(".".join(("t2", *f.relative_to(ROOT).with_suffix("").parts))
                  for pkg in ("models", "infra", "evaluation", "fitting", "flows")
                  for f in (ROOT / pkg).rglob("*.py") if f.stem not in ("__init__", "__main__"))
    failed = {}
    for mod in mods:
        try:
            importlib.import_module(mod)
        except Exception as err:  # noqa: BLE001 - per module (ray, mlflow are not carried)
            failed[mod] = f"{type(err).__name__}: {err}"[:300]
    return {**rec, "imports": {"ok": len(mods) - len(failed), "failed": failed}}


def rung(ctx, params, st):
    """(LlamaConfig, Hparams) of a cluster.yaml rung at D = 20 N (tiny: a smoke rung)."""
    from t2.models.config import ModelSpec, TrainSpec
    from t2.models.hparams import resolve
    from t2.models.ladder import shape_for
    from t2.models.sizing import param_counts
    spec, vocab, extra = (  # tiny: 2 micro-steps per step keep gradient accumulation
        (ModelSpec(depth=1, seq_len=64), 512, {"batch_tokens": 512, "micro_batch": 4})
        if ctx.tiny else (ModelSpec(params=params, seq_len=st["model"]["seq_len"]),
                          st["data"]["vocab_size"], {}))
    config = shape_for(spec, vocab)
    N = param_counts(config)["total"]
    base = {**st.get("train", {}), "tokens": TOKENS_PER_PARAM * N, **extra}
    hp = resolve(N, base["tokens"], TrainSpec(**base), spec.seq_len, 1)
    # the study's warmup spans hundreds of steps: a few here, so the measured steps learn
    base["warmup_frac"] = WARMUP_STEPS * hp.batch_tokens / base["tokens"]
    return config, resolve(N, base["tokens"], TrainSpec(**base), spec.seq_len, 1)


def plain_stepper(model, hp, bf16: bool):
    """A plain PyTorch step: bf16 autocast, t2's AdamW groups (fused on CUDA), clipping."""
    import torch
    import torch.nn.functional as F
    from t2.infra import deepspeed as ds
    opt, kind = ds.make_optimizer(model, hp.lr, hp.weight_decay), model.device.type

    def step(lr, batches) -> float:
        ds.set_lr(opt, lr)
        total = 0.0
        for x in batches:
            with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids=x[:, :-1]).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
            (loss / len(batches)).backward()
            total = total + loss.detach()
        if hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(total) / len(batches)

    return step


def train_compare(ctx, params) -> dict:
    """t2's step (build_engine + train_step on Loop._step's batches and LR) vs plain PyTorch."""
    if (params is None) != ctx.tiny:  # the study's rungs with CUDA, the tiny one without
        raise Skip(f"needs CUDA and no --cpu-smoke (cuda: {ctx.cuda}); train_smoke: same, tiny"
                   if ctx.tiny else "CUDA is here: train_125M/350M run instead")
    import yaml
    from t2.infra import deepspeed as ds
    from t2.infra.dist import init
    from t2.models.config import DataSpec
    from t2.models.data import prepare_corpus
    from t2.models.ladder import build_model
    from t2.models.schedule import from_hparams
    from t2.models.train_loop import train_step
    info, st = init("auto"), yaml.safe_load(STUDY.read_text())  # nccl on CUDA, gloo here
    config, hp = rung(ctx, params, st)
    corpus = prepare_corpus(DataSpec(tokenizer="byte", mix={"synthetic": 1.0},
                                     corpus_tokens=max(4 * hp.batch_tokens, 1e5)), ctx.work)
    precision = st["dist"]["precision"] if ctx.cuda else "auto"  # CPU bf16: 3-10x slower
    engine, opt = ds.build_engine(build_model(config, SEED), ds.ds_config(
        zero_stage=st["dist"]["zero_stage"], precision=precision, micro_batch=hp.micro_batch,
        grad_accum=hp.grad_accum, world_size=1, grad_clip=hp.grad_clip), lr=hp.lr,
        weight_decay=hp.weight_decay)
    plain = plain_stepper(build_model(config, SEED).to(info.device), hp,
                          ds.resolve_precision(precision) == "bf16")
    wsd = from_hparams(hp)

    def batches(step):  # as Loop._step builds them
        return [corpus.batch(SEED, step, 0, 1, hp.micro_batch, hp.seq_len, micro_step=m,
                             grad_accum=hp.grad_accum).to(info.device)
                for m in range(hp.grad_accum)]

    sides = {"plain": lambda s: plain(wsd.lr(s), batches(s)),
             "t2": lambda s: train_step(engine, opt, wsd.lr(s), batches(s))}
    runs = {k: {"losses": [], "step_seconds": [], "peak_mem_gib": 0.0} for k in sides}
    for step in range(UNTIMED + ctx.args.steps):
        for name, fn in sides.items():  # interleaved, so machine noise hits both alike
            loss, sec, mem = timed(lambda: fn(step), ctx.cuda)  # noqa: B023 - called at once
            runs[name]["losses"].append(loss)
            runs[name]["step_seconds"] += [round(sec, 4)] * (step >= UNTIMED)
            runs[name]["peak_mem_gib"] = max(runs[name]["peak_mem_gib"], mem or 0.0)
        pair = sum(r["step_seconds"][-1] for r in runs.values() if r["step_seconds"])
        if pair and time.time() + 1.5 * pair + 15 > ctx.deadline:
            break  # the next pair of steps (and the round trip) would overrun the budget
    trip = round_trip(ctx, engine, lambda: sides["t2"](step + 1)) if params != 350e6 else {
        "skipped": "at 350M the ~5 GB checkpoint costs more time than it tells"}
    return {**train_record(ctx, config, hp, runs), "checkpoint": trip, "precision": precision,
            "zero_stage": st["dist"]["zero_stage"], "backend": info.backend}


def round_trip(ctx, engine, next_step) -> dict:
    """Save (t2.infra.checkpoint), step, load, the same step: the same loss, as on a resume."""
    from t2.infra.checkpoint import load_checkpoint, save_checkpoint
    path, save_s, _ = timed(lambda: save_checkpoint(engine, ctx.work / "ckpt", 1, {}), ctx.cuda)
    first, load_s = next_step(), timed(lambda: load_checkpoint(engine, path), ctx.cuda)[1]
    return {"save_s": save_s, "load_s": load_s, "losses": [first, again := next_step()],
            "same": first == again}


def train_record(ctx, config, hp, runs) -> dict:
    from t2.models.sizing import flops_per_token, param_counts
    fpt = flops_per_token(config, hp.seq_len)
    for r in runs.values():
        secs, ls = r["step_seconds"], r["losses"]
        tok_s = hp.batch_tokens * len(secs) / sum(secs) if secs else None
        r.update(tokens_per_s=tok_s, flop_per_s=tok_s and tok_s * fpt["train_exact"],
                 loss_finite=all(map(math.isfinite, ls)), loss_falling=ls[-1] < ls[0])
        r["mfu"] = r["flop_per_s"] / PEAK if tok_s and ctx.cuda else None
    t2_s, plain_s = runs["t2"]["tokens_per_s"], runs["plain"]["tokens_per_s"]
    return {"model": {"depth": config.num_hidden_layers, "width": config.hidden_size,
                      "vocab": config.vocab_size, "N": param_counts(config)},
            "hparams": vars(hp), "flops_per_token": fpt, **runs,
            "ratio": t2_s / plain_s if t2_s and plain_s else None}


def sampling_model(ctx):
    """A random-init byte-vocabulary rung, written by t2's exporter, read by t2's loader."""
    from t2.evaluation.workers import load_checkpoint
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for
    from t2.models.tokenizer import get_tokenizer
    from t2.models.train_export import export_result
    tok = get_tokenizer("byte")
    spec = ModelSpec(**{"depth": 1} if ctx.tiny else {"params": 125e6}, seq_len=2048)
    config = shape_for(spec, len(tok), bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    dest = export_result(ctx.work / "ckpt", build_model(config, SEED).state_dict(), config, tok,
                         {"name": "gpu-check", "D": 0})
    return load_checkpoint(dest / "hf")  # fp32, on CUDA where there is one, as t2 evaluate runs


def hf_generate(model, tok, prompts, k, new, stop, sample: bool) -> list[list[int]]:
    import torch
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc.to(model.device), **({"temperature": 1.0, "top_p": 1.0,
                             "top_k": 0} if sample else {}), do_sample=sample,
                             num_return_sequences=k, max_new_tokens=new, tokenizer=tok,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                             stop_strings=list(stop) or None)
    return out[:, enc["input_ids"].shape[1]:].tolist()


def sec_sampling(ctx) -> dict:
    from t2.evaluation.real import RealTask
    from t2.evaluation.sample import sample_detailed
    try:
        task = RealTask("sciq", data_root=DATA_ROOT if DATA_ROOT.is_dir() else None)
        prompts = [p.prompt for p in task.problems(num=2 if ctx.tiny else 8, seed=0)]
    except FileNotFoundError as err:
        raise Skip(f"no SciQ request file ({err}); run benchmarks/gpu_bundle.sh") from None
    (model, tok), stop = sampling_model(ctx), tuple(task.stop)
    k, new = (8, 8) if ctx.tiny else (64, task.max_new_tokens)
    runs = {"hf": lambda: sum(t != tok.pad_token_id for row in hf_generate(  # rows done (EOS or
                model, tok, prompts, k, new, stop, True) for t in row),  # stop) are padded
            "t2": lambda: sum(map(sum, sample_detailed(
                model, tok, prompts, k, max_new_tokens=new, stop=stop, seed=SEED).new_tokens))}
    hf_generate(model, tok, prompts[:1], 2, 2, stop, True)  # warm-up: kernels, allocator
    sample_detailed(model, tok, prompts[:1], 2, max_new_tokens=2, stop=stop)
    rec = {"params": sum(p.numel() for p in model.parameters()), "device": str(model.device),
           "dtype": str(model.dtype), "problems": len(prompts), "k": k, "max_new_tokens": new,
           "prompt_tokens": [len(tok(p)["input_ids"]) for p in prompts]}
    for name, fn in runs.items():  # one timed call each after the warm-up
        got, sec, mem = timed(fn, ctx.cuda)
        rec[name] = {"tokens": got, "seconds": sec, "tokens_per_s": got / sec, "peak_gib": mem}
    rec["ratio"] = rec["t2"]["tokens_per_s"] / rec["hf"]["tokens_per_s"]
    return {**rec, "greedy": greedy_parity(model, tok, prompts, new)}


def greedy_parity(model, tok, prompts, new) -> dict:
    """temperature 0 (the shared-prefix path) vs generate(do_sample=False), prompts alone."""
    from t2.evaluation.sample import sample_detailed
    eos = tok.eos_token_id
    raw = [hf_generate(model, tok, [p], 1, new, (), False)[0] for p in prompts]
    alone = [ids[:ids.index(eos) + 1] if eos in ids else ids for ids in raw]
    ours = sample_detailed(model, tok, prompts, 2, max_new_tokens=new, temperature=0).token_ids
    diff = [i for i, (row, want) in enumerate(zip(ours, alone)) if row != [want] * 2]
    return {"prompts": len(prompts), "identical": not diff, "first_diff": diff and {
        "prompt": diff[0], "ours": ours[diff[0]][0], "hf": alone[diff[0]]}}


def sec_fit(ctx) -> dict:
    import numpy as np
    import yaml
    from t2.fitting import bootstrap_fit, fit_t2_loss, optimal_allocation
    from t2.fitting.laws import T2LossLaw
    from t2.models.ladder import params_for_depth
    st, truth = yaml.safe_load(STUDY.read_text()), json.loads(TRUE_LAW.read_text())
    grid = [(params_for_depth(L, st["data"]["vocab_size"]), r, k) for L in (2, 4, 6, 9, 13,
            18, 24) for r in FIT_RATIOS for k in st["eval"]["ks"]]
    N, ratio, k = (np.array(c, float) for c in zip(*grid))
    noise = np.exp(0.01 * np.random.default_rng(SEED).standard_normal(len(N)))  # 1% per point
    data = {"N": N, "D": N * ratio, "k": k, "L": T2LossLaw(**truth).predict(N, N * ratio, k)}
    data["L"] = data["L"] * noise
    t0, target = time.perf_counter(), st["budget"]["targets"][0]
    law = fit_t2_loss(**data)
    groups = np.unique(np.column_stack([N, ratio]), axis=0, return_inverse=True)[1].ravel()
    boot = bootstrap_fit(fit_t2_loss, data, groups, num_samples=4 if ctx.tiny else 16,
                         seed=SEED, workers=1)
    alloc = [optimal_allocation(lw, target["c_train"], target["c_inf"]) for lw in (law, *boot.laws)]
    fc = {key: float(np.asarray(getattr(alloc[0], key))) for key in ("N", "D", "k")}
    rates = [(n, r["t2"]["flop_per_s"]) for n, r in ctx.report["sections"].items()
             if n.startswith("train_") and r["status"] == "ok"]  # the last: the largest
    return {"points": len(N), "fit_seconds": time.perf_counter() - t0, "truth": truth,
            "t2_law": law.params, "target": target, "forecast": fc,
            "bootstrap_N": [float(a.N) for a in alloc[1:]],
            "forecast_training": {"from": rates[-1][0], "hours_6ND": 6 * fc["N"] * fc["D"] /
                                  rates[-1][1] / 3600} if rates else "no measured FLOP rate"}


def summarize(sections) -> dict:
    """Headline figures and the issue's goals (None: not measured in this run)."""
    ok = {n: r for n, r in sections.items() if r["status"] == "ok"}
    s = {"status": {n: r["status"] for n, r in sections.items()}}
    for name, r in ((n, r) for n, r in ok.items() if n.startswith("train_")):
        s[name] = {"tokens_per_s": r["t2"]["tokens_per_s"], "mfu": r["t2"]["mfu"],
                   "ratio": r["ratio"], "checkpoint_same": r["checkpoint"].get("same"),
                   "losses_ok": all(r[side]["loss_finite"] and r[side]["loss_falling"]
                                    for side in ("t2", "plain"))}
    if r := ok.get("sampling"):
        s["sampling"] = {"ratio": r["ratio"] if r["device"].startswith("cuda") else None,
                         "ratio_here": r["ratio"], "greedy_identical": r["greedy"]["identical"],
                         **{f"{n}_tokens_per_s": r[n]["tokens_per_s"] for n in ("t2", "hf")}}
    s["fit"] = ok.get("fit", {}).get("forecast_training")
    big, samp = s.get("train_350M", {}), s.get("sampling", {})
    s["goals"] = {goal: None if v is None else v >= bar for goal, v, bar in (
        ("mfu_350M >= 0.40", big.get("mfu"), 0.40), ("sampling_ratio >= 5", samp.get("ratio"), 5),
        ("train_ratio_350M >= 0.95", big.get("ratio"), 0.95))}
    return s


SECTIONS = {"env": sec_env, "fit": sec_fit, "sampling": sec_sampling,
            "train_125M": lambda ctx: train_compare(ctx, 125e6),
            "train_350M": lambda ctx: train_compare(ctx, 350e6),
            "train_smoke": lambda ctx: train_compare(ctx, None)}

if __name__ == "__main__":
    sys.exit(main())
