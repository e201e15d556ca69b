"""A tiny model trained on arithmetic-heavy text, evaluated with t2's sampler: pass@k vs k.

    .venv/bin/python benchmarks/passk_curve.py [OUT_DIR] [--tokens 1e6] [--n 64]

Trains (or resumes / reuses) a ~0.3M-parameter byte-level model with ``t2.models.train.train`` on
a corpus mixing the arithmetic source with the other synthetic text, then runs
``evaluate_checkpoint`` on held-out one- and two-step arithmetic (the first task also the
pretraining format) and prints the pass@k table. Shows that pass@k grows with k rather than being
a constant, i.e. the samples carry the diversity the T² law needs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="/tmp/t2-passk-curve")
    p.add_argument("--tokens", type=float, default=1e6, help="training tokens D")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--n", type=int, default=64, help="samples per problem")
    p.add_argument("--num-problems", type=int, default=40)
    args = p.parse_args(argv)

    from t2.evaluation.evaluate import evaluate_checkpoint, format_passk_table
    from t2.models.config import RunConfig
    from t2.models.train import train

    out = Path(args.out)
    cfg = RunConfig.model_validate({
        "name": "passk-curve", "model": {"depth": args.depth, "seq_len": 128},
        "data": {"tokenizer": "byte", "corpus_tokens": max(2e6, 2 * args.tokens),
                 "mix": {"arithmetic": 4.0, "synthetic": 1.0}},
        "train": {"tokens": args.tokens, "batch_tokens": 4096, "lr": 3e-3,
                  "checkpoint_every": 100, "log_every": 50},
        "tracking": {"enabled": False},
    })
    start = time.perf_counter()
    result = train(cfg, out / "train")[-1]
    print(f"trained in {time.perf_counter() - start:.0f} s -> {result}")
    for steps in (1, 2):
        start = time.perf_counter()
        ev = evaluate_checkpoint(result / "hf", ["arithmetic"], out / f"eval-steps{steps}",
                                 n=args.n, temperature=1.0, top_p=1.0,
                                 num_problems=args.num_problems, seed=0, tracking=False,
                                 task_kwargs={"arithmetic": {"digits": 2, "steps": steps}})
        print(f"arithmetic digits=2 steps={steps}, n={args.n} "
              f"({time.perf_counter() - start:.0f} s):")
        print(format_passk_table(ev.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
