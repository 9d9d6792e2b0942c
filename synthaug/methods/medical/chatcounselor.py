"""ChatCounselor (Liu et al., 2023, "ChatCounselor: A Large Language Models for Mental Health
Support", arXiv 2309.15461; code and evaluation ``EmoCareAI/ChatPsychiatrist``).

Psych8k is built from about 260 transcribed, real counselling interviews (English): the
transcripts are cleaned of sensitive information and segmented into short conversations (a
clip of up to ten rounds), and GPT-4, given each clip as context, writes a summary of the
important information and a query-answer pair (8,187 pairs; 100 more for testing). The
model is evaluated by GPT-4 on the Counselling Bench (229 queries) along seven counselling
skills (after Hill's helping skills): Information, Direct Guidance, Approval and
Reassurance, Restatement/Reflection/Listening, Interpretation, Self-disclosure, Obtain
Relevant Information — their definitions are in the repository's
``docs/Evaluation_definetion.md`` and are paraphrased in ``COMPETENCIES``.

``chatcounselor.sessions`` reads transcripts (client/counsellor turns) and cuts each into
clips of ``rounds`` rounds (a round: two turns); ``chatcounselor.pairs`` writes
``{summary, query, answer}`` per clip, the prompt naming the seven skills;
``chatcounselor.judge`` (a ``judge`` backend, default the recipe's) rates the answer 1-10 on
each skill, decoded as enums, and records the mean; with ``min_score`` the rows below are
error rows ``low_counselling_score`` (the paper only evaluates).

What differs: the generation and judge prompts are written for synthaug (neither is
released; the released definitions are used); the 1-10 scale follows FastChat's
single-answer grading that the authors' judge code builds on (not confirmed in the paper);
the default transcripts are 6 short session excerpts written for synthaug (the paper's
recordings are not public).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from statistics import mean
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import RowError, SourceStep, StepContext
from ...errors import InputError
from ...llm.types import ChatRequest, object_schema
from ...records import META, source_record
from ..common.judged import JsonJudge
from ..common.parsing import json_reply
from ..common.rows import packaged_rows
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .dialogue import json_request, squeezed, transcript
from .seeds import STAGE

PAPER = (
    "Liu et al., 2023, ChatCounselor: A Large Language Models for Mental Health Support "
    "(arXiv 2309.15461)"
)
SESSIONS = "counselling_sessions.jsonl"
ROLES = ("client", "counsellor")
COMPETENCIES = {
    "Information": "gives psychological or mental-health facts, resources or theory, without "
    "telling the client what to do",
    "Direct Guidance": "gives suggestions, directives or advice about what the client could do "
    "to change",
    "Approval and Reassurance": "gives emotional support, reassurance, encouragement or approval",
    "Restatement, Reflection and Listening": "shows understanding of what the client feels or "
    "means by rephrasing it, with reference to stated or implied feelings",
    "Interpretation": "goes beyond what the client has said: connects events, names patterns, "
    "defences or causes, offers new meanings",
    "Self-disclosure": "shares the counsellor's own relevant experience or feelings",
    "Obtain Relevant Information": "asks open questions that clarify feelings or explore the "
    "situation",
}


def clips(turns: list[dict[str, Any]], rounds: int) -> list[list[dict[str, Any]]]:
    """The transcript cut into consecutive clips of ``rounds`` rounds (2 turns each)."""
    size = 2 * rounds
    return [turns[start : start + size] for start in range(0, len(turns), size)]


class SessionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(
        None, description="JSONL with a transcript column (default: 6 shipped)"
    )
    count: int | None = Field(None, ge=1, description="the first COUNT sessions")
    rounds: int = Field(10, ge=1, description="rounds per clip (the authors: ten)")


@register("chatcounselor.sessions", taxonomy="I/O (counselling transcripts, segmented)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Sessions(SourceStep):
    """Counselling transcripts cut into clips of ``rounds`` rounds (default: 6 shipped).

    Output columns: ``clip`` (client/counsellor turns), ``topic``, ``session``, ``part``."""

    Params = SessionParams
    params: SessionParams
    writes = ("clip", "topic", "session", "part")
    seed_data: ClassVar[dict[str, str]] = {"path": SESSIONS}

    def load(self) -> list[dict[str, Any]]:
        rows = packaged_rows(self.params.path, SESSIONS, ["transcript"], self.params.count)
        for number, row in enumerate(rows, 1):
            turns = row["transcript"]
            bad = not isinstance(turns, list) or not turns or any(
                not isinstance(t, dict) or t.get("role") not in ROLES or not squeezed(t.get("content", ""))
                for t in turns
            )  # fmt: skip
            if bad:
                raise InputError(self.params.path or SESSIONS, "not a non-empty list of "
                                 "{role: client|counsellor, content} turns", line=number,
                                 field="transcript")  # fmt: skip
        return rows

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        index = 0
        for number, row in enumerate(self.load()):
            turns = [
                {"role": t["role"], "content": squeezed(t["content"])} for t in row["transcript"]
            ]
            for part, clip in enumerate(clips(turns, self.params.rounds)):
                fields = {"clip": clip, "topic": row.get("topic"),
                          "session": row.get("id", number), "part": part}  # fmt: skip
                yield source_record(fields, source=self.params.path or SESSIONS, index=index)
                index += 1


class PairParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field_chars: int | None = Field(
        None,
        ge=20,
        description="longest summary, query and answer (keeps a small model's JSON whole)",
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(768, ge=32)


@register("chatcounselor.pairs", taxonomy="augmentation / reformation (transcripts to instructions)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Pairs(ModelStep):
    """ChatCounselor's Psych8k pairs: a clip becomes a summary, a client query and an answer.

    Input columns: ``clip``. Output columns: ``summary``, ``query``, ``answer``, ``messages``."""

    Params = PairParams
    params: PairParams
    reads = ("clip",)
    writes = ("summary", "query", "answer", "messages")

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p, text = self.params, {"type": "string", "minLength": 5}
        if p.field_chars:
            text["maxLength"] = p.field_chars
        prompt = render(__file__, "chatcounselor_pair.j2", transcript=transcript(row["clip"]),
                        competencies=COMPETENCIES)  # fmt: skip
        properties = {"summary": text, "query": text, "answer": text}
        return [
            json_request(prompt, properties, p.temperature, p.max_tokens, ctx.seed(row[META]["id"]))
        ]

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        found = json_reply(replies[0])
        summary, query, answer = (
            squeezed(found.get(k, "")) for k in ("summary", "query", "answer")
        )
        if not query or not answer:
            raise RowError("malformed_output", f"no query and answer: {replies[0].text[:200]!r}")
        messages = [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
        return {"summary": summary, "query": query, "answer": answer, "messages": messages}


class JudgeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    judge: str | None = None  # a recipe's named backend; None: the recipe's backend
    min_score: float | None = Field(None, ge=1, le=10, description="error row below this mean")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(192, ge=32)


@register("chatcounselor.judge", taxonomy="curation / LLM judge (counselling skills)",
          stage=STAGE, paper=PAPER)  # fmt: skip
class Judge(JsonJudge):
    """ChatCounselor's evaluation: a judge rates the answer 1-10 on the seven counselling skills.

    Input columns: ``query``, ``answer``. Output columns: ``counselling_scores`` (skill ->
    score), ``counselling_score`` (their mean), ``counselling_judge``."""

    Params = JudgeParams
    params: JudgeParams
    reads = ("query", "answer")
    writes = ("counselling_scores", "counselling_score", "counselling_judge")

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        prompt = render(__file__, "chatcounselor_judge.j2", competencies=COMPETENCIES,
                        query=row["query"], answer=row["answer"],
                        keys=", ".join(f'"{k}"' for k in COMPETENCIES))  # fmt: skip
        properties = {k: {"enum": list(range(1, 11))} for k in COMPETENCIES}
        return self.schema_request(prompt, object_schema(properties), seed)

    def keep(self, row: dict[str, Any], reply: dict[str, Any], judge: str) -> dict[str, Any]:
        scores = {k: reply.get(k) for k in COMPETENCIES}
        if not all(isinstance(v, int) and 1 <= v <= 10 for v in scores.values()):
            raise RowError("malformed_judgement", f"not seven 1-10 scores: {reply!r}"[:300])
        score = round(mean(scores.values()), 3)
        if self.params.min_score is not None and score < self.params.min_score:
            raise RowError("low_counselling_score", f"mean score {score} < {self.params.min_score}")
        return {
            "counselling_scores": scores,
            "counselling_score": score,
            "counselling_judge": judge,
        }
