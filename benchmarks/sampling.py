"""Sampling throughput: t2's engine vs HF ``generate(num_return_sequences=k)``.

    .venv/bin/python benchmarks/sampling.py     # full table; last line ratio=<t2/hf at k=64, 5M>
    .venv/bin/python benchmarks/sampling.py --quick    # 1M model, k=16 only (smoke run)

Setup, identical for both engines: random-init ladder models of ~1M and ~5M parameters with the
byte tokenizer, the real SciQ 5-shot prompts (several hundred tokens each; the first
``--problems`` problems, sampled together in one call), temperature 1, top-p 1, at most
``--new-tokens`` new tokens, the task's stop string ("\\n") and EOS as stop rules. HF gets the
prompts left-padded as one batch with ``stop_strings``; t2 gets the same prompts.

Each (engine, model, k) runs in a fresh subprocess so its peak memory is its own: we report the
growth of max RSS (``resource.getrusage``) over the RSS after loading the model (torch's CPU
allocations are invisible to tracemalloc). Throughput is generated tokens (up to and including
the stop token) per second, best of ``--repeats`` timed runs after one warm-up call.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODELS = {"1M": 1e6, "5M": 5e6}
TASK = "sciq"


def _setup(model_name: str, num_problems: int, threads: int):
    import torch
    from t2.evaluation.tasks import get_task
    from t2.models.config import ModelSpec
    from t2.models.ladder import build_model, shape_for
    from t2.models.tokenizer import get_tokenizer

    torch.set_num_threads(threads)
    tok = get_tokenizer("byte")
    config = shape_for(ModelSpec(params=MODELS[model_name], seq_len=2048), len(tok),
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    model = build_model(config, seed=0).eval()
    task = get_task(TASK)
    prompts = [p.prompt for p in task.problems(num=num_problems, seed=0)]
    return model, tok, prompts, tuple(task.stop)


def _count_new_tokens(rows: list[list[int]], tok, stop: tuple[str, ...]) -> int:
    """Tokens up to and including the one that completes a stop string or is EOS/PAD-free."""
    total = 0
    for ids in rows:
        used = 0
        for used, _ in enumerate(ids, start=1):
            if ids[used - 1] in (tok.eos_token_id, tok.pad_token_id):
                break
            if any(s in tok.decode(ids[:used]) for s in stop):
                break
        total += used
    return total


def _run_hf(model, tok, prompts, k, new_tokens, stop) -> list[list[int]]:
    import torch

    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                             num_return_sequences=k, max_new_tokens=new_tokens,
                             stop_strings=list(stop), tokenizer=tok,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return out[:, enc["input_ids"].shape[1]:].tolist()  # counted after the clock stops


def _run_t2(model, tok, prompts, k, new_tokens, stop) -> int:
    from t2.evaluation.sample import sample_detailed

    got = sample_detailed(model, tok, prompts, k, max_new_tokens=new_tokens, temperature=1.0,
                          top_p=1.0, stop=stop, seed=0, batch_tokens_budget=1 << 20)
    return sum(sum(row) for row in got.new_tokens)


def one(engine: str, model_name: str, k: int, args) -> dict:
    """Time one configuration in this process; print and return a JSON record."""
    import torch

    model, tok, prompts, stop = _setup(model_name, args.problems, args.threads)
    run = _run_hf if engine == "hf" else _run_t2
    run(model, tok, prompts[:1], 2, 2, stop)  # warm-up: first-call allocations, kernels
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = float("inf")
    for rep in range(args.repeats):
        torch.manual_seed(rep)
        start = time.perf_counter()
        got = run(model, tok, prompts, k, args.new_tokens, stop)
        best = min(best, time.perf_counter() - start)
    num_tokens = got if isinstance(got, int) else _count_new_tokens(got, tok, stop)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    record = {"engine": engine, "model": model_name, "k": k,
              "params": sum(p.numel() for p in model.parameters()),
              "problems": len(prompts),
              "prompt_tokens": [len(tok(p)["input_ids"]) for p in prompts],
              "new_tokens": num_tokens, "seconds": best, "tok_per_s": num_tokens / best,
              "peak_mem_mib": (peak_kib - base_kib) / 1024}
    print(json.dumps(record))
    return record


def _child(engine, model_name, k, args) -> dict:
    cmd = [sys.executable, __file__, "--one", engine, model_name, str(k),
           "--problems", str(args.problems), "--new-tokens", str(args.new_tokens),
           "--threads", str(args.threads), "--repeats", str(args.repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", nargs=3, metavar=("ENGINE", "MODEL", "K"), help=argparse.SUPPRESS)
    p.add_argument("--problems", type=int, default=4, help="prompts sampled together")
    p.add_argument("--new-tokens", type=int, default=16, help="max new tokens (short answers)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="1M model, k=16 only")
    args = p.parse_args(argv)
    if args.one:
        one(args.one[0], args.one[1], int(args.one[2]), args)
        return 0
    configs = [("1M", 16)] if args.quick else [(m, k) for m in MODELS for k in (16, 64)]
    print(f"task={TASK} problems={args.problems} max_new_tokens={args.new_tokens} "
          f"threads={args.threads} (best of {args.repeats})")
    print(f"{'model':>5} {'k':>3} {'params':>8} {'prompt':>7} | {'hf tok/s':>9} {'hf MiB':>7} | "
          f"{'t2 tok/s':>9} {'t2 MiB':>7} | {'t2/hf':>6}")
    ratio = None
    for model_name, k in configs:
        hf, t2 = _child("hf", model_name, k, args), _child("t2", model_name, k, args)
        ratio = t2["tok_per_s"] / hf["tok_per_s"]
        mean_prompt = sum(hf["prompt_tokens"]) / len(hf["prompt_tokens"])
        print(f"{model_name:>5} {k:>3} {hf['params']:>8} {mean_prompt:>7.0f} | "
              f"{hf['tok_per_s']:>9.0f} {hf['peak_mem_mib']:>7.0f} | "
              f"{t2['tok_per_s']:>9.0f} {t2['peak_mem_mib']:>7.0f} | {ratio:>5.1f}x")
    print(f"ratio={ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
