"""GraphRAG (Edge et al., 2024, "From Local to Global: A Graph RAG Approach to Query-Focused
Summarization", arXiv 2404.16130; code github.com/microsoft/graphrag): global questions over
a corpus, answered from summaries of the communities of its knowledge graph.

The paper indexes a corpus as an entity graph, partitions it into communities with
hierarchical Leiden, has an LLM write a report on each community, and answers a "global"
question by map-reduce: each community report gives key points scored 0-100 for the
question (map), and the best points, most important first, are summarised into one answer
that cites the reports it rests on as ``[Data: Reports (ids)]`` (reduce). Its evaluation
questions come from an activity-centred prompt: from a short description of the corpus, N
users, N tasks per user, N questions per (user, task) needing the whole corpus (N = 5).

Steps here, after triples with provenance (``kg.extract``/``kg.review`` or ``kg.triples``):

- ``graphrag.communities`` (whole input, no model): the graph (``knowledge.graph``) and its
  communities (``knowledge.communities``: graspologic's hierarchical Leiden, GraphRAG's
  ``max_cluster_size`` 10, seed 0xDEADBEEF and largest connected component); one row per
  community of the partition GraphRAG's global search reads at a ``level`` (its
  ``community_level``, default 2: each entity's deepest community of a level at most 2), with
  its entities, relations and source chunks; ``save`` writes the graph with every entity's
  community at each level;
- ``graphrag.report``: the community report (title, summary, 0-10 rating and its
  explanation, findings), decoded under a JSON schema;
- ``graphrag.corpus`` (whole input, no model): all reports in one row with a description of
  the corpus made of the reports' titles;
- ``graphrag.questions``: the activity-centred questions (users, then tasks, then questions);
- ``graphrag.answer``: map over every report (points with 0-100 scores, score 0 dropped),
  reduce over the ``max_points`` best; the answer's statements each cite reports, written as
  GraphRAG's references. ``verification`` (kind ``community_citations``) re-checks that every
  cited report is one the question was mapped over and whose analyst found a point for it;
  an answer citing none is an error row, ``uncited_answer``.

Differences from the paper: entity and relationship descriptions are the triples and their
evidence text (no LLM-written entity summaries, no claims); reports are written for the
communities of the chosen level only (GraphRAG writes one for every community of every level,
a parent's report from its children's when its context is too long); the reduce reply is JSON statements with report ids
(the paper's is free text with inline references, which a small model rarely writes), turned
into the paper's reference format; the reduce context is a number of points, not a token
budget; the map and reduce prompts follow the released ones in substance, reworded; the
question prompts are written for synthaug from the paper's description of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext, WholeStep
from ...errors import InputError
from ...knowledge.communities import (
    COMMUNITY_LEVEL,
    MAX_CLUSTER_SIZE,
    SEED,
    at_level,
    detect_communities,
)
from ...knowledge.graph import build_graph, hop_of, save_graph
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META, record_id
from ...verify.communities import reference
from ...verify.evidence import citations_verdict
from ..common.rows import dropped
from ..common.tasks import ModelStep
from ..registry import register
from ..templates import render
from .multihop import TRIPLE, hop_fields

PAPER = (
    "Edge et al., 2024, From Local to Global: A Graph RAG Approach to Query-Focused "
    "Summarization (GraphRAG, arXiv 2404.16130)"
)
TAXONOMY = "synthesis / knowledge-graph driven (global questions over graph communities)"
STAGE = "instruction tuning (knowledge-grounded data)"


def text(max_chars: int) -> dict[str, Any]:
    """A JSON-schema string of 1 to ``max_chars`` characters (a small model repeating itself
    stops at the bound instead of at ``max_tokens`` with broken JSON)."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars}


class CommunityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_cluster_size: int = Field(MAX_CLUSTER_SIZE, ge=2, description="split larger clusters")
    largest_component: bool = Field(True, description="cluster the largest component only")
    seed: int = Field(SEED, description="the Leiden seed (GraphRAG's 0xDEADBEEF)")
    level: int | None = Field(
        COMMUNITY_LEVEL, ge=0,
        description="GraphRAG's community_level: each entity's deepest community of a level "
        "at most this (0: the coarsest; null: the leaves)",
    )  # fmt: skip
    save: str | None = Field(
        None, description="write the graph (node-link JSON) with each entity's communities"
    )


@register("graphrag.communities", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Communities(WholeStep):
    """The knowledge graph of the triple rows, partitioned into communities (hierarchical
    Leiden), one row per community.

    Input columns: ``subject``, ``relation``, ``object`` (provenance kept per relation).
    Output columns: ``community`` (its id), ``level``, ``parent`` (the community it was split
    from, or None), ``entities`` (``{name, degree}``),
    ``relations`` (triples with evidence and source) and ``chunk_ids``."""

    Params = CommunityParams
    params: CommunityParams
    reads = TRIPLE
    writes = ("community", "level", "parent", "entities", "relations", "chunk_ids")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        triples = [hop_fields(row) async for row in rows]
        graph = build_graph(triples)
        p = self.params
        hierarchy = detect_communities(graph, p.max_cluster_size, p.seed, p.largest_component)
        communities = at_level(hierarchy, p.level)
        if not communities:
            raise InputError(
                "graphrag.communities",
                f"{len(triples)} triples make a graph with no edge: give more documents or triples",
            )
        if p.save:
            for community in hierarchy:
                for key in community.entities:
                    graph.nodes[key].setdefault("communities", {})[community.level] = community.id
            save_graph(graph, p.save)
        for community in communities:
            members = set(community.entities)
            edges = [e for e in graph.edges(members, keys=True) if e[1] in members]
            relations = [hop_of(graph, *edge) for edge in sorted(edges)]
            ids = [hop["triple_id"] for hop in relations]
            entities = [{"name": graph.nodes[key]["name"], "degree": graph.degree(key)}
                        for key in community.entities]  # fmt: skip
            chunks = sorted({str(h["chunk_id"]) for h in relations if h.get("chunk_id")})
            yield {"community": community.id, "level": community.level,
                   "parent": community.parent, "entities": entities,
                   "relations": relations, "chunk_ids": chunks,
                   META: {"id": record_id(self.name, community.id, *ids), "parents": ids,
                          "step": self.name, "method": self.method}}  # fmt: skip


class ReportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_findings: int = Field(10, ge=1, le=10, description="findings per report (paper: 5-10)")
    max_chars: int = Field(1000, ge=20, description="longest summary or explanation")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=64)


@register("graphrag.report", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Report(ModelStep):
    """GraphRAG's community report: title, summary, importance rating and its explanation, and
    findings, from the community's entities and relations.

    Input columns: ``community``, ``entities``, ``relations``. Output column: ``report``."""

    Params = ReportParams
    params: ReportParams
    reads = ("community", "entities", "relations")
    writes = ("report",)

    def requests(self, row: dict[str, Any], ctx: StepContext) -> list[ChatRequest]:
        p = self.params
        prompt = render(__file__, "graphrag_report.j2", entities=row["entities"],
                        relations=row["relations"], max_findings=p.max_findings)  # fmt: skip
        field = text(p.max_chars)
        finding = object_schema({"summary": field, "explanation": field})
        schema = object_schema({
            "title": text(120), "summary": field,
            "rating": {"type": "number", "minimum": 0, "maximum": 10},
            "rating_explanation": field,
            "findings": {"type": "array", "items": finding, "minItems": 1,
                         "maxItems": p.max_findings},
        })  # fmt: skip
        return [chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                     json_schema=schema, seed=ctx.seed(row[META]["id"]))]  # fmt: skip

    def parse(self, row: dict[str, Any], replies: list[Any]) -> dict[str, Any]:
        report = json_object(replies[0].text)
        if not report.get("title") or not report.get("findings"):
            raise RowError("malformed_output", f"not a report: {replies[0].text[:200]!r}")
        return {"report": report}


@register("graphrag.corpus", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Corpus(WholeStep):
    """All community reports as one row, with a short description of the corpus (the reports'
    titles), for the question generator.

    Input columns: ``community``, ``report``, ``chunk_ids``. Output columns: ``reports``
    (``{id, title, summary, rating, findings, chunk_ids}``, by id) and ``description``."""

    reads = ("community", "report", "chunk_ids")
    writes = ("reports", "description")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return set(self.writes)

    async def transform(
        self, rows: AsyncIterator[dict[str, Any]], ctx: StepContext
    ) -> AsyncIterator[dict[str, Any]]:
        reports, parents = [], []
        async for row in rows:
            report = row["report"]
            reports.append({"id": row["community"], "title": report["title"],
                            "summary": report["summary"], "rating": report["rating"],
                            "findings": report["findings"], "chunk_ids": row["chunk_ids"]})  # fmt: skip
            parents.append(row[META]["id"])
        if not reports:
            raise InputError("graphrag.corpus", "no community report to describe the corpus by")
        reports.sort(key=lambda r: r["id"])
        titles = "; ".join(r["title"] for r in sorted(reports, key=lambda r: -r["rating"]))
        description = f"A collection of documents whose main topics are: {titles}."
        yield {"reports": reports, "description": description,
               META: {"id": record_id(self.name, *sorted(parents)), "parents": sorted(parents),
                      "step": self.name, "method": self.method}}  # fmt: skip


class QuestionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: int = Field(5, ge=1, le=20, description="users of the corpus (paper: 5)")
    tasks: int = Field(5, ge=1, le=20, description="tasks per user (paper: 5)")
    questions: int = Field(5, ge=1, le=20, description="questions per user and task (paper: 5)")
    max_chars: int = Field(300, ge=20, description="longest user, task or question")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)


def list_schema(key: str, count: int, item: dict[str, Any]) -> dict[str, Any]:
    return object_schema({key: {"type": "array", "items": item, "minItems": count,
                                "maxItems": count}})  # fmt: skip


@register("graphrag.questions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Questions(MapStep):
    """GraphRAG's activity-centred global questions: from the corpus description, ``users``
    users, ``tasks`` tasks per user and ``questions`` questions per (user, task).

    Input columns: ``description`` (and ``reports``, carried on). Output columns: ``user``,
    ``task``, ``question``; one row per question."""

    Params = QuestionParams
    params: QuestionParams
    uses_llm = True
    reads = ("description",)
    writes = ("user", "task", "question")

    def ask(self, template: str, key: str, count: int, item: dict[str, Any], seed: int,
            **values: Any) -> ChatRequest:  # fmt: skip
        prompt = render(__file__, template, count=count, **values)
        p = self.params
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=list_schema(key, count, item), seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, p, base = ctx.require_llm(), self.params, row[META]["id"]
        description = row["description"]

        async def listed(request: ChatRequest, key: str) -> list[Any]:
            items = json_object((await llm.complete(request)).text).get(key)
            if not isinstance(items, list) or not items:
                raise RowError("malformed_output", f"no {key} in the reply")
            return items

        item = text(p.max_chars)
        user_item = object_schema({"user": item, "description": item})
        first = self.ask("graphrag_users.j2", "users", p.users, user_item, ctx.seed(base),
                         description=description)  # fmt: skip
        users = await listed(first, "users")
        task_requests = [
            self.ask("graphrag_tasks.j2", "tasks", p.tasks, item, ctx.seed(base, u),
                     description=description, user=user["user"],
                     user_description=user["description"])
            for u, user in enumerate(users)
        ]  # fmt: skip
        tasks = await asyncio.gather(*(listed(r, "tasks") for r in task_requests))
        pairs = [(user, task) for user, some in zip(users, tasks, strict=True) for task in some]
        question_requests = [
            self.ask("graphrag_questions.j2", "questions", p.questions, item,
                     ctx.seed(base, user["user"], task), description=description,
                     user=user["user"], user_description=user["description"], task=task)
            for user, task in pairs
        ]  # fmt: skip
        questions = await asyncio.gather(*(listed(r, "questions") for r in question_requests))
        requests = [first, *task_requests, *question_requests]
        out = []
        for (user, task), asked in zip(pairs, questions, strict=True):
            for question in asked:
                fields = {
                    "user": user["user"],
                    "task": task,
                    "question": " ".join(question.split()),
                }
                out.append(self.derived(row, fields, ctx, requests, index=len(out)))
        return out


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_points: int = Field(20, ge=1, description="best map points the reduce step reads")
    max_statements: int = Field(5, ge=1, le=20, description="statements in an answer")
    max_chars: int = Field(500, ge=20, description="longest key point or statement")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)


@register("graphrag.answer", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Answer(MapStep):
    """GraphRAG's global search: key points with 0-100 scores from every community report
    (map), the best ``max_points`` summarised into statements citing their reports (reduce),
    checked (``community_citations``).

    Input columns: ``question``, ``reports``. Output columns: ``answer``, ``messages``,
    ``communities`` (the cited reports: ``{id, title, chunk_ids}``) and ``verification``;
    ``reports`` is not passed on."""

    Params = AnswerParams
    params: AnswerParams
    uses_llm = True
    reads = ("question", "reports")
    writes = ("answer", "messages", "communities", "verification")

    def output_columns(self, input_columns: set[str]) -> set[str]:
        return (input_columns - {"reports", "description"}) | set(self.writes)

    def map_request(self, question: str, report: dict[str, Any], seed: int) -> ChatRequest:
        point = object_schema({"description": text(self.params.max_chars),
                               "score": {"type": "integer", "minimum": 0, "maximum": 100}})  # fmt: skip
        schema = list_schema("points", 1, point)
        schema["properties"]["points"]["maxItems"] = 5
        prompt = render(__file__, "graphrag_map.j2", question=question, report=report)
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, json_schema=schema, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        llm, p, question = ctx.require_llm(), self.params, row["question"]
        reports = {r["id"]: r for r in row["reports"]}
        seed = row[META]["id"]
        requests = [self.map_request(question, r, ctx.seed(seed, i)) for i, r in reports.items()]
        replies = await asyncio.gather(*(llm.complete(r) for r in requests))
        points = [
            {"community": community, "description": str(point.get("description", "")),
             "score": point.get("score")}
            for community, reply in zip(reports, replies, strict=True)
            for point in json_object(reply.text).get("points") or []
            if isinstance(point, dict) and isinstance(point.get("score"), int) and point["score"] > 0
        ]  # fmt: skip
        points.sort(key=lambda point: -point["score"])
        points = points[: p.max_points]
        relevant = sorted({point["community"] for point in points})
        kept = {k: row[k] for k in row if k not in ("reports", "description")}
        if not relevant:
            message = f"no report gave a point for {question[:200]!r}"
            return [dropped(self, kept, "no_relevant_reports", message, 0)]
        cite = {"type": "array", "items": {"enum": relevant}, "minItems": 1, "maxItems": 5}
        statement = object_schema({"text": text(p.max_chars), "reports": cite})
        schema = object_schema({"statements": {"type": "array", "items": statement,
                                               "minItems": 1, "maxItems": p.max_statements}})  # fmt: skip
        prompt = render(__file__, "graphrag_reduce.j2", question=question, points=points)
        reduce = chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                      json_schema=schema, seed=ctx.seed(seed, "reduce"))  # fmt: skip
        requests.append(reduce)
        statements = json_object((await llm.complete(reduce)).text).get("statements") or []
        answer = " ".join(
            f"{' '.join(str(s.get('text', '')).split())} {reference(sorted(set(s['reports'])))}"
            if s.get("reports") else " ".join(str(s.get("text", "")).split())
            for s in statements if isinstance(s, dict)
        )  # fmt: skip
        verification = citations_verdict(answer, sorted(reports), relevant)
        cited = [{"id": i, "title": reports[i]["title"], "chunk_ids": reports[i]["chunk_ids"]}
                 for i in verification["cited"] if i in reports]  # fmt: skip
        fields = {"answer": answer, "communities": cited, "verification": verification,
                  "messages": [{"role": "user", "content": question},
                               {"role": "assistant", "content": answer}]}  # fmt: skip
        if not verification["verified"]:
            message = f"the answer cites no report it may: {answer[:200]!r}"
            return [dropped(self, kept, "uncited_answer", message, 0, fields)]
        return [self.derived(kept, fields, ctx, requests)]
