"""TRAIT (Liang et al., EMNLP 2024, "Task Oriented In-Domain Data Augmentation", arXiv
2406.16694): a continual-pre-training corpus made of in-domain passages selected from a general
corpus and task-oriented synthetic passages.

The paper: (1) *in-domain data selection*: a FastText classifier trained on in-domain versus
general text picks in-domain documents from a general corpus, and a quality filter (educational
value) keeps the good ones; (2) *task-oriented synthetic passages*: an LLM (GPT-4) writes a
passage over several problems of the downstream tasks: one problem-specific paragraph per
problem (the problem, a possible answer and the reasoning that leads there), then an
*enlightenment* paragraph on what the problems share and how they differ; (3) two-stage
training: first the selected in-domain data, then the synthetic passages.

Here ``trait.group`` groups the task problems ``problems_per_passage`` at a time,
``trait.passages`` has the recipe's LLM write the passage for each group (the problems with
their reference answers given, so the reasoning leads to a known answer), and ``trait.corpus``
ranks the general corpus by similarity to the task problems and writes the corpus: the
selected passages (stage 1) then the synthetic ones (stage 2), each a ``text`` row with
provenance (``origin``; selected: ``corpus_index``, ``title``, ``score``, ``nearest_problem``;
synthetic: ``problem_ids``). What differs: selection is similarity to the task data (MiniLM
cosine, or BM25) instead of a trained FastText classifier, with no separate quality filter
(the shipped corpus is edited encyclopedia text); a passage's score is its best similarity
to any problem. ``problems_per_passage`` (2) and ``select`` (a fraction, 0.25) are chosen
here; the paper's counts are corpus-scale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, StepContext, WholeStep
from ...io import read_records
from ...llm.types import ChatRequest, Completion, chat
from ...records import META, derive, source_record
from ...retrieval import BM25Index, DenseIndex
from ..common.embedders import EmbedderParams, make_embedder
from ..common.sources import PackagedSource
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Liang et al., EMNLP 2024, TRAIT: Task Oriented In-Domain Data Augmentation for Continual "
    "Pre-training of Large Language Models (arXiv 2406.16694)"
)
TAXONOMY = "synthesis / domain model distillation (task-oriented passages + in-domain selection)"
STAGE = "pretraining (continual, in-domain)"
BUILTIN_CORPUS = "encyclopedia.jsonl"


@register("trait.problems", taxonomy="I/O", stage=STAGE, paper=PAPER)
class Problems(PackagedSource):
    """Task problems with reference answers (default: the shipped science questions)."""

    builtin = "science_questions.jsonl"
    required = ("question", "answer")


class GroupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problems_per_passage: int = Field(2, ge=1, le=8)  # chosen here
    question_column: str = "question"
    answer_column: str = "answer"


@register("trait.group", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Group(WholeStep):
    """Task problems grouped ``problems_per_passage`` at a time, in input order."""

    Params = GroupParams
    params: GroupParams
    writes = ("problems",)

    def input_columns(self) -> set[str]:
        return {self.params.question_column, self.params.answer_column}

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return {"problems"}

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p, held = self.params, [row async for row in rows]
        for number, start in enumerate(range(0, len(held), p.problems_per_passage)):
            group = held[start : start + p.problems_per_passage]
            problems = [{"id": r[META]["id"], "question": str(r[p.question_column]),
                         "answer": str(r[p.answer_column])} for r in group]  # fmt: skip
            record = derive(group[0], {"problems": problems}, step=self.name,
                            method=self.method, index=number, keep_parent_fields=False)  # fmt: skip
            record[META]["parents"] = [r["id"] for r in problems]
            yield record


class PassagesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)  # the paper gives none; chosen here
    max_tokens: int = Field(384, ge=16)  # per paragraph
    min_chars: int = Field(40, ge=0)  # a shorter paragraph makes the row an error row


@register("trait.passages", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Passages(ModelStep):
    """TRAIT's task-oriented passage: per problem, the problem, its answer and the model's
    reasoning to it; then the model's enlightenment paragraph on what the problems share."""

    Params = PassagesParams
    params: PassagesParams
    reads = ("problems",)
    writes = ("text", "reasoning", "enlightenment")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, problems, row_id = self.params, row["problems"], row[META]["id"]
        prompts = [render(__file__, "trait_problem.j2", **pr) for pr in problems]
        if len(problems) > 1:
            prompts.append(render(__file__, "trait_enlightenment.j2", problems=problems))
        return [chat(("user", prompt.strip()), temperature=p.temperature,
                     max_tokens=p.max_tokens, seed=ctx.seed(row_id, j))
                for j, prompt in enumerate(prompts)]  # fmt: skip

    def parse_reply(self, row: dict[str, Any], reply: Completion) -> str:
        text = reply.text.strip()
        if len(text) < self.params.min_chars:
            raise RowError("short_passage", f"a paragraph of {len(text)} characters")
        return text

    def parse(self, row: dict[str, Any], replies: list[str]) -> dict[str, Any]:
        problems = row["problems"]
        reasoning, enlightenment = replies[: len(problems)], replies[len(problems) :]
        paragraphs = [f"Problem: {pr['question']}\nAnswer: {pr['answer']}\n{why}"
                      for pr, why in zip(problems, reasoning, strict=True)]  # fmt: skip
        text = "\n\n".join(paragraphs + enlightenment)
        return {"text": text, "reasoning": reasoning,
                "enlightenment": enlightenment[0] if enlightenment else None}  # fmt: skip


class CorpusParams(EmbedderParams):
    path: str | None = None  # the general corpus; None: the packaged encyclopedia.jsonl
    format: str = "auto"
    text_column: str = "text"
    mode: Literal["dense", "bm25"] = "dense"
    select: float = Field(0.25, gt=0, le=1)  # share of the corpus kept (chosen here)
    min_score: float | None = None  # also drop passages scoring below this


@register("trait.corpus", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Corpus(WholeStep):
    """TRAIT's corpus: general passages most similar to the task problems (stage 1), then the
    synthetic passages (stage 2), as ``text`` rows with provenance."""

    Params = CorpusParams
    params: CorpusParams
    reads = ("problems", "text")
    writes = ("origin", "stage")
    seed_data: ClassVar[dict[str, str]] = {"path": BUILTIN_CORPUS}

    def corpus_path(self) -> str:
        return self.params.path or str(resources.files("synthaug") / "data" / BUILTIN_CORPUS)

    def output_columns(self, input_columns: set[str]) -> set[str]:
        p = self.params  # reading the first corpus row checks the file before any model call
        next(iter(read_records(self.corpus_path(), fmt=p.format, required=[p.text_column])), None)
        return {"text", "origin", "stage", "corpus_index", "title", "score", "nearest_problem",
                "problem_ids", "reasoning", "enlightenment", "problems"}  # fmt: skip

    def ranked(
        self, passages: list[str], problems: list[str], ctx: StepContext
    ) -> list[tuple[int, float, int]]:
        """(passage index, best score, the problem giving it), best first."""
        p = self.params
        if p.mode == "dense":
            index: Any = DenseIndex(passages, *make_embedder(p, ctx))
        else:
            index = BM25Index(passages, 1.5, 0.75, "en")
        best: dict[int, tuple[float, int]] = {}
        for q, hits in enumerate(index.search(problems, len(passages))):
            for hit in hits:
                if hit.index not in best or hit.score > best[hit.index][0]:
                    best[hit.index] = (hit.score, q)
        order = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [(i, score, q) for i, (score, q) in order]

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        p = self.params
        synthetic = [row async for row in rows]
        problems = [pr for row in synthetic for pr in row["problems"]]
        if not problems:
            return
        records = list(read_records(self.corpus_path(), fmt=p.format, required=[p.text_column]))
        passages = [str(r[p.text_column]) for r in records]
        ranked = await asyncio.to_thread(
            self.ranked, passages, [pr["question"] for pr in problems], ctx
        )
        keep = max(1, round(p.select * len(passages)))
        source = p.path or BUILTIN_CORPUS
        for i, score, q in ranked[:keep]:
            if p.min_score is not None and score < p.min_score:
                break
            fields = {"text": passages[i], "origin": "selected", "stage": 1, "corpus_index": i,
                      "title": records[i].get("title"), "score": round(score, 6),
                      "nearest_problem": problems[q]["id"]}  # fmt: skip
            record = source_record(fields, source=source, index=i)
            record[META].update(step=self.name, method=self.method)
            yield record
        for row in synthetic:
            ids = [pr["id"] for pr in row["problems"]]
            fields = {"origin": "synthetic", "stage": 2, "problem_ids": ids}
            yield derive(row, fields, step=self.name, method=self.method)
