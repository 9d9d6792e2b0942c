"""RankRAG (Yu et al., 2024, "RankRAG: Unifying Context Ranking with Retrieval-Augmented
Generation in LLMs", arXiv 2407.02485): instruction data that teaches one model to rank
contexts and to answer from them.

The paper's stage-II blend mixes, beside general instructions and context-rich QA:
*retrieval-augmented QA* (a question, its gold context among hard negatives retrieved by BM25,
the answer), *context ranking* (MS MARCO pairs, "For the question ..., access whether the
passage is relevant to the question." answered ``True`` or ``False``) and
*retrieval-augmented ranking* (a question and several contexts; the answer names every
relevant one). A small share of ranking data is enough for the model to rank well.

``rankrag.assemble`` turns each question row of the ``raft`` steps (a question from its oracle
chunk, BM25 hard negatives from ``raft.distractors``, the answer from ``raft.answer``) into:
one ``rag_qa`` record (gold and negatives shuffled as numbered passages, then the question;
the answer), one ``context_ranking`` record per passage (``True`` for the oracle chunk,
``False`` for a negative: labels from the oracle, no model) and one ``rag_ranking`` record
(the numbered passages; the answer names the oracle's). Every record keeps ``task``, the
question's ``chunk_id`` and the ``passages`` shown with their chunk ids and sources.

Differences from the paper: one chunk set feeds all three kinds (the paper draws each from
its own datasets: MS MARCO, SQuAD, WebQuestions, ...); the relevant passage is the one the
question was written from, so a negative that also answers it would be mislabelled; the
instruction wording is written from the paper's description (its templates were not at hand).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, StepContext
from ...records import META, derive
from ..registry import register

PAPER = (
    "Yu et al., 2024, RankRAG: Unifying Context Ranking with Retrieval-Augmented Generation "
    "in LLMs (arXiv 2407.02485)"
)
TAXONOMY = "synthesis / retrieval-augmented instruction data (ranking + generation)"
STAGE = "instruction tuning (RAG)"
DOC_FIELDS = ("chunk_id", "doc_id", "source", "text")
RELEVANCE = "For the question {question}, access whether the passage is relevant to the question."
FIND_ALL = "For the question {question}, find all the passages from the context that are relevant."


def numbered(passages: list[dict[str, Any]]) -> str:
    """The passages as ``Passage i: text`` lines (1-based)."""
    return "\n\n".join(f"Passage {i}: {p['text']}" for i, p in enumerate(passages, start=1))


def chat_turns(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


class AssembleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    negatives: int = Field(3, ge=1, description="hard negatives shown with the gold passage")
    ranking: bool = Field(True, description="also the pointwise context-ranking records")


@register("rankrag.assemble", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Assemble(MapStep):
    """RankRAG's records for one question: retrieval-augmented QA, context ranking (one per
    passage) and retrieval-augmented ranking, relevance labels from the oracle chunk.

    Input columns: ``question``, ``answer``, ``distractors`` and the oracle's ``text``,
    ``chunk_id``, ``doc_id``, ``source``. Output columns: ``task`` (``rag_qa``,
    ``context_ranking`` or ``rag_ranking``), ``passages`` (``[{chunk_id, doc_id, source,
    text, relevant}]``), ``label`` and ``messages``."""

    Params = AssembleParams
    params: AssembleParams
    reads = ("question", "answer", "distractors", *DOC_FIELDS)
    writes = ("task", "passages", "label", "messages")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - {"distractors"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        question = row["question"]
        gold = {**{f: row[f] for f in DOC_FIELDS}, "relevant": True}
        negatives = [{**{f: d[f] for f in DOC_FIELDS}, "relevant": False}
                     for d in row["distractors"][: self.params.negatives]]  # fmt: skip
        passages = [gold, *negatives]
        random.Random(ctx.seed(row[META]["id"])).shuffle(passages)
        relevant = [i for i, p in enumerate(passages, start=1) if p["relevant"]]
        context = numbered(passages)
        kinds: list[tuple[str, list[dict[str, Any]], str, str]] = [
            ("rag_qa", passages, row["answer"], f"{context}\n\n{question}"),
            ("rag_ranking", passages, ", ".join(f"Passage {i}" for i in relevant),
             f"{context}\n\n{FIND_ALL.format(question=question)}"),
        ]  # fmt: skip
        if self.params.ranking:
            for passage in passages:
                user = f"Passage: {passage['text']}\n\n{RELEVANCE.format(question=question)}"
                kinds.append(("context_ranking", [passage], str(passage["relevant"]), user))
        out = []
        for index, (task, shown, label, user) in enumerate(kinds):
            fields = {"task": task, "passages": shown, "label": label,
                      "messages": chat_turns(user, label)}  # fmt: skip
            record = derive(row, fields, step=self.name, method=self.method, index=index)
            record.pop("distractors")
            out.append(record)
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["task"]: 1}
