"""SciLitLLM's synthetic instructions for scientific literature (Li et al., 2024, arXiv
2408.15545, the SciLitIns data).

The authors' SFT pipeline (``SciLitLLM/sft`` of ``dptech-corp/Uni-SMART``) has four steps:

1. **Keyword table**: the word frequencies of a domain's literature (parsed papers).
2. **Tasks**: table extraction, entity extraction, multiple choice, true/false (and two
   molecule tasks), each a prompt template with few-shot examples.
3. **Generation**: per sample, ``k=20`` keywords drawn from the table with temperature 3
   (probabilities raised to 1/3 and renormalised); the model writes a literature-style passage
   using them and a task question with its answer.
4. **Quality**: deduplication (Levenshtein similarity of passage times that of answer; the
   top ``dup_ratio=0.05`` of pairs, 2 x 0.05 x N of them, are joined and one per group kept),
   then an LLM scores clarity, complexity, correctness, usefulness and adaptability 1-5 each
   and an instruction is kept at a total of 20 or more.

Steps: ``scilit.keywords`` (the word table of literature passages, default the science
articles of the packaged encyclopedia, and seeded keyword draws, one row per sample, tasks in
turn), ``scilit.generate`` (passage, question and answer under a JSON schema), ``scilit.dedup``
(the authors' rule) and ``scilit.quality`` (the five scores under a JSON schema).

What differs here: the literature is a few Wikipedia leads rather than parsed papers (stop
words and words under 4 letters are left out of the table; the authors' parser is not
released); the task examples are written for synthaug; the quality judge returns the five
scores without its explanation and the total is computed here rather than read from the
judge; the molecule tasks are not included.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rapidfuzz.distance import Levenshtein

from ...engine.step import RowError, SourceStep, StepContext, WholeStep
from ...llm.types import ChatRequest, chat, object_schema
from ...quality import stopwords
from ...records import META, record_id
from ..common.judged import JsonJudge
from ..common.parsing import json_reply
from ..common.rows import packaged_rows
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Li et al., 2024, SciLitLLM: How to Adapt LLMs for Scientific Literature Understanding "
    "(arXiv 2408.15545)"
)
TAXONOMY = "synthesis / domain model distillation (keyword-seeded literature instructions)"
STAGE = "domain (science literature), instruction tuning"
ENCYCLOPEDIA = "encyclopedia.jsonl"
SCIENCE_TITLES = [
    "Albedo",
    "International Atomic Time",
    "Anthropology",
    "Alchemy",
    "Astronomer",
    "Amphibian",
    "Agriculture",
    "Algae",
    "Alkane",
    "Acid",
    "Asphalt",
    "Alkali metal",
    "Atomic number",
    "Anatomy",
    "Aardvark",
    "Aardwolf",
    "Apollo 11",
    "Astronaut",
    "Arithmetic mean",
]
_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")


@cache
def tasks() -> dict[str, dict[str, Any]]:
    path = Path(__file__).parent / "templates" / "scilit_tasks.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def keyword_table(texts: list[str]) -> Counter[str]:
    """Word frequencies of the literature (lower case, 4+ letters, NLTK's English stop words
    as EDA keeps them left out)."""
    words = (w.lower() for text in texts for w in _WORD.findall(text))
    return Counter(w for w in words if len(w) >= 4 and w not in stopwords.EDA)


def sample_keywords(
    table: Counter[str], k: int, temperature: float, rng: random.Random
) -> list[str]:
    """``k`` keywords drawn with replacement, each with probability frequency^(1/temperature)
    (normalised), as the authors sample them."""
    words = sorted(table)
    weights = [table[w] ** (1 / temperature) for w in words]
    return rng.choices(words, weights, k=k)


class KeywordsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # literature (a ``text`` column); default: the packaged encyclopedia
    titles: list[str] | None = None  # articles used (default: its science articles; [] = all)
    count: int = Field(8, ge=1)  # samples
    k: int = Field(20, ge=1)  # keywords per sample (the authors: 20)
    temperature: float = Field(3.0, gt=0)  # keyword sampling temperature (the authors: 3)
    tasks: list[str] = Field(
        default_factory=lambda: [
            "multiple_choice",
            "true_false",
            "entity_extraction",
            "table_extraction",
        ]
    )

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(tasks()))
        if unknown or not value:
            raise ValueError(f"unknown tasks {unknown}; known: {', '.join(tasks())}")
        return value


@register("scilit.keywords", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Keywords(SourceStep):
    """SciLitLLM: keyword draws from the word table of literature passages, one per sample.

    Output columns: ``keywords`` (a list), ``task`` and ``literature`` (the passages' titles
    or row numbers)."""

    Params = KeywordsParams
    params: KeywordsParams
    seed_data: ClassVar[dict[str, str]] = {"path": ENCYCLOPEDIA}
    writes = ("keywords", "task", "literature")

    def passages(self) -> list[dict[str, Any]]:
        p = self.params
        rows = packaged_rows(p.path, ENCYCLOPEDIA, ["text"])
        titles = SCIENCE_TITLES if p.titles is None and p.path is None else p.titles
        return [r for r in rows if not titles or r.get("title") in titles]

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        p, passages = self.params, self.passages()
        table = keyword_table([str(r["text"]) for r in passages])
        literature = [str(r.get("title", i)) for i, r in enumerate(passages)]
        for number in range(p.count):
            rng = random.Random(ctx.seed("keywords", number))
            yield {
                "keywords": sample_keywords(table, p.k, p.temperature, rng),
                "task": p.tasks[number % len(p.tasks)],
                "literature": literature,
                META: {
                    "id": record_id(self.name, number),
                    "parents": [],
                    "step": self.name,
                    "method": self.method,
                    "source": p.path or ENCYCLOPEDIA,
                },
            }


def instruction_schema(task: str) -> dict[str, Any]:
    answer = (
        {"enum": ["True", "False"]}
        if task == "true_false"
        else {"type": "string", "maxLength": 600}
    )
    return object_schema(
        {
            "text": {"type": "string", "minLength": 40, "maxLength": 1500},
            "question": {"type": "string", "minLength": 8, "maxLength": 600},
            "answer": answer,
        }
    )


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(1.0, ge=0, le=2)  # the API default the authors' script used
    max_tokens: int = Field(1024, ge=32)


@register("scilit.generate", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Generate(ModelStep):
    """SciLitLLM: a literature-style passage using the keywords, a task question and its answer.

    Input columns: ``keywords``, ``task``. Output columns: ``text`` (the passage),
    ``question``, ``answer``, ``instruction`` (passage and question) and ``messages``."""

    Params = GenerateParams
    params: GenerateParams
    reads = ("keywords", "task")
    writes = ("text", "question", "answer", "instruction", "messages")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        task = tasks().get(row["task"])
        if task is None:
            raise RowError("unknown_task", f"no task {row['task']!r}")
        prompt = render(
            __file__,
            "scilit_generate.j2",
            keywords=row["keywords"],
            description=task["description"],
            example=task["example"],
        )
        p = self.params
        return [
            chat(
                ("user", prompt),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                json_schema=instruction_schema(row["task"]),
                seed=ctx.seed(row[META]["id"]),
            )
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        data = json_reply(replies[0])
        text, question, answer = (
            str(data.get(k, "")).strip() for k in ("text", "question", "answer")
        )
        if not (text and question and answer):
            raise RowError("malformed_output", "the reply lacks a passage, a question or an answer")
        instruction = f"{text}\n\n{question}"
        return {
            "text": text,
            "question": question,
            "answer": answer,
            "instruction": instruction,
            "messages": [
                {"role": "user", "content": instruction},
                {"role": "assistant", "content": answer},
            ],
        }


def similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The authors' pair similarity: Levenshtein similarity of the passages times that of the
    answers (each 1 - distance / longer length)."""
    return Levenshtein.normalized_similarity(a["text"], b["text"]) * (
        Levenshtein.normalized_similarity(a["answer"], b["answer"])
    )


def duplicate_groups(rows: list[dict[str, Any]], dup_ratio: float) -> list[int]:
    """The group representative (first member) of each row: the ``int(2 * dup_ratio * N)``
    most similar pairs are joined (union-find), as the authors' ``dedup.py`` does."""
    pairs = sorted(
        (
            (similarity(rows[i], rows[j]), i, j)
            for i in range(len(rows))
            for j in range(i + 1, len(rows))
        ),
        reverse=True,
    )
    parent = list(range(len(rows)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, i, j in pairs[: int(dup_ratio * 2 * len(rows))]:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(rows))]


class DedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dup_ratio: float = Field(0.05, ge=0, le=0.5)  # the authors: 0.05


@register("scilit.dedup", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Dedup(WholeStep):
    """SciLitLLM's dedup: join the most similar pairs (Levenshtein), keep one per group.

    Similarity: passage times answer Levenshtein similarity; the first row of a group stays.

    Input columns: ``text``, ``answer``. Output: the kept rows, with ``duplicates`` (the ids
    of the rows dropped into them)."""

    Params = DedupParams
    params: DedupParams
    reads = ("text", "answer")
    writes = ("duplicates",)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        held = [row async for row in rows]
        groups = duplicate_groups(held, self.params.dup_ratio)
        members: dict[int, list[str]] = {}
        for index, group in enumerate(groups):
            if index != group:
                members.setdefault(group, []).append(held[index][META]["id"])
        for index, group in enumerate(groups):
            if index == group:
                yield {**held[index], "duplicates": members.get(index, [])}


CRITERIA = ("clarity", "complexity", "correctness", "usefulness", "adaptability")


class QualityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    min_total: int = Field(20, ge=5, le=25)  # the authors keep a total of 20 or more
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(96, ge=16)


@register("scilit.quality", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Quality(JsonJudge):
    """SciLitLLM's quality filter: five 1-5 scores, kept at a total of ``min_total`` or more.

    Input columns: ``instruction``. Output columns: ``quality`` (``{scores, total, judge}``);
    a lower total makes the row an error row ``low_quality``."""

    Params = QualityParams
    params: QualityParams
    reads = ("instruction",)
    writes = ("quality",)
    schema = object_schema({c: {"enum": [1, 2, 3, 4, 5]} for c in CRITERIA})

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        prompt = render(__file__, "scilit_quality.j2", instruction=row["instruction"])
        return self.schema_request(prompt, self.schema, seed)

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        scores = {c: reply.get(c) for c in CRITERIA}
        if not all(
            isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 5 for s in scores.values()
        ):
            raise RowError("malformed_judgement", f"not five 1-5 scores: {reply!r}"[:300])
        total = sum(scores.values())
        if total < self.params.min_total:
            raise RowError("low_quality", f"scored {total}/25, below {self.params.min_total}")
        return {"quality": {"scores": scores, "total": total, "judge": judge}}
