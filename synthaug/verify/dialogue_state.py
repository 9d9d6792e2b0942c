"""A generated task-oriented dialogue's belief-state annotation checked against its user goal.

The goal is ``{domain: {"inform": {slot: value}, "request": [slot, ...]}}``; each turn of the
dialogue carries a ``belief_state`` ``{domain: {slot: value}}`` (MultiWOZ's informable and
booking slots in one mapping). The final belief state accumulates the turns' states in order
(a later value of a slot replaces an earlier one; for a cumulative annotation, as MultiWOZ's,
it is the last turn's). The check passes when every goal constraint is in the final state
with the goal's value, after normalisation, and no slot lies outside its domain's ontology.
"""

from __future__ import annotations

import re
from typing import Any

_SPACES = re.compile(r"\s+")


def normalise(value: Any, aliases: dict[str, str]) -> str:
    """Lower case, single spaces, no surrounding punctuation, then the alias's canonical form."""
    text = _SPACES.sub(" ", str(value).lower()).strip(" .,;:!?'\"")
    return aliases.get(text, text)


def final_state(turns: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The turns' belief states accumulated in order."""
    state: dict[str, dict[str, str]] = {}
    for turn in turns:
        for domain, slots in turn["belief_state"].items():
            state.setdefault(domain, {}).update(slots)
    return state


def check_state(
    goal: dict[str, Any],
    turns: list[dict[str, Any]],
    ontology: dict[str, list[str]],
    aliases: dict[str, str],
) -> dict[str, Any]:
    """``{"belief_state", "problems", "verified"}``: ``ontology`` maps each domain to its slots."""
    state = final_state(turns)
    problems = []
    for domain, slots in goal.items():
        for slot, wanted in slots["inform"].items():
            found = state.get(domain, {}).get(slot)
            if found is None:
                problems.append(f"{domain}.{slot} is missing (goal: {wanted!r})")
            elif normalise(found, aliases) != normalise(wanted, aliases):
                problems.append(f"{domain}.{slot} is {found!r}, the goal says {wanted!r}")
    for domain, slots in state.items():
        if domain not in ontology:
            problems.append(f"domain {domain!r} is not in the ontology")
            continue
        problems += [f"{domain}.{slot} is not a slot of {domain}"
                     for slot in slots if slot not in ontology[domain]]  # fmt: skip
    return {"belief_state": state, "problems": problems, "verified": not problems}
