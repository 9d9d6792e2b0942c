"""Knowledge-graph construction from documents after AutoKG (Zhu et al., 2023, "LLMs for
Knowledge Graph Construction and Reasoning: Recent Capabilities and Future Opportunities",
arXiv 2305.13168).

AutoKG builds a knowledge graph with cooperating LLM agents in role-play (CAMEL-style): an
assistant that extracts (subject, relation, object) triples from text and a domain-expert
user that checks and corrects them, with a web-searcher agent fetching missing knowledge.

Steps here, after the ``ingest`` source: ``kg.extract`` (the extractor: per chunk, triples as
JSON under a schema; each triple's subject and object must occur in the chunk, and each
grounded triple becomes one row with its evidence, the shortest stretch of the chunk naming
both, and its offsets in the chunk and in the page or document) and ``kg.review`` (the domain
expert: per triple, accept or reject, and the relation as it should be worded). The graph
itself (entity names normalised, networkx) is built, and saved on request, by ``kg.paths``.

Differences from the paper: the two roles are two steps, one request each, not a multi-turn
conversation; there is no web-searcher agent (the chunk is the only knowledge); the reviewer
corrects the relation only (entities stay copied from the chunk, so every triple keeps its
provenance). With ``constrain: spans`` (small models) the JSON schema lists the chunk's first
``max_triples`` entity phrases (``knowledge.entities.candidate_entities``) as subjects and
asks, for each, a relation to another of them: names are then always phrases of the chunk,
but every listed entity gets one fact, stated or not, and the reviewer must weed them out. The prompts are
written for synthaug: the paper's were not found, so they follow its description.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...knowledge.entities import candidate_entities, nearest_pair
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render

PAPER = (
    "Zhu et al., 2023, LLMs for Knowledge Graph Construction and Reasoning: Recent "
    "Capabilities and Future Opportunities (AutoKG, arXiv 2305.13168)"
)
TAXONOMY = "synthesis / knowledge-graph construction (extract, then review)"
STAGE = "instruction tuning (knowledge-grounded data)"
TRIPLE = ("subject", "relation", "object")


def triple_schema(max_triples: int) -> dict[str, Any]:
    """``{"triples": [{subject, relation, object}]}``, free names."""
    name = {"type": "string", "minLength": 1, "maxLength": 80}
    relation = {"type": "string", "minLength": 1, "maxLength": 60}
    item = object_schema({"subject": name, "relation": relation, "object": name})
    triples = {"type": "array", "items": item, "minItems": 1, "maxItems": max_triples}
    return object_schema({"triples": triples})


def spans_schema(entities: list[str]) -> dict[str, Any]:
    """``{"facts": {ENTITY: {relation, object}}}``: for each of ``entities`` (the subjects, in
    order) a relation to another of them, so every name is a phrase of the chunk and no
    triple relates an entity to itself."""
    relation = {"type": "string", "minLength": 1, "maxLength": 40}
    facts = {
        subject: object_schema({"relation": relation,
                                "object": {"enum": [e for e in entities if e != subject]}})
        for subject in entities
    }  # fmt: skip
    return object_schema({"facts": object_schema(facts)})


def replied_triples(reply: dict[str, Any]) -> list[Any]:
    """The triples of a reply in either schema (a list of dicts; not a list: malformed)."""
    facts = reply.get("facts")
    if isinstance(facts, dict):
        return [{"subject": s, **f} for s, f in facts.items() if isinstance(f, dict)]
    return reply.get("triples")  # type: ignore[return-value]


def ground(triple: dict[str, str], row: dict[str, Any]) -> dict[str, Any] | None:
    """The triple with its evidence in the chunk of ``row`` (None when an entity is absent):
    ``evidence`` (the text), ``evidence_span`` (offsets in the chunk) and ``triple_source``
    (the chunk's ``source`` with the offsets in the page or document)."""
    span = nearest_pair(triple["subject"], triple["object"], row["text"])
    if span is None:
        return None
    start, end = span
    source = dict(row.get("source") or {})
    if isinstance(source.get("start"), int):
        source.update(start=source["start"] + start, end=source["start"] + end)
    return {**triple, "evidence": row["text"][start:end],
            "evidence_span": {"start": start, "end": end}, "triple_source": source}  # fmt: skip


class ExtractParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_triples: int = Field(8, ge=1, le=50, description="most triples per chunk")
    constrain: Literal["none", "spans"] = Field(
        "none",
        description="none: free names, then checked against the chunk; spans: for each of "
        "the chunk's first max_triples entity phrases, the schema asks a relation to another "
        "(small models)",
    )
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)


@register("kg.extract", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Extract(MapStep):
    """AutoKG's extractor: per chunk, (subject, relation, object) triples grounded in it.

    Input columns: ``text``. Output columns (one row per grounded triple): ``subject``,
    ``relation``, ``object``, ``evidence``, ``evidence_span``, ``triple_source``. A triple
    naming something not in the chunk is an error row ``ungrounded_triple``; a reply with no
    triple, ``no_triples``."""

    Params = ExtractParams
    params: ExtractParams
    reads = ("text",)
    writes = (*TRIPLE, "evidence", "evidence_span", "triple_source")
    uses_llm = True

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        p = self.params
        entities = candidate_entities(row["text"], p.max_triples) if p.constrain == "spans" else []
        if p.constrain == "spans" and len(entities) < 2:
            raise RowError("no_triples", "fewer than two entity phrases in the chunk")
        prompt = render(__file__, "kg_extract.j2", document=row["text"],
                        max_triples=p.max_triples, candidates=entities)  # fmt: skip
        schema = spans_schema(entities) if entities else triple_schema(p.max_triples)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        reply = (await ctx.require_llm().complete(request)).text
        found = replied_triples(json_object(reply))
        if not isinstance(found, list):
            raise RowError("malformed_output", f"no triples list in the reply: {reply[:200]!r}")
        triples = [
            {k: " ".join(str(t[k]).split()) for k in TRIPLE}
            for t in found
            if isinstance(t, dict) and all(str(t.get(k, "")).strip() for k in TRIPLE)
        ]
        unique = list({tuple(t.values()): t for t in triples}.values())
        if not unique:
            raise RowError("no_triples", f"no complete triple in the reply: {reply[:200]!r}")
        out = []
        for index, triple in enumerate(unique):
            grounded = ground(triple, row)
            if grounded is None:
                message = f"({', '.join(triple.values())}) names something not in the chunk"
                out.append(dropped(self, row, "ungrounded_triple", message[:300], index, triple))
            else:
                out.append(self.derived(row, grounded, ctx, [request], index=index, seed=seed))
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"triples": 1}


class ReviewParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: str | None = None  # a recipe's named backend; None: the recipe's backend
    reword: bool = Field(True, description="the reviewer may reword the relation")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(64, ge=16)


@register("kg.review", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Review(MapStep):
    """AutoKG's domain expert: accepts a triple the passage states (its relation reworded if
    need be) or rejects it (error row ``rejected_triple``).

    Input columns: ``text``, ``subject``, ``relation``, ``object``. Output columns:
    ``relation`` (as reviewed) and ``review`` (``{verdict, relation_before, reviewer}``)."""

    Params = ReviewParams
    params: ReviewParams
    reads = ("text", *TRIPLE)
    writes = ("relation", "review")
    uses_llm = True
    backend_params = ("reviewer",)

    def request(self, row: dict[str, Any], seed: int) -> ChatRequest:
        p = self.params
        prompt = render(__file__, "kg_review.j2", document=row["text"], reword=p.reword,
                        **{k: row[k] for k in TRIPLE})  # fmt: skip
        fields: dict[str, Any] = {"verdict": {"enum": ["accept", "reject"]}}
        if p.reword:
            fields["relation"] = {"type": "string", "minLength": 1, "maxLength": 60}
        schema = object_schema(fields)
        return chat(("user", prompt), temperature=p.temperature, max_tokens=p.max_tokens,
                    json_schema=schema, seed=seed)  # fmt: skip

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        llm = ctx.require_llm(self.params.reviewer)
        reply = json_object((await llm.complete(request)).text)
        verdict = reply.get("verdict")
        relation = (
            " ".join(str(reply.get("relation", "")).split())
            if self.params.reword
            else (row["relation"])
        )
        if verdict not in ("accept", "reject") or not relation:
            raise RowError("malformed_judgement", f"no verdict (or relation): {reply!r}"[:300])
        if verdict == "reject":
            raise RowError("rejected_triple", f"the reviewer rejects ({row['subject']}, "
                           f"{row['relation']}, {row['object']})"[:300])  # fmt: skip
        review = {"verdict": verdict, "relation_before": row["relation"],
                  "reviewer": llm.backend.describe()}  # fmt: skip
        return [self.derived(row, {"relation": relation, "review": review}, ctx, [request],
                             llm=llm, seed=seed)]  # fmt: skip

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        changed = row["review"]["relation_before"] != row["relation"]
        return {"relation_reworded" if changed else "relation_kept": 1}
