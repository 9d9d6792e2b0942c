"""A MultiWOZ-style ontology (domains, informable slots with values, requestable slots), user
goals sampled from it, and the annotated example dialogues shown to the generator."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...io import read_records

ONTOLOGY = "task_ontology.json"  # written for synthaug
EXAMPLES = "task_dialogue_examples.jsonl"  # written for synthaug


def _shipped(name: str) -> str:
    return str(resources.files("synthaug") / "data" / name)


@dataclass(frozen=True)
class Ontology:
    informable: dict[str, dict[str, list[str]]]  # domain -> slot -> values
    requestable: dict[str, list[str]]  # domain -> slots
    aliases: dict[str, str]

    def slots(self) -> dict[str, list[str]]:
        """Each domain's informable slots (those a belief state may hold)."""
        return {domain: list(slots) for domain, slots in self.informable.items()}


def load_ontology(path: str | None = None) -> Ontology:
    """The ontology at ``path`` (default: the shipped one); ``InputError`` when malformed."""
    path = path or _shipped(ONTOLOGY)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        domains = data["domains"]
        informable = {d: {s: [str(v) for v in vs] for s, vs in spec["informable"].items()}
                      for d, spec in domains.items()}  # fmt: skip
        requestable = {d: [str(s) for s in spec.get("requestable", [])]
                       for d, spec in domains.items()}  # fmt: skip
        aliases = {str(k).lower(): str(v) for k, v in data.get("aliases", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(path, f"not an ontology ({{domains: {{d: {{informable, requestable}}}}}}): "
                         f"{error}") from None  # fmt: skip
    empty = [d for d, slots in informable.items() if not slots or not all(slots.values())]
    if not informable or empty:
        raise InputError(path, f"domains without informable slots or values: {empty or 'all'}")
    return Ontology(informable, requestable, aliases)


def sample_goal(
    ontology: Ontology,
    rng: random.Random,
    domains: list[str],
    max_domains: int,
    max_inform: int,
    book_probability: float,
) -> dict[str, Any]:
    """A user goal ``{domain: {"inform": {slot: value}, "request": [slots]}}``: 1 to
    ``max_domains`` domains; per domain 1 to ``max_inform`` search constraints, all its
    booking slots with ``book_probability``, and one or two requested slots."""
    chosen = rng.sample(domains, rng.randint(1, min(max_domains, len(domains))))
    goal = {}
    for domain in chosen:
        slots = ontology.informable[domain]
        search = [s for s in slots if not s.startswith("book ")]
        book = [s for s in slots if s.startswith("book ")]
        picked = rng.sample(search, rng.randint(1, min(max_inform, len(search))))
        if book and rng.random() < book_probability:
            picked += book
        inform = {slot: rng.choice(slots[slot]) for slot in picked}
        requestable = ontology.requestable[domain]
        request = rng.sample(requestable, min(len(requestable), rng.randint(1, 2)))
        goal[domain] = {"inform": inform, "request": request}
    return goal


def load_examples(path: str | None = None) -> list[dict[str, Any]]:
    """Annotated example dialogues (``goal``, ``turns``), default: the shipped ones."""
    path = path or _shipped(EXAMPLES)
    examples = list(read_records(path, required=["goal", "turns"]))
    if not examples:
        raise InputError(path, "no example dialogue")
    return [{"goal": e["goal"], "turns": e["turns"]} for e in examples]


def closest_example(
    examples: list[dict[str, Any]], goal: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """The example whose goal shares most domains with ``goal`` (ties broken by ``rng``)."""
    best = max(len(set(e["goal"]) & set(goal)) for e in examples)
    return rng.choice([e for e in examples if len(set(e["goal"]) & set(goal)) == best])
