"""The four synthetic tasks and their pretraining text sources.

    from t2.evaluation.synthetic import pretraining_text, synthetic_task
    task = synthetic_task("arithmetic", digits=2, steps=2, num_shots=3)
    docs = list(pretraining_text(seed=0, num_chars=1_000_000))

Text sources (entry points in group ``t2.text_sources``) have the signature
``fn(seed, num_chars) -> Iterator[str]`` and yield documents until about ``num_chars``
characters. They teach exactly the formats the evaluation prompts use, on the training side of the
held-out split (``synth_common.is_heldout``). Benchmark: ``python -m t2.evaluation.synthetic``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator

from t2.evaluation.synth_arithmetic import Arithmetic
from t2.evaluation.synth_causal import Causal
from t2.evaluation.synth_common import SyntheticTask, documents
from t2.evaluation.synth_knowledge import Knowledge
from t2.evaluation.synth_spatial import Spatial

GENERATORS = {"knowledge": Knowledge, "arithmetic": Arithmetic, "causal": Causal,
              "spatial": Spatial}
# held-out spaces differ in size: 176 (person, attribute) pairs, 55 (object, action) pairs,
# 417 one-hop placements
DEFAULT_NUM = {"knowledge": 150, "arithmetic": 500, "causal": 50, "spatial": 300}


def synthetic_task(name: str, num_shots: int = 3, **kwargs) -> SyntheticTask:
    """Build a synthetic task; kwargs are its generator's settings (digits, steps, hops)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown synthetic task {name!r}: choose one of {', '.join(GENERATORS)}")
    try:
        gen = GENERATORS[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"task {name}: bad settings {sorted(kwargs)} ({err})") from None
    return SyntheticTask(gen, num_shots=num_shots, default_num=DEFAULT_NUM[name])


def knowledge_text(seed: int, num_chars: int) -> Iterator[str]:
    return documents(Knowledge(), seed, num_chars)


def arithmetic_text(seed: int, num_chars: int) -> Iterator[str]:
    return documents(Arithmetic(), seed, num_chars)


def causal_text(seed: int, num_chars: int) -> Iterator[str]:
    return documents(Causal(), seed, num_chars)


def spatial_text(seed: int, num_chars: int) -> Iterator[str]:
    return documents(Spatial(), seed, num_chars)


def pretraining_text(seed: int, num_chars: int) -> Iterator[str]:
    """Documents of all four kinds in equal shares of characters, interleaved."""
    gens = [g() for g in GENERATORS.values()]
    rngs = [random.Random(f"{g.name}|text|{seed}") for g in gens]
    sizes = [0] * len(gens)
    while sum(sizes) < num_chars:
        i = sizes.index(min(sizes))  # the kind furthest behind its share goes next
        doc = gens[i].document(rngs[i])
        sizes[i] += len(doc)
        yield doc


def _benchmark(num_chars: int = 5_000_000) -> None:
    sources = {"synthetic": pretraining_text, "knowledge": knowledge_text,
               "arithmetic": arithmetic_text, "causal": causal_text, "spatial": spatial_text}
    for name, fn in sources.items():
        start = time.perf_counter()
        size = sum(len(d) for d in fn(0, num_chars))
        seconds = time.perf_counter() - start
        print(f"{name:10s} {size / 1e6:6.2f} MB in {seconds:5.2f} s = "
              f"{size / 1e6 / seconds:5.1f} MB/s")


if __name__ == "__main__":
    _benchmark(int(float(sys.argv[1])) if len(sys.argv) > 1 else 5_000_000)
