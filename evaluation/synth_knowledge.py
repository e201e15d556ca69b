"""Simple knowledge recall about a fixed world of generated people.

The world (``WORLD_SEED``) holds ``NUM_ENTITIES`` invented people, each with a home town, a job, a
favourite colour and a pet. Pretraining text (``knowledge_text``) states every fact in prose
(biographies with varied templates) and also shows question/answer lines, but only for training
(entity, attribute) pairs. Evaluation asks the same question format about held-out pairs, whose
facts the model has read only as prose: recall, not copying.

    get_task("knowledge").problems(5)[0].prompt   # 'Q: What is Bovira Tal's job?\\nA: baker\\n...'
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from t2.evaluation.synth_common import is_heldout

WORLD_SEED = 1234
NUM_ENTITIES = 300
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "m"]

VALUES = {
    "town": ["Arvel", "Brisk", "Corrow", "Dunmere", "Eskby", "Fenwick", "Galt", "Holloway",
             "Ivers", "Jorn", "Kestle", "Lyme", "Marrow", "Norwin", "Oakum", "Pell"],
    "job": ["baker", "farmer", "doctor", "pilot", "tailor", "miner", "singer", "teacher",
            "sailor", "painter", "judge", "cook"],
    "color": ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"],
    "pet": ["cat", "dog", "parrot", "rabbit", "goat", "horse", "turtle", "snake"],
}
ATTRIBUTES = tuple(VALUES)
STATEMENTS = {
    "town": ["{name} lives in {value}.", "{name} comes from the town of {value}.",
             "The home of {name} is {value}."],
    "job": ["{name} works as a {value}.", "By trade, {name} is a {value}.",
            "{name} earns a living as a {value}."],
    "color": ["The favourite colour of {name} is {value}.", "{name} likes the colour {value}.",
              "{name} always wears {value}."],
    "pet": ["{name} owns a {value}.", "{name} keeps a pet {value}.",
            "At home, {name} has a {value}."],
}
QUESTIONS = {
    "town": "Q: Where does {name} live?\nA:",
    "job": "Q: What is the job of {name}?\nA:",
    "color": "Q: What is the favourite colour of {name}?\nA:",
    "pet": "Q: What pet does {name} have?\nA:",
}


def _word(rng: random.Random, num_syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(num_syllables)).capitalize()


@lru_cache(maxsize=4)
def world(seed: int = WORLD_SEED, num_entities: int = NUM_ENTITIES) -> tuple[tuple[str, dict], ...]:
    """``(name, {attribute: value})`` for every person; names are unique."""
    rng = random.Random(f"knowledge-world|{seed}")
    names: list[str] = []
    while len(names) < num_entities:
        name = f"{_word(rng, 2)} {_word(rng, 1)}"
        if name not in names:
            names.append(name)
    return tuple((n, {a: rng.choice(VALUES[a]) for a in ATTRIBUTES}) for n in names)


@dataclass(frozen=True)
class Knowledge:
    name: str = "knowledge"
    max_new_tokens: int = 12
    people: tuple = field(default_factory=world, repr=False)

    def draw(self, rng: random.Random) -> tuple[tuple, str, str]:
        index = rng.randrange(len(self.people))
        attribute = ATTRIBUTES[rng.randrange(len(ATTRIBUTES))]
        return self.item(index, attribute)

    def item(self, index: int, attribute: str) -> tuple[tuple, str, str]:
        name, facts = self.people[index]
        return (name, attribute), QUESTIONS[attribute].format(name=name), " " + facts[attribute]

    def document(self, rng: random.Random) -> str:
        return corpus_document(self.people, rng)


def biography(rng: random.Random, name: str, facts: dict) -> str:
    attributes = list(ATTRIBUTES)
    rng.shuffle(attributes)
    return " ".join(rng.choice(STATEMENTS[a]).format(name=name, value=facts[a])
                    for a in attributes)


def corpus_document(people: tuple, rng: random.Random, num_people: int = 4) -> str:
    """A few biographies, then question/answer lines about training pairs of those people."""
    chosen = [people[rng.randrange(len(people))] for _ in range(num_people)]
    prose = "\n".join(biography(rng, name, facts) for name, facts in chosen)
    qa = []
    for name, facts in chosen:
        for attribute in ATTRIBUTES:
            if not is_heldout((name, attribute)):
                qa.append(QUESTIONS[attribute].format(name=name) + " " + facts[attribute] + "\n")
    rng.shuffle(qa)
    return prose + "\n\n" + "".join(qa) + "\n"
