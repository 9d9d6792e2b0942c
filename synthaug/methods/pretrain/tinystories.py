"""TinyStories (Eldan & Li, 2023, "TinyStories: How Small Can Language Models Be and Still
Speak Coherent English?", arXiv 2305.07759).

Short stories in the vocabulary of a 3-4-year-old, made diverse by the prompt:

1. ``tinystories.generate``: each prompt draws one verb, one noun and one
   adjective from a simple vocabulary, which the story must use, and a random
   subset of story features — dialogue, plot twist, bad ending, moral value,
   foreshadowing, conflict (each feature kept with probability 1/2, i.e. a
   uniformly random subset). The bundled vocabulary is the Dale-Chall list of
   easy words split into nouns, verbs and adjectives with WordNet
   (``synthaug/data/tinystories_words.json``; the paper used about 1,500 basic
   words). Every record says which required words the story really uses
   (``words_present``: the word or a regular inflection of it — ``jump``,
   ``jumped``, ``jumping``; irregular forms such as ``ran`` are not counted)
   and ``all_words_present``. An empty reply is skipped; the generator sends
   at most three requests per story wanted.
2. ``tinystories.instruct``: the TinyStories-Instruct variant. Each story is
   prefixed by instructions of up to four kinds — the words to use, a
   sentence that must appear (a random sentence of the story), the features,
   and a short summary (a second model call). As in the paper, each entry
   carries a random non-empty subset of the kinds; ``text`` is the training
   text (instructions, then ``Story:`` and the story).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...curate.text import words
from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...llm.client import LLMError
from ...llm.types import ChatRequest, chat
from ...records import META
from ..common.tasks import generate_until
from ..registry import register
from ..templates import render

PAPER = "Eldan & Li, 2023, TinyStories (arXiv 2305.07759)"
TAXONOMY = "synthesis / general model distillation (constrained story generation)"
STAGE = "pre-training"
WORDS_FILE = Path(__file__).resolve().parents[2] / "data" / "tinystories_words.json"
Feature = Literal[
    "dialogue", "plot_twist", "bad_ending", "moral_value", "foreshadowing", "conflict"
]  # fmt: skip
FEATURES: dict[str, tuple[str, str]] = {  # name in instructions, request in the story prompt
    "dialogue": ("Dialogue", "the story should contain at least one dialogue"),
    "plot_twist": ("Plot twist", "something unexpected happens, or the plot takes a twist"),
    "bad_ending": ("Bad ending", "the story has a bad ending"),
    "moral_value": ("Moral value", "the story teaches a moral value"),
    "foreshadowing": ("Foreshadowing", "the story uses foreshadowing: an early hint pays off"),
    "conflict": ("Conflict", "the story has some kind of conflict"),
}
Kind = Literal["words", "sentence", "features", "summary"]
KINDS: tuple[Kind, ...] = ("words", "sentence", "features", "summary")
ROLES = ("verb", "noun", "adjective")
SENTENCE_END = re.compile(r"(?<=[.!?][\"')\]])\s+|(?<=[.!?])\s+")


@cache
def load_vocabulary(path: str | None = None) -> dict[str, list[str]]:
    """``{"verbs": [...], "nouns": [...], "adjectives": [...]}`` (default: the bundled list)."""
    try:
        data = json.loads(Path(path or WORDS_FILE).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    missing = [
        f"{role}s" for role in ROLES if not isinstance(data, dict) or not data.get(f"{role}s")
    ]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in {path}")
    return data


def inflections(word: str) -> set[str]:
    """The word and its regular inflections (plural, past, -ing, comparative, superlative)."""
    stem = word[:-1] if word.endswith("e") else word
    forms = {word, word + "s", word + "es", word + "ed", word + "ing", word + "er", word + "est"}
    forms |= {stem + "ed", stem + "ing", stem + "er", stem + "est", word + "d", word + "r"}
    if word.endswith("y"):
        forms |= {word[:-1] + ending for ending in ("ies", "ied", "ier", "iest")}
    if len(word) > 2 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou":
        forms |= {word + word[-1] + ending for ending in ("ed", "ing", "er", "est")}
    return forms


def words_present(story: str, required: dict[str, str]) -> dict[str, bool]:
    """For each required word: does the story use it (or a regular inflection of it)?"""
    tokens = set(words(story))
    return {word: bool(inflections(word) & tokens) for word in required.values()}


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_stories: int = Field(100, ge=1)
    vocabulary: str | None = None  # a JSON file with verbs, nouns, adjectives
    features: list[Feature] = Field(default_factory=lambda: list(FEATURES))
    feature_probability: float = Field(0.5, ge=0, le=1)
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    requests_in_flight: int | None = Field(None, ge=1)

    @field_validator("vocabulary")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        load_vocabulary(value)
        return value


@register("tinystories.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(SourceStep):
    """TinyStories: simple-word stories that must use a drawn verb, noun and adjective."""

    Params = GenerateParams
    writes = ("story", "words", "features", "words_present", "all_words_present")
    uses_llm = True

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        self.vocabulary = load_vocabulary(self.params.vocabulary)

    def expected_rows(self) -> int | None:
        return self.params.num_stories

    def draw(self, number: int, ctx: StepContext) -> dict[str, Any]:
        """The required words and features of story ``number`` (seeded)."""
        p, rng = self.params, random.Random(ctx.seed("tinystories", number))
        chosen = {role: rng.choice(self.vocabulary[f"{role}s"]) for role in ROLES}
        features = [f for f in p.features if rng.random() < p.feature_probability]
        return {"words": chosen, "features": features}

    def request(self, number: int, draw: dict[str, Any], ctx: StepContext) -> ChatRequest:
        prompt = render(
            __file__,
            "tinystories_story.j2",
            **draw["words"],
            features=[FEATURES[f][1] for f in draw["features"]],
        )
        return chat(
            ("user", prompt),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            seed=ctx.seed("request", number),
        )

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, llm = self.params, ctx.require_llm()
        draws: dict[int, dict[str, Any]] = {}
        produced = 0

        def make_request(number: int) -> ChatRequest:
            draws[number] = self.draw(number, ctx)
            return self.request(number, draws[number], ctx)

        in_flight = min(p.requests_in_flight or llm.backend.max_concurrency, p.num_stories)
        results = generate_until(
            llm, make_request, lambda: p.num_stories - produced, p.num_stories * 3, in_flight
        )
        async with contextlib.aclosing(results):
            async for index, request, result in results:
                draw = draws.pop(index)
                if isinstance(result, LLMError) or not result.text.strip():
                    continue
                produced += 1
                yield self.generated(story_fields(result.text, draw), ctx, request, index)


def story_fields(reply: str, draw: dict[str, Any]) -> dict[str, Any]:
    """The record for one story reply and the words and features it was asked for."""
    story = reply.strip()
    present = words_present(story, draw["words"])
    return {
        "story": story,
        "words": draw["words"],
        "features": draw["features"],
        "words_present": present,
        "all_words_present": all(present.values()),
    }


class InstructParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS), min_length=1)
    random_subset: bool = True  # the paper: each entry has a random subset of the kinds
    min_sentence_words: int = Field(4, ge=1)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(96, ge=8)


@register("tinystories.instruct", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Instruct(MapStep):
    """TinyStories-Instruct: prefix each story with words, a sentence, features and a summary."""

    Params = InstructParams
    reads = ("story", "words", "features")
    writes = ("instruction", "instruction_kinds", "summary", "sentence", "text")
    uses_llm = True

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        rng = random.Random(seed)
        sentence = pick_sentence(row["story"], rng, self.params.min_sentence_words)
        kinds = self.choose_kinds(
            rng, has_features=bool(row["features"]), has_sentence=bool(sentence)
        )
        requests: list[ChatRequest] = []
        summary = None
        if "summary" in kinds:
            requests.append(self.summary_request(row["story"], seed))
            summary = first_sentences((await ctx.require_llm().complete(requests[0])).text)
            if not summary:
                raise RowError("empty_summary", "the model wrote no summary")
        instruction = render(
            __file__,
            "tinystories_instruction.j2",
            kinds=kinds,
            words=list(row["words"].values()),
            sentence=sentence,
            features=[FEATURES[f][0] for f in row["features"]],
            summary=summary,
        ).strip()
        fields = {
            "instruction": instruction,
            "instruction_kinds": kinds,
            "summary": summary,
            "sentence": sentence,
            "text": f"{instruction}\nStory: {row['story']}",
        }
        return [self.derived(row, fields, ctx, requests, seed=seed)]

    def choose_kinds(self, rng: random.Random, has_features: bool, has_sentence: bool) -> list[str]:
        """The instruction kinds of one entry, in the canonical order."""
        usable = [
            kind
            for kind in self.params.kinds
            if (kind != "features" or has_features) and (kind != "sentence" or has_sentence)
        ]
        if not usable:
            raise RowError("no_instruction", "no instruction kind applies to this story")
        if self.params.random_subset:
            usable = rng.sample(usable, rng.randint(1, len(usable)))
        return [kind for kind in KINDS if kind in usable]

    def summary_request(self, story: str, seed: int) -> ChatRequest:
        return chat(
            ("user", render(__file__, "tinystories_summary.j2", story=story)),
            temperature=self.params.temperature,
            max_tokens=self.params.max_tokens,
            seed=seed,
        )


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def pick_sentence(story: str, rng: random.Random, min_words: int) -> str | None:
    """A random sentence of the story with at least ``min_words`` words (None if none has)."""
    candidates = [s for s in sentences(story) if len(s.split()) >= min_words]
    return rng.choice(candidates) if candidates else None


def first_sentences(text: str, count: int = 2) -> str:
    """The reply's first ``count`` sentences: the short summary the paper asks for."""
    return " ".join(sentences(text)[:count])
