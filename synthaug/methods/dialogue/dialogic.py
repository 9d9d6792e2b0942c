"""DIALOGIC: dialogue simulation by in-context learning, controlled by the belief state.

Li, Chen, Ye, Guo, Li and Yan, 2022, "Controllable Dialogue Simulation with In-Context
Learning" (arXiv 2210.04185; code ``Leezekun/dialogic``). A seed set of annotated dialogues is
expanded: for a user goal (here from ``task_dialogue.goals``, the paper's random-sampling
mode), ``dialogic.simulate``

1. selects ``shots`` in-context examples from the seed dialogues with probability
   ``exp(w / tau)``, ``w`` = Jaccard(goal domains) x Jaccard(goal domain-slots) (the paper's
   Eq. 1 and 2), without replacement;
2. writes the dialogue turn by turn in the released code's format: a user turn continues
   ``You require(`` with the turn's belief state and the utterance (``[domain] slot is value
   , slot is value): utterance``; temperature 0.7, 64 tokens, frequency penalty 1.0, stop at
   ``Assistant``; a reply without ``):`` is re-asked up to ``max_repeat`` times); a system
   turn continues ``Assistant:`` (frequency penalty 0, stop at ``You require``);
3. revises each user turn's belief state automatically before it goes back into the prompt
   (the paper's automatic revision): a generated slot value is kept only when the slot is an
   informable slot of its domain and the utterance mentions the value (over-generation is
   dropped); a generated value that disagrees with the goal is replaced by the goal's value
   when the utterance mentions that one, else dropped; a goal value the utterance mentions
   but the belief state misses is added (de-generation). The revised turn, not the generated
   one, continues the prompt, so later turns are conditioned on a consistent state;
4. ends after ``max_turns`` exchanges, or once the user turn is annotated ``[general]`` (a
   goodbye) after every goal domain has been mentioned.

Each turn of ``dialogue`` holds the accumulated belief state (as ``task_dialogue.one_shot``
writes it), user turns also their ``revision`` (dropped, replaced, added); the recipe then
runs ``task_dialogue.check``. What differs: the paper's revision also uses a TOD model
trained on the seed data as a verifier (its belief-state and dialogue-act predictions); none
is trained here, the known goal takes its place for de-generation and disagreements, and
system turns are written without dialogue acts. Seeds are the shipped example dialogues
(written for synthaug; the paper seeds with 1% to 10% of MultiWOZ, 85+ dialogues). ``tau``'s
default and the prompt's header line are written here (the released prompt builder was not
read); ``shots`` = 2 follows the released simulation files' name (``2_shot``).
"""

from __future__ import annotations

import math
import random
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest
from ...records import META
from ...verify.dialogue_state import normalise
from ..registry import register
from .ontology import Ontology, load_examples, load_ontology

PAPER = (
    "Li et al., 2022, Controllable Dialogue Simulation with In-Context Learning (arXiv 2210.04185)"
)
TAXONOMY = "synthesis / task-oriented dialogue (in-context simulation, controlled revision)"
STAGE = "instruction tuning (dialogue)"
HEADER = (
    "Conversations between a user and an assistant. Before each user utterance, "
    '"You require(...)" gives the slots the user states in it.'
)
NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six"}
_DOMAIN = re.compile(r"\[([a-z ]+)\]")

Goal = dict[str, dict[str, Any]]
State = dict[str, dict[str, str]]


def similarity(a: Goal, b: Goal) -> float:
    """Jaccard of the goals' domains times Jaccard of their domain-slot pairs (Eq. 1)."""

    def jaccard(x: set, y: set) -> float:
        return len(x & y) / len(x | y) if x | y else 0.0

    def slots(goal: Goal) -> set[tuple[str, str]]:
        return {(d, s) for d, parts in goal.items() for s in parts["inform"]}

    return jaccard(set(a), set(b)) * jaccard(slots(a), slots(b))


def select_examples(
    seeds: list[dict[str, Any]], goal: Goal, shots: int, tau: float, rng: random.Random
) -> list[dict[str, Any]]:
    """``shots`` seed dialogues drawn without replacement with p ~ exp(w / tau) (Eq. 2)."""
    pool, chosen = list(seeds), []
    for _ in range(min(shots, len(pool))):
        weights = [math.exp(similarity(s["goal"], goal) / tau) for s in pool]
        chosen.append(pool.pop(rng.choices(range(len(pool)), weights)[0]))
    return chosen


def state_text(state: State) -> str:
    """``[domain] slot is value , slot is value`` (the released code's reform format)."""
    return " ".join(f"[{d}] " + " , ".join(f"{s} is {v}" for s, v in slots.items())
                    for d, slots in state.items() if slots)  # fmt: skip


def parse_state(text: str) -> State:
    """The inverse of ``state_text``; ``[general]`` gives an empty ``general`` entry."""
    state: State = {}
    parts = _DOMAIN.split(text.lower())
    for domain, body in zip(parts[1::2], parts[2::2], strict=True):
        slots = state.setdefault(domain.strip(), {})
        for pair in body.split(","):
            slot, sep, value = pair.partition(" is ")
            if sep and slot.strip() and value.strip():
                slots[slot.strip()] = value.strip()
    return state


def goal_text(goal: Goal) -> str:
    return "; ".join(f"{state_text({d: parts['inform']})}, ask for {', '.join(parts['request'])}"
                     for d, parts in goal.items())  # fmt: skip


def turn_states(turns: list[dict[str, Any]]) -> list[State]:
    """Each user turn's new or changed slots (an annotated dialogue holds accumulated states)."""
    before: State = {}
    news = []
    for turn in turns:
        if turn["speaker"] == "user":
            state = turn["belief_state"]
            news.append({d: {s: v for s, v in slots.items() if before.get(d, {}).get(s) != v}
                         for d, slots in state.items()})  # fmt: skip
            before = state
    return news


def example_text(example: dict[str, Any]) -> str:
    lines, news = [f"Goal: {goal_text(example['goal'])}"], iter(turn_states(example["turns"]))
    for turn in example["turns"]:
        if turn["speaker"] == "user":
            lines.append(f"You require({state_text(next(news)) or '[general]'}): {turn['text']}")
        else:
            lines.append(f"Assistant: {turn['text']}")
    return "\n".join(lines)


def mentions(utterance: str, value: str, aliases: dict[str, str]) -> bool:
    """Whether the (lower-cased) utterance names ``value``, its aliases or its number word."""
    value = normalise(value, aliases)
    forms = {value, NUMBER_WORDS.get(value, value)}
    forms |= {alias for alias, canonical in aliases.items() if canonical == value}
    words = re.findall(r"[a-z0-9:']+", utterance.lower())
    text = " ".join(words)
    return any(re.search(rf"(?<![a-z0-9]){re.escape(form)}(?![a-z0-9])", text) for form in forms)


def revise(
    generated: State, utterance: str, goal: Goal, ontology: Ontology
) -> tuple[State, dict[str, list[str]]]:
    """The turn's belief state after the automatic revision, and what was changed."""
    aliases, kept, log = ontology.aliases, {}, {"dropped": [], "replaced": [], "added": []}
    for domain, slots in generated.items():
        for slot, value in slots.items():
            name = f"{domain}.{slot}={value}"
            if slot not in ontology.informable.get(domain, {}):
                log["dropped"].append(f"{name} (not an ontology slot)")
                continue
            wanted = goal.get(domain, {}).get("inform", {}).get(slot)
            if wanted is not None and normalise(value, aliases) != normalise(wanted, aliases):
                if mentions(utterance, wanted, aliases):
                    kept.setdefault(domain, {})[slot] = wanted
                    log["replaced"].append(f"{name} -> {wanted}")
                else:
                    log["dropped"].append(f"{name} (disagrees with the goal)")
            elif mentions(utterance, value, aliases):
                kept.setdefault(domain, {})[slot] = normalise(value, aliases)
            else:
                log["dropped"].append(f"{name} (not in the utterance)")
    for domain, parts in goal.items():
        for slot, wanted in parts["inform"].items():
            if slot not in kept.get(domain, {}) and mentions(utterance, wanted, aliases):
                kept.setdefault(domain, {})[slot] = wanted
                log["added"].append(f"{domain}.{slot}={wanted}")
    return kept, log


class SimulateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ontology: str | None = Field(None, description="ontology JSON (default: the shipped one)")
    seeds: str | None = Field(None, description="seed annotated dialogues (JSONL of goal, turns)")
    shots: int = Field(2, ge=1, description="in-context example dialogues")
    tau: float = Field(0.2, gt=0, description="temperature of the example sampling (Eq. 2)")
    max_turns: int = Field(10, ge=1, description="user/system exchanges, at most")
    max_repeat: int = Field(3, ge=1, description="tries for a user turn with a belief state")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(64, ge=8)
    user_frequency_penalty: float = Field(1.0, ge=-2, le=2)


@register("dialogic.simulate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Simulate(MapStep):
    """A dialogue for a user goal, turn by turn from in-context seed dialogues, each user
    turn's belief state revised against the utterance and the goal."""

    Params = SimulateParams
    reads = ("goal",)
    writes = ("dialogue", "examples")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.ontology = load_ontology(self.params.ontology)
        self.seeds = load_examples(self.params.seeds)

    def _request(self, prompt: str, seed: int, user: bool) -> ChatRequest:
        p = self.params
        return ChatRequest(
            prompt=prompt, temperature=p.temperature, max_tokens=p.max_tokens, seed=seed,
            stop=("Assistant", "\n") if user else ("You require", "\n"),
            frequency_penalty=p.user_frequency_penalty if user else 0.0,
        )  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, goal, llm = self.params, row["goal"], ctx.require_llm()
        seed = ctx.seed(row[META]["id"])
        examples = select_examples(self.seeds, goal, p.shots, p.tau, random.Random(seed))
        shown = [example_text(e) for e in examples]
        prompt = "\n\n".join([HEADER, *shown, f"Goal: {goal_text(goal)}"])
        state: State = {}
        turns: list[dict[str, Any]] = []
        requests: list[ChatRequest] = []
        for exchange in range(p.max_turns):
            for attempt in range(p.max_repeat):
                request = self._request(
                    prompt + "\nYou require(", seed + 1000 * exchange + attempt, True
                )
                requests.append(request)
                reply = (await llm.complete(request)).text
                head, sep, utterance = reply.partition("):")
                if sep and utterance.strip():
                    break
            else:
                if not turns:
                    raise RowError("malformed_turn", f"no user turn 'STATE): UTTERANCE' in "
                                   f"{p.max_repeat} tries; last: {reply[:160]!r}")  # fmt: skip
                break
            utterance = utterance.strip()
            generated = parse_state(head)
            revised, log = revise(generated, utterance, goal, self.ontology)
            for domain, slots in revised.items():
                state.setdefault(domain, {}).update(slots)
            prompt += f"\nYou require({state_text(revised) or '[general]'}): {utterance}"
            turns.append({"speaker": "user", "text": utterance, "belief_state": _copy(state),
                          "revision": log})  # fmt: skip
            request = self._request(prompt + "\nAssistant:", seed + 1000 * exchange, False)
            requests.append(request)
            answer = (await llm.complete(request)).text.strip() or "..."
            prompt += f"\nAssistant: {answer}"
            turns.append({"speaker": "system", "text": answer, "belief_state": _copy(state)})
            if "general" in generated and set(goal) <= set(state):
                break
        fields = {"dialogue": turns, "examples": [e["goal"] for e in examples]}
        return [self.derived(row, fields, ctx, requests, seed=seed)]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        logs = [t["revision"] for t in row["dialogue"] if "revision" in t]
        return {
            kind: sum(len(log[kind]) for log in logs) for kind in ("dropped", "replaced", "added")
        }


def _copy(state: State) -> State:
    return {d: dict(slots) for d, slots in state.items()}
