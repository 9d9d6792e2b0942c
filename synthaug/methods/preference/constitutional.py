"""Constitutional AI, supervised stage (Bai et al., 2022, "Constitutional AI: Harmlessness from AI
Feedback", arXiv 2212.08073, §3 SL-CAI).

SL-CAI turns a helpful model's answers to (red-team) prompts into harmless training targets
with a written constitution of critique/revision principle pairs. Per prompt:

1. sample an initial response (temperature 1, as in the paper);
2. draw one principle pair at random, append its critique request and generate a critique,
   then append its revision request and generate a revision;
3. repeat with a newly drawn principle (drawn independently each round, so a principle may
   recur), each round continuing the same conversation from the last revision; the paper
   uses up to 4 revisions per prompt.

The model is then fine-tuned on prompt -> final revision. Few-shot demonstrations (the paper
has 5) precede the conversation as earlier turns of the same chat. ``cai.critique_revise``
records ``initial_response, principles, critiques, revisions, final_revision``, the SFT shape
(``response`` = final revision) and the pair shape (``chosen`` = final revision,
``rejected`` = initial response), the pair SL-CAI's revisions imply for preference training.

The constitution is a YAML file (``constitution``; default ``synthaug/data/constitution.yaml``:
16 principle pairs and 2 demonstrations written for synthaug in the spirit of the paper's);
a bad file fails before any model call with a one-line error naming the file and the
problem. A row that already has a response (``response_column``) is revised as it is.
Dropped, counted by kind: ``empty_prompt``, ``empty_response`` (no initial response) and
``empty_revision`` (a revision came back empty). The conversation grows with each round, so
``rounds`` x 2 x ``max_tokens`` plus the demonstrations must fit the model's context
(2,048 tokens per slot for the embedded model).

Critiques and revisions are sampled at ``critique_temperature`` (1.0: the paper states only
the initial response's temperature).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...errors import InputError
from ...hashing import stable_hash
from ...io.yaml_file import read_yaml
from ...llm.types import ChatRequest, Role, chat
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import PAIR_COLUMNS, prompt_text

PAPER = "Bai et al., 2022, Constitutional AI: Harmlessness from AI Feedback (arXiv 2212.08073)"
TAXONOMY = "synthesis / self-improvement (critique and revision under principles)"
STAGE = "preference alignment (harmlessness SFT and pairs)"
DEFAULT_CONSTITUTION = "constitution.yaml"
PRINCIPLE_FIELDS = ("name", "critique", "revision")
DEMONSTRATION_FIELDS = ("prompt", "response", "principle", "critique", "revision")
# a label the model sometimes puts before its critique or revision ("Revision: ...")
_LABEL = re.compile(
    r"^\s*(?:critique|revision|revised response|rewritten response)\s*:\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class Constitution:
    """Principle pairs ``{name, critique, revision}``, demonstrations, and a content digest."""

    principles: tuple[dict[str, str], ...]
    demonstrations: tuple[dict[str, str], ...]
    digest: str

    def principle(self, name: str) -> dict[str, str]:
        return next(p for p in self.principles if p["name"] == name)


def load_constitution(path: str | None = None) -> Constitution:
    """The constitution in ``path`` (default: the shipped one), checked; an ``InputError``
    names the file and the first problem."""
    where, raw = read_yaml(path, DEFAULT_CONSTITUTION, "constitution")
    if not isinstance(raw, dict) or not isinstance(raw.get("principles"), list):
        raise InputError(where, "a constitution needs a 'principles' list")
    if not raw["principles"]:
        raise InputError(where, "the list is empty", field="principles")
    principles = [
        _entry(item, PRINCIPLE_FIELDS, where, f"principles[{i}]")
        for i, item in enumerate(raw["principles"])
    ]
    names = [p["name"] for p in principles]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InputError(where, f"duplicate principle name {name!r}", field=f"principles[{i}]")
    demonstrations = raw.get("demonstrations") or []
    if not isinstance(demonstrations, list):
        raise InputError(where, "must be a list", field="demonstrations")
    demos = [
        _entry(item, DEMONSTRATION_FIELDS, where, f"demonstrations[{i}]")
        for i, item in enumerate(demonstrations)
    ]
    for i, demo in enumerate(demos):
        if demo["principle"] not in names:
            problem = f"unknown principle {demo['principle']!r}"
            raise InputError(where, problem, field=f"demonstrations[{i}].principle")
    content = {"principles": principles, "demonstrations": demos}
    return Constitution(tuple(principles), tuple(demos), stable_hash(content, 16))


def _entry(item: Any, fields: tuple[str, ...], where: str, field: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise InputError(where, f"must be a mapping with {', '.join(fields)}", field=field)
    entry = {}
    for name in fields:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InputError(where, "must be a non-empty string", field=f"{field}.{name}")
        entry[name] = " ".join(value.split())
    unknown = sorted(set(item) - set(fields))
    if unknown:
        raise InputError(where, f"unknown key(s) {', '.join(unknown)}", field=field)
    return entry


def clean_reply(text: str) -> str:
    """A critique or revision without surrounding space or a leading label."""
    return _LABEL.sub("", text.strip(), count=1).strip()


def critique_turn(principle: dict[str, str]) -> str:
    return render(__file__, "cai_critique.j2", request=principle["critique"])


def revision_turn(principle: dict[str, str]) -> str:
    return render(__file__, "cai_revision.j2", request=principle["revision"])


def demonstration_turns(constitution: Constitution) -> list[tuple[Role, str]]:
    """The demonstrations as earlier chat turns: prompt, response, critique request, critique,
    revision request, revision."""
    turns: list[tuple[Role, str]] = []
    for demo in constitution.demonstrations:
        principle = constitution.principle(demo["principle"])
        turns += [
            ("user", demo["prompt"]),
            ("assistant", demo["response"]),
            ("user", critique_turn(principle)),
            ("assistant", demo["critique"]),
            ("user", revision_turn(principle)),
            ("assistant", demo["revision"]),
        ]
    return turns


def transcript(
    demonstrations: list[tuple[Role, str]],
    prompt: str,
    initial: str,
    principles: list[dict[str, str]],
    critiques: list[str],
    revisions: list[str],
) -> list[tuple[Role, str]]:
    """The conversation so far, ending with the request the model answers next.

    The demonstrations, the prompt and the initial response, then for each round its
    principle's critique request, the critique, its revision request and the revision; each
    round continues from the previous round's revision."""
    turns = [*demonstrations, ("user", prompt), ("assistant", initial)]
    for number, principle in enumerate(principles):
        turns.append(("user", critique_turn(principle)))
        if number == len(critiques):
            break
        turns += [("assistant", critiques[number]), ("user", revision_turn(principle))]
        if number == len(revisions):
            break
        turns.append(("assistant", revisions[number]))
    return turns


class CritiqueReviseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    response_column: str = "response"  # revised as it is when the row has one
    constitution: str | None = None  # a YAML file; None: the shipped 16 principles
    rounds: int = Field(4, ge=1, le=16)  # the paper: up to 4 revisions per prompt
    few_shot: bool = True
    temperature: float = Field(1.0, ge=0, le=2)  # the initial response (the paper: 1)
    critique_temperature: float = Field(1.0, ge=0, le=2)  # critiques and revisions (sampled)
    max_tokens: int = Field(256, ge=8)  # per response, critique and revision


@register("cai.critique_revise", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class CritiqueRevise(MapStep):
    """SL-CAI: critique and revise a response under randomly drawn constitutional principles."""

    Params = CritiqueReviseParams
    writes = (
        "instruction",
        "initial_response",
        "principles",
        "critiques",
        "revisions",
        "final_revision",
        "response",
        *PAIR_COLUMNS,
    )
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.constitution = load_constitution(self.params.constitution)  # fails before any call

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    def fingerprint_fields(self) -> dict[str, Any]:
        return {**super().fingerprint_fields(), "constitution": self.constitution.digest}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        prompt = prompt_text(row, p.prompt_column)
        llm = ctx.require_llm()
        requests: list[ChatRequest] = []
        given = row.get(p.response_column)
        if isinstance(given, str) and given.strip():
            initial, initial_model = given.strip(), row[META].get("model")
        else:
            request = chat(
                ("user", prompt),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row_id, "response"),
            )
            requests.append(request)
            initial = (await llm.complete(request)).text.strip()
            initial_model = llm.backend.describe()
        if not initial:
            raise RowError("empty_response", "the initial response is empty")
        demos = demonstration_turns(self.constitution) if p.few_shot else []
        used: list[dict[str, str]] = []
        critiques: list[str] = []
        revisions: list[str] = []
        for number in range(p.rounds):
            rng = random.Random(ctx.seed(row_id, "principle", number))
            used.append(rng.choice(self.constitution.principles))
            turns = transcript(demos, prompt, initial, used, critiques, revisions)
            critiques.append(
                await self.generate(turns, ctx, requests, (row_id, "critique", number))
            )
            turns = transcript(demos, prompt, initial, used, critiques, revisions)
            revision = await self.generate(turns, ctx, requests, (row_id, "revision", number))
            if not revision:
                fields = {
                    "initial_response": initial,
                    "principles": [u["name"] for u in used],
                    "critiques": critiques,
                    "revisions": revisions,
                }
                message = f"the revision of round {number + 1} is empty"
                return [dropped(self, row, "empty_revision", message, number, fields)]
            revisions.append(revision)
        final = revisions[-1]
        fields = {
            "instruction": prompt,
            "initial_response": initial,
            "principles": [u["name"] for u in used],
            "critiques": critiques,
            "revisions": revisions,
            "final_revision": final,
            "response": final,
            "chosen": final,
            "rejected": initial,
            "chosen_score": None,
            "rejected_score": None,
            "chosen_model": llm.backend.describe(),
            "rejected_model": initial_model,
            "pair_method": self.method,
        }
        return [self.derived(row, fields, ctx, requests, constitution=self.constitution.digest)]

    async def generate(
        self,
        turns: list[tuple[Role, str]],
        ctx: StepContext,
        requests: list[ChatRequest],
        seed_parts: tuple[Any, ...],
    ) -> str:
        """The model's next turn in the conversation (a critique or a revision), cleaned."""
        request = chat(
            *turns,
            temperature=self.params.critique_temperature,
            max_tokens=self.params.max_tokens,
            seed=ctx.seed(*seed_parts),
        )
        requests.append(request)
        return clean_reply((await ctx.require_llm().complete(request)).text)
