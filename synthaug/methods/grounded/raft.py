"""RAFT (Zhang et al., 2024, arXiv 2403.10131): retrieval-augmented fine-tuning records.

The paper trains a model to answer from documents in its context while ignoring the
irrelevant ones. Each training record is a question, a set of documents and a chain-of-thought
answer written from the *oracle* document (the one the question came from): for a fraction
``P`` of the records the oracle is among the documents with ``k`` distractors, for the rest
there are only distractors (so the model also learns the domain). The answer reasons step by
step and copies the sentences it relies on verbatim between ``##begin_quote##`` and
``##end_quote##``, ending with ``<ANSWER>: ...``.

Steps here, after the ``ingest`` source: ``raft.distractors`` (whole input: for every chunk,
the ``k + 1`` most similar other chunks by BM25 over the chunk set, the chunk's neighbours in
its document left out as they overlap it), ``raft.questions`` (questions per chunk, as JSON),
``raft.answer`` (the chain-of-thought answer from the oracle chunk; every quote must occur in
the oracle chunk, whitespace normalised, recorded as ``verification`` of kind ``quotes`` that
``synthaug verify`` re-checks from the record alone; an answer with no quote or a quote not in
the oracle chunk is an error row, never a verified record) and ``raft.assemble`` (the
documents of the record: with probability ``p`` the oracle and ``k`` distractors, else
``k + 1`` distractors, shuffled; the paper's ``<DOCUMENT>...</DOCUMENT>`` instruction and the
training ``messages``).

Defaults: ``k = 3`` distractors (the reference implementation's ``--distractors``; the paper
also trains with 4) and ``p = 0.8`` (the paper finds 80 % oracle records a good share for
in-domain RAG; its reference code's per-chunk default is also 0.8).

Differences from the paper: distractors are retrieved (BM25 hard negatives over the user's
chunks; the reference code samples them at random); questions come as a JSON list, not lines;
``raft.answer`` can decode under a JSON schema whose quotes must be sentences of the oracle
chunk (``constrain: sentences``, for small models), the answer then written out in the paper's
format; quotes are verified, which the paper does not do.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...errors import InputError
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, derive
from ...retrieval import BM25Index
from ...verify.evidence import quotes_verdict
from ...verify.quotes import BEGIN, END, normalise
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render

PAPER = (
    "Zhang et al., 2024, RAFT: Adapting Language Model to Domain Specific RAG (arXiv 2403.10131)"
)
TAXONOMY = "synthesis / retrieval-augmented QA (oracle + distractors, verified quotes)"
STAGE = "instruction tuning (RAG)"
TAG = "<ANSWER>:"
DOC_FIELDS = ("chunk_id", "doc_id", "source", "text")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _position(chunk_id: str) -> tuple[str, int | None]:
    doc, _, number = str(chunk_id).rpartition(":")
    return (doc, int(number)) if number.isdigit() else (str(chunk_id), None)


def _neighbours(a: str, b: str) -> bool:
    """Whether two chunk ids are the same chunk or adjacent chunks of one document."""
    (doc_a, n_a), (doc_b, n_b) = _position(a), _position(b)
    if a == b:
        return True
    return doc_a == doc_b and n_a is not None and n_b is not None and abs(n_a - n_b) <= 1


class DistractorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(3, ge=1, description="distractor documents per record (the paper's k)")
    max_oracles: int | None = Field(
        None, ge=1, description="only the first N chunks get questions (all serve as distractors)"
    )


@register("raft.distractors", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Distractors(WholeStep):
    """For every chunk, the ``k + 1`` most similar other chunks (BM25), its neighbours excluded.

    Input columns: ``text``, ``chunk_id``, ``doc_id``, ``source``. Output columns:
    ``distractors`` (``[{chunk_id, doc_id, source, text}]``, most similar first; chunks sharing
    no word with it fill up in a seeded order)."""

    Params = DistractorParams
    params: DistractorParams
    reads = DOC_FIELDS
    writes = ("distractors",)

    def choose(self, chunks: list[dict[str, Any]], seed: int) -> list[list[int]]:
        """The distractor positions for each chunk."""
        wanted = self.params.k + 1
        ids = [str(c["chunk_id"]) for c in chunks]
        hits = BM25Index([str(c["text"]) for c in chunks]).search(
            [str(c["text"]) for c in chunks], min(len(chunks), wanted + 3)
        )
        chosen = []
        for i, found in enumerate(hits):
            picks = [h.index for h in found if not _neighbours(ids[i], ids[h.index])][:wanted]
            rest = [
                j for j in range(len(chunks)) if j not in picks and not _neighbours(ids[i], ids[j])
            ]
            random.Random(seed + i).shuffle(rest)
            chosen.append((picks + rest)[:wanted])
        return chosen

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        chunks = [row async for row in rows]
        chosen = self.choose(chunks, ctx.seed("distractors"))
        short = [c["chunk_id"] for c, picks in zip(chunks, chosen, strict=True)
                 if len(picks) < self.params.k + 1]  # fmt: skip
        if short:
            paths = dict.fromkeys(str(c["source"].get("path")) for c in chunks)
            raise InputError(
                ", ".join(paths),
                f"{len(chunks)} chunks leave chunk {short[0]} fewer than k + 1 = "
                f"{self.params.k + 1} distractors (not itself or its neighbours): give more "
                "documents, smaller chunks or a lower k",
            )
        for row, picks in list(zip(chunks, chosen, strict=True))[: self.params.max_oracles]:
            docs = [{f: chunks[j][f] for f in DOC_FIELDS} for j in picks]
            yield derive(row, {"distractors": docs}, step=self.name, method=self.method)


class QuestionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(5, ge=1, le=20, description="questions per chunk (reference code: 5)")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=16)
    max_chars: int = Field(200, ge=20, description="longest question")


@register("raft.questions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Questions(MapStep):
    """RAFT's questions: ``count`` short-answer questions per chunk, one row each.

    Input columns: ``text``. Output columns: ``question``."""

    Params = QuestionParams
    params: QuestionParams
    reads = ("text",)
    writes = ("question",)
    uses_llm = True

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "raft_questions.j2", document=row["text"], count=p.count)
        item = {"type": "string", "minLength": 8, "maxLength": p.max_chars}
        questions = {"type": "array", "items": item, "minItems": p.count, "maxItems": p.count}
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=object_schema({"questions": questions}), seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        reply = (await ctx.require_llm().complete(request)).text
        found = json_object(reply).get("questions")
        if not isinstance(found, list):
            raise RowError("malformed_output", f"no questions list in the reply: {reply[:200]!r}")
        questions = list(dict.fromkeys(" ".join(str(q).split()) for q in found if str(q).strip()))
        if not questions:
            raise RowError("malformed_output", f"no question in the reply: {reply[:200]!r}")
        return [self.derived(row, {"question": q}, ctx, [request], index=i, seed=seed)
                for i, q in enumerate(questions)]  # fmt: skip


def sentences(text: str, max_chars: int = 300) -> list[str]:
    """The sentences and lines of ``text`` (whitespace normalised, at most ``max_chars`` each,
    each a verbatim piece of it), in order, without repeats and very short pieces."""
    pieces = (normalise(p)[:max_chars].strip() for p in _SENTENCE_END.split(text))
    return list(dict.fromkeys(p for p in pieces if len(p) >= 12))


def cot_answer(reasoning: str, quotes: list[str], answer: str) -> str:
    """A chain-of-thought answer in the paper's format from its parts."""
    cited = "\n".join(f"{BEGIN} {quote} {END}" for quote in quotes)
    return f"{reasoning.strip()}\n{cited}\n{TAG} {answer.strip()}"


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    constrain: Literal["none", "sentences"] = Field(
        "none",
        description="none: the paper's free-text answer, its quotes then checked; sentences: "
        "JSON decoding whose quotes are sentences of the oracle chunk (small models)",
    )
    temperature: float = Field(0.0, ge=0, le=2)  # the reference code answers at temperature 0
    max_tokens: int = Field(384, ge=32)
    max_quotes: int = Field(3, ge=1)


@register("raft.answer", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Answer(ModelStep):
    """RAFT's chain-of-thought answer from the oracle chunk, its quotes verified against it.

    Input columns: ``question``, ``text`` (the oracle chunk). Output columns: ``cot_answer``,
    ``answer`` (after ``<ANSWER>:``) and ``verification`` (kind ``quotes``). No ``<ANSWER>:``
    or no quote: error ``format``; a quote not in the oracle chunk: error
    ``quote_not_in_oracle``."""

    Params = AnswerParams
    params: AnswerParams
    reads = ("question", "text")
    writes = ("cot_answer", "answer", "verification")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, seed = self.params, ctx.seed(row[META]["id"])
        if p.constrain == "none":
            prompt = render(
                __file__, "raft_answer.j2", question=row["question"], document=row["text"]
            )
            return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                         seed=seed)]  # fmt: skip
        choices = sentences(row["text"])
        if not choices:
            raise RowError("format", "the oracle chunk has no sentence to quote")
        quotes = {"type": "array", "items": {"enum": choices}, "minItems": 1,
                  "maxItems": p.max_quotes}  # fmt: skip
        schema = object_schema({"reasoning": {"type": "string", "maxLength": 600},
                                "quotes": quotes, "answer": {"type": "string", "maxLength": 200}})  # fmt: skip
        prompt = render(
            __file__, "raft_answer_json.j2", question=row["question"], document=row["text"]
        )
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     json_schema=schema, seed=seed)]  # fmt: skip

    def reply_text(self, text: str) -> str:
        """The answer in the paper's format (from the JSON reply when decoding was constrained)."""
        if self.params.constrain == "none":
            return text.strip()
        reply = json_object(text)
        parts = (reply.get("reasoning"), reply.get("quotes"), reply.get("answer"))
        if not (
            isinstance(parts[0], str) and isinstance(parts[1], list) and isinstance(parts[2], str)
        ):
            raise RowError("format", f"the reply is not a complete answer object: {text[:200]!r}")
        return cot_answer(parts[0], [str(q) for q in parts[1]], parts[2])

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        text = self.reply_text(replies[0].text)
        if TAG not in text:
            raise RowError("format", f"no {TAG} in the answer: {text[-200:]!r}")
        final = text.rsplit(TAG, 1)[1].strip()
        if not final:
            raise RowError("format", f"nothing after {TAG}")
        evidence = quotes_verdict(text, row["text"])
        if not evidence["quotes"]:
            raise RowError("format", f"no {BEGIN} ... {END} quote in the answer")
        return {"cot_answer": text, "answer": final, "verification": evidence}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        (record,) = await super().process(row, ctx)
        evidence = record["verification"]
        if not evidence["verified"]:
            shown = "; ".join(repr(q[:80]) for q in evidence["missing"])
            message = f"{len(evidence['missing'])} quote(s) not in the oracle chunk: {shown}"
            fields = {k: record[k] for k in self.writes}
            return [dropped(self, row, "quote_not_in_oracle", message[:500], 0, fields)]
        return [record]


class AssembleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    p: float = Field(
        0.8, ge=0, le=1, description="share of records whose documents hold the oracle"
    )


@register("raft.assemble", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Assemble(MapStep):
    """RAFT's training record: the oracle (with probability ``p``) and distractors, shuffled.

    Input columns: ``question``, ``cot_answer``, ``distractors`` and the oracle's ``text``,
    ``chunk_id``, ``doc_id``, ``source``. Output columns: ``documents`` (``[{chunk_id, doc_id,
    source, text}]`` in the order shown), ``oracle_in_context``, ``instruction`` (the paper's
    ``<DOCUMENT>...</DOCUMENT>`` lines, then the question) and ``messages``."""

    Params = AssembleParams
    params: AssembleParams
    reads = ("question", "cot_answer", "distractors", *DOC_FIELDS)
    writes = ("documents", "oracle_in_context", "instruction", "messages")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns | set(self.writes)) - {"distractors"}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        rng = random.Random(ctx.seed(row[META]["id"]))
        distractors = list(row["distractors"])
        k = len(distractors) - 1
        keep = rng.random() < self.params.p
        docs = [{f: row[f] for f in DOC_FIELDS}, *distractors[:k]] if keep else distractors
        rng.shuffle(docs)
        instruction = "".join(f"<DOCUMENT>{d['text']}</DOCUMENT>\n" for d in docs) + row["question"]
        messages = [{"role": "user", "content": instruction},
                    {"role": "assistant", "content": row["cot_answer"]}]  # fmt: skip
        fields = {"documents": docs, "oracle_in_context": keep, "instruction": instruction,
                  "messages": messages}  # fmt: skip
        record = derive(row, fields, step=self.name, method=self.method)
        record.pop("distractors")
        return [record]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"with_oracle" if row["oracle_in_context"] else "without_oracle": 1}
