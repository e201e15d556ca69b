"""Commonsense causal reasoning: templated cause -> effect over objects made of materials.

The effect of an action depends on what the object is made of (a glass cup dropped shatters, a
rubber ball dropped bounces). Pretraining text states what objects are made of and narrates
cause -> effect for training (object, action) pairs; evaluation asks about held-out pairs, so the
model must combine "the vase is made of glass" with "glass things shatter when dropped".

    Q: Mira dropped the vase. What happened to the vase?
    A: it shattered
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from t2.evaluation.synth_common import is_heldout

MATERIALS = {
    "glass": ["cup", "vase", "bottle", "window", "bowl", "lamp", "jar", "mirror", "goblet", "bead"],
    "ice": ["cube", "statue", "block", "sculpture", "cone", "tower", "swan", "pillar", "brick",
            "crown"],
    "paper": ["letter", "map", "book", "ticket", "poster", "kite", "napkin", "envelope", "card",
              "fan"],
    "rubber": ["ball", "tyre", "boot", "glove", "band", "duck", "mat", "hose", "stamp", "eraser"],
    "iron": ["nail", "gate", "pan", "chain", "anvil", "key", "hook", "bolt", "kettle", "bell"],
    "wax": ["candle", "crayon", "figure", "seal", "apple", "rose", "mask", "bust", "bird", "cone"],
    "wood": ["chair", "spoon", "box", "plank", "stick", "flute", "bench", "crate", "paddle",
             "toy"],
    "clay": ["pot", "tile", "mug", "vessel", "pipe", "urn", "plate", "whistle", "bowl", "brick"],
}
EFFECTS = {  # action -> material -> effect
    "dropped": {"glass": "shattered", "ice": "cracked", "paper": "floated down",
                "rubber": "bounced", "iron": "clanged", "wax": "dented", "wood": "thudded",
                "clay": "smashed"},
    "heated": {"glass": "glowed", "ice": "melted", "paper": "burned", "rubber": "stretched",
               "iron": "glowed", "wax": "melted", "wood": "charred", "clay": "hardened"},
    "soaked": {"glass": "stayed dry", "ice": "grew", "paper": "fell apart", "rubber": "stayed dry",
               "iron": "rusted", "wax": "stayed dry", "wood": "swelled", "clay": "softened"},
    "froze": {"glass": "cracked", "ice": "hardened", "paper": "stiffened", "rubber": "stiffened",
              "iron": "chilled", "wax": "hardened", "wood": "chilled", "clay": "cracked"},
    "hit": {"glass": "shattered", "ice": "chipped", "paper": "tore", "rubber": "bounced back",
            "iron": "rang", "wax": "dented", "wood": "splintered", "clay": "smashed"},
}
ACTIONS = tuple(EFFECTS)
OBJECTS = tuple({obj: m for m, objs in reversed(MATERIALS.items()) for obj in objs}.items())
AGENTS = ("Mira", "Tomas", "Ada", "Jun", "Lena", "Omar", "Priya", "Sam", "Yuki", "Ben")
CAUSES = ("{agent} {action} the {obj}, so the {obj} {effect}.",
          "When {agent} {action} the {obj}, it {effect}.",
          "The {obj} {effect} because {agent} {action} it.")
QUESTION = "Q: {agent} {action} the {obj}. What happened to the {obj}?\nA:"


@dataclass(frozen=True)
class Causal:
    name: str = "causal"
    max_new_tokens: int = 16

    def draw(self, rng: random.Random) -> tuple[tuple, str, str]:
        obj, material = OBJECTS[rng.randrange(len(OBJECTS))]
        action = ACTIONS[rng.randrange(len(ACTIONS))]
        agent = AGENTS[rng.randrange(len(AGENTS))]
        question = QUESTION.format(agent=agent, action=action, obj=obj)
        return (obj, action), question, " it " + EFFECTS[action][material]

    def document(self, rng: random.Random) -> str:
        return corpus_document(self, rng)


def corpus_document(gen: Causal, rng: random.Random, num_events: int = 8) -> str:
    """Material facts for a few objects, narrated training events, then training Q/A lines."""
    sentences, qa = [], []
    for _ in range(num_events):
        obj, material = OBJECTS[rng.randrange(len(OBJECTS))]
        sentences.append(f"The {obj} is made of {material}.")
        action = ACTIONS[rng.randrange(len(ACTIONS))]
        if is_heldout((obj, action)):
            continue
        agent = AGENTS[rng.randrange(len(AGENTS))]
        effect = EFFECTS[action][material]
        sentences.append(rng.choice(CAUSES).format(agent=agent, action=action, obj=obj,
                                                   effect=effect))
        qa.append(QUESTION.format(agent=agent, action=action, obj=obj) + f" it {effect}\n")
    return " ".join(sentences) + "\n\n" + "".join(qa) + "\n"
