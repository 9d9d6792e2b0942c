"""TinyDialogues (Feng, Goodman & Frank, 2024, "Is Child-Directed Speech Effective Training
Data for Language Models?", EMNLP 2024, arXiv 2408.03617).

The paper builds a synthetic counterpart of child-directed speech: GPT-4 writes realistic
conversations a child takes part in, each prompt conditioned on the child's age (2, 5, 10 or
15 years), the participants (the child plus caregivers, relatives, teachers, friends, ...
and how many), the setting, the type of conversation and a requested length. Utterances are
labelled by speaker in double asterisks (``**Child**: ...``), the released preprocessing
(styfeng/TinyDialogues, ``TD_preprocess_txt_file.py``) drops examples that state the age
(``-year-old``), have no ``**`` labels or run over 400 words, and renames ``Toddler`` to
``Child``; the training file is ordered ascending by age (the curriculum experiments also
use the reversed and a random order).

Steps here:

1. ``tinydialogues.sample`` (no model): ``per_age`` scenarios per age, each a seeded draw
   of the other participants (1 to ``max_others`` from the age's pool), the setting, the
   conversation type and the requested word length; rows come ``ascending`` by age (the
   paper's curriculum), ``descending`` or in a seeded ``random`` order.
2. ``tinydialogues.generate``: the prompt, the reply parsed into speaker-labelled ``turns``
   and the dialogue in the paper's ``**Speaker**: utterance`` format (blank line between
   utterances). With ``constrain: grammar`` (for small models) a GBNF grammar holds the
   reply to that format with the sampled speakers only. Checks, each an error row whose
   kind names it: ``format`` (no labelled turn), ``unknown_speaker``, ``child_silent``,
   ``too_few_turns``, ``age_mentioned`` and ``too_long`` (the released filters).

Differences from the paper: the paper's exact prompt wording, its participant, setting and
conversation-type lists, the word lengths and the sampling temperature were not found in
what could be searched here (the repository's README, preprocessing scripts and the dataset
card); the prompt in ``templates/tinydialogues.j2`` and the lists below were written for
synthaug from the paper's description, and the word lengths and the ``min_turns`` check are
synthaug's. GPT-4 also wrote a description of the setting and of the participants before
the dialogue (kept as metadata in the released files); that is not asked for here. The
``text`` column keeps real newlines (the paper's GPT-2 files escape them and end each line
with ``<|endoftext|>``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, SourceStep, StepContext
from ...llm.types import ChatRequest, Completion, chat
from ...records import META, source_record
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Feng, Goodman & Frank, 2024, Is Child-Directed Speech Effective Training Data for "
    "Language Models? (EMNLP 2024, arXiv 2408.03617)"
)
TAXONOMY = "synthesis / general model distillation (child-directed dialogue)"
STAGE = "pre-training"
CHILD = "Child"
AGES = (2, 5, 10, 15)
# Written for synthaug (the paper's lists were not found): who talks with a child of each age.
PARTICIPANTS: dict[int, tuple[str, ...]] = {
    2: ("Mother", "Father", "Grandmother", "Grandfather", "Older Sibling", "Babysitter",
        "Aunt", "Uncle", "Daycare Teacher", "Doctor"),
    5: ("Mother", "Father", "Grandmother", "Grandfather", "Older Sibling", "Younger Sibling",
        "Babysitter", "Teacher", "Friend", "Neighbor", "Librarian"),
    10: ("Mother", "Father", "Grandparent", "Sibling", "Teacher", "Friend", "Classmate",
         "Coach", "Cousin", "Neighbor", "Camp Counselor"),
    15: ("Mother", "Father", "Grandparent", "Sibling", "Teacher", "Friend", "Classmate",
         "Coach", "Boss", "Counselor", "Cousin"),
}  # fmt: skip
SETTINGS = (
    "the kitchen at breakfast", "the living room", "the child's bedroom at bedtime",
    "bath time", "a park", "a playground", "a grocery store", "a car ride", "a doctor's office",
    "a classroom", "a library", "a zoo", "a beach", "a birthday party", "the dinner table",
    "the backyard", "a museum", "sports practice", "a shopping mall", "a farm",
)  # fmt: skip
CONVERSATION_TYPES = (
    "explanatory", "functional (getting something done)", "casual chat", "emotional support",
    "pretend play", "instructional", "storytelling", "disagreement and negotiation",
    "question and answer",
)  # fmt: skip
WORD_LENGTHS: dict[int, tuple[int, ...]] = {  # written for synthaug; all under the 400 filter
    2: (50, 100, 150), 5: (100, 150, 200), 10: (150, 200, 250), 15: (200, 250, 300),
}  # fmt: skip
_TURN = re.compile(r"\*\*\s*([^*\n]+?)\s*:?\s*\*\*\s*:?[ \t]*(.*?)(?=\n\s*\*\*|\Z)", re.DOTALL)
_TODDLER = re.compile(r"\btoddler\b", re.IGNORECASE)
_HEADER = re.compile(r"\**DIALOGUE:\**", re.IGNORECASE)


class SampleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_age: int = Field(5, ge=1, description="scenarios per age")
    ages: list[Literal[2, 5, 10, 15]] = Field(list(AGES), min_length=1)
    max_others: int = Field(3, ge=1, le=5, description="participants besides the child, at most")
    settings: list[str] = Field(list(SETTINGS), min_length=1)
    conversation_types: list[str] = Field(list(CONVERSATION_TYPES), min_length=1)
    order: Literal["ascending", "descending", "random"] = Field(
        "ascending", description="by age: the paper's curriculum, reversed, or shuffled"
    )


def draw_scenario(age: int, rng: random.Random, p: SampleParams) -> dict[str, Any]:
    """One prompt's parameters for a child of ``age``."""
    pool = PARTICIPANTS[age]
    others = rng.sample(pool, rng.randint(1, min(p.max_others, len(pool))))
    return {
        "age": age,
        "participants": [CHILD, *others],
        "setting": rng.choice(p.settings),
        "conversation_type": rng.choice(p.conversation_types),
        "word_length": rng.choice(WORD_LENGTHS[age]),
    }


@register("tinydialogues.sample", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Sample(SourceStep):
    """TinyDialogues' prompt parameters: age, participants, setting, type, length (seeded).

    Output columns: ``age``, ``participants`` (``Child`` first), ``setting``,
    ``conversation_type``, ``word_length``."""

    Params = SampleParams
    params: SampleParams
    writes = ("age", "participants", "setting", "conversation_type", "word_length")

    def expected_rows(self) -> int | None:
        return self.params.per_age * len(self.params.ages)

    def scenarios(self, ctx: StepContext) -> list[dict[str, Any]]:
        """Every scenario, in the chosen order."""
        p = self.params
        drawn = [
            draw_scenario(age, random.Random(ctx.seed("tinydialogues", age, k)), p)
            for age in sorted(set(p.ages))
            for k in range(p.per_age)
        ]
        if p.order == "descending":
            drawn.sort(key=lambda s: -s["age"])  # stable: each age keeps its draw order
        elif p.order == "random":
            random.Random(ctx.seed("order")).shuffle(drawn)
        return drawn

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        for index, scenario in enumerate(self.scenarios(ctx)):
            yield source_record(scenario, source=self.name, index=index)


def dialogue_grammar(speakers: list[str], min_turns: int) -> str:
    """GBNF: at least ``min_turns`` utterances ``**Speaker**: text``, blank-line apart, each by
    one of ``speakers`` (unbounded repetitions: llama.cpp expands bounded ones into many rules)."""
    names = " | ".join(json.dumps(f"**{s}**: ") for s in speakers)
    return f'root ::= {"turn " * min_turns}turn*\nturn ::= ({names}) [^\\n*]+ "\\n\\n"\n'


def parse_turns(text: str, truncated: bool = False) -> list[dict[str, str]]:
    """The ``{"speaker", "content"}`` turns of a ``**Speaker**: utterance`` dialogue (whatever
    comes before a ``DIALOGUE:`` header is dropped, ``Toddler`` becomes ``Child`` as in the
    released preprocessing); ``truncated``: the reply was cut off, so its last turn is
    incomplete and dropped."""
    body = _HEADER.split(text)[-1].replace("’", "'").replace("‘", "'")
    body = _TODDLER.sub(CHILD, body)
    turns = [
        {"speaker": m.group(1).strip(), "content": " ".join(m.group(2).split())}
        for m in _TURN.finditer(body)
    ]
    if truncated and turns:
        turns.pop()
    return [t for t in turns if t["content"]]


def dialogue_text(turns: list[dict[str, str]]) -> str:
    """The turns in the paper's format: ``**Speaker**: utterance``, a blank line between."""
    return "\n\n".join(f"**{t['speaker']}**: {t['content']}" for t in turns)


def check_dialogue(
    turns: list[dict[str, str]], participants: list[str], min_turns: int, max_words: int
) -> None:
    """Raise ``RowError`` naming the first check the dialogue fails."""
    if not turns:
        raise RowError("format", "no **Speaker**: utterance in the reply")
    allowed = {p.lower() for p in participants}
    stray = sorted({t["speaker"] for t in turns if t["speaker"].lower() not in allowed})
    if stray:
        raise RowError("unknown_speaker", f"speakers {stray} are not among {participants}")
    if not any(t["speaker"].lower() == CHILD.lower() for t in turns):
        raise RowError("child_silent", "the child never speaks")
    if len(turns) < min_turns:
        raise RowError("too_few_turns", f"{len(turns)} turns, fewer than {min_turns}")
    text = dialogue_text(turns)
    if "-year-old" in text.lower():
        raise RowError("age_mentioned", "the dialogue states an age ('-year-old')")
    if len(text.split()) > max_words:
        raise RowError("too_long", f"{len(text.split())} words, more than {max_words}")


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)  # the paper's value was not found
    max_tokens: int = Field(512, ge=16)
    constrain: Literal["grammar", "none"] = Field(
        "grammar", description="grammar: GBNF holds the reply to labelled turns by the speakers"
    )
    min_turns: int = Field(4, ge=1, description="fewer turns fail the check")
    max_words: int = Field(400, ge=1, description="longer dialogues fail (released filter)")


@register("tinydialogues.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(ModelStep):
    """TinyDialogues' generation: a child-directed conversation for the sampled scenario,
    parsed into speaker-labelled turns and checked.

    Input columns: ``age``, ``participants``, ``setting``, ``conversation_type``,
    ``word_length``. Output columns: ``turns`` (``speaker``, ``content``), ``text`` (the
    dialogue in the paper's ``**Speaker**: utterance`` format)."""

    Params = GenerateParams
    params: GenerateParams
    reads = ("age", "participants", "setting", "conversation_type", "word_length")
    writes = ("turns", "text")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, speakers = self.params, row["participants"]
        prompt = render(
            __file__,
            "tinydialogues.j2",
            age=row["age"],
            others=[s.lower() for s in speakers if s != CHILD],
            labels=speakers,
            setting=row["setting"],
            conversation_type=row["conversation_type"],
            word_length=row["word_length"],
        )
        grammar = None
        if p.constrain == "grammar":
            grammar = dialogue_grammar(speakers, p.min_turns)
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     grammar=grammar, seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Completion]) -> dict[str, Any]:
        choice = replies[0].choices[0]
        turns = parse_turns(choice.text, truncated=choice.finish_reason == "length")
        check_dialogue(turns, row["participants"], self.params.min_turns, self.params.max_words)
        return {"turns": turns, "text": dialogue_text(turns)}

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {f"age_{row['age']}": 1}
